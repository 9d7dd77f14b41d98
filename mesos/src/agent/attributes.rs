//! Agent attributes (`--attributes=rack:r1;zone:a;level:2`), as Mesos' `Attributes::parse`
//! reads them: a number is a SCALAR, `[a-b,...]` RANGES, `{a,b}` a SET, anything else TEXT.

use serde_json::{json, Map, Value};

use crate::resources::{format_ranges, Range, Resources};

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Scalar(f64),
    Ranges(Vec<Range>),
    Set(Vec<String>),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

/// Parses the flag text. Items are `;`-separated `name:value` pairs.
pub fn parse(text: &str) -> Result<Vec<Attribute>, String> {
    let mut out: Vec<Attribute> = Vec::new();
    for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| format!("attribute '{item}' is not name:value"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(format!("attribute '{item}' has no name"));
        }
        if out.iter().any(|a| a.name == name) {
            return Err(format!("attribute '{name}' is given twice"));
        }
        out.push(Attribute {
            name: name.to_string(),
            value: parse_value(value).map_err(|e| format!("attribute '{name}': {e}"))?,
        });
    }
    Ok(out)
}

fn parse_value(v: &str) -> Result<AttributeValue, String> {
    if v.starts_with('[') {
        // The resources parser owns the range syntax; reuse it through a throwaway name.
        let r = Resources::parse(&format!("r:{v}")).map_err(|e| e.0)?;
        return Ok(AttributeValue::Ranges(r.ranges("r").to_vec()));
    }
    if let Some(inner) = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(AttributeValue::Set(items));
    }
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(AttributeValue::Scalar(n)),
        _ => Ok(AttributeValue::Text(v.to_string())),
    }
}

/// The v1 `Attribute` JSON objects (REGISTER's `agent_info.attributes`).
pub fn to_json(attrs: &[Attribute]) -> Value {
    Value::Array(
        attrs
            .iter()
            .map(|a| match &a.value {
                AttributeValue::Scalar(n) => {
                    json!({"name": a.name, "type": "SCALAR", "scalar": {"value": n}})
                }
                AttributeValue::Ranges(r) => {
                    let range: Vec<Value> = r
                        .iter()
                        .map(|(b, e)| json!({"begin": b, "end": e}))
                        .collect();
                    json!({"name": a.name, "type": "RANGES", "ranges": {"range": range}})
                }
                AttributeValue::Set(items) => {
                    json!({"name": a.name, "type": "SET", "set": {"item": items}})
                }
                AttributeValue::Text(t) => {
                    json!({"name": a.name, "type": "TEXT", "text": {"value": t}})
                }
            })
            .collect(),
    )
}

/// The operator endpoints' object: `{"rack": "r1", "level": 2.0, "ports": "[1-2]"}`.
pub fn to_state_object(attrs: &[Attribute]) -> Value {
    let mut o = Map::new();
    for a in attrs {
        let v = match &a.value {
            AttributeValue::Scalar(n) => json!(n),
            AttributeValue::Ranges(r) => json!(format_ranges(r)),
            AttributeValue::Set(items) => json!(format!("{{{}}}", items.join(","))),
            AttributeValue::Text(t) => json!(t),
        };
        o.insert(a.name.clone(), v);
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_recognised() {
        let a = parse("rack:r1; zone:a;level:2;ports:[1-5,7-9];tags:{x, y}").unwrap();
        assert_eq!(a[0].value, AttributeValue::Text("r1".into()));
        assert_eq!(a[2].value, AttributeValue::Scalar(2.0));
        assert_eq!(a[3].value, AttributeValue::Ranges(vec![(1, 5), (7, 9)]));
        assert_eq!(
            a[4].value,
            AttributeValue::Set(vec!["x".into(), "y".into()])
        );
        let j = to_json(&a);
        assert_eq!(
            j[0],
            json!({"name": "rack", "type": "TEXT", "text": {"value": "r1"}})
        );
        assert_eq!(
            j[2],
            json!({"name": "level", "type": "SCALAR", "scalar": {"value": 2.0}})
        );
        assert_eq!(j[3]["ranges"]["range"][1], json!({"begin": 7, "end": 9}));
        assert_eq!(j[4]["set"]["item"], json!(["x", "y"]));
        let s = to_state_object(&a);
        assert_eq!(s["rack"], "r1");
        assert_eq!(s["level"], 2.0);
        assert_eq!(s["ports"], "[1-5, 7-9]");
        assert_eq!(s["tags"], "{x,y}");
    }

    #[test]
    fn bad_attributes_say_why() {
        assert!(parse("rack").unwrap_err().contains("not name:value"));
        assert!(parse(":x").unwrap_err().contains("no name"));
        assert!(parse("a:1;a:2").unwrap_err().contains("twice"));
        assert!(parse("p:[5-1]").unwrap_err().contains("ends before"));
        assert!(parse("").unwrap().is_empty());
    }
}
