//! Placement constraints, as Marathon 1.x reads, validates and checks them.
//!
//! Sources (mesosphere/marathon, tag v1.10.26):
//! - `src/main/scala/mesosphere/mesos/Constraints.scala`: how a field is read from an offer or a
//!   placed instance (`readerForField`, `getValueString`) and when each operator is met
//!   (`ConstraintsChecker`);
//! - `src/main/scala/mesosphere/marathon/api/v2/validation/SchedulingValidation.scala`: the app
//!   form `[field, operator, value?]` and its messages (`complyWithAppConstraintRules`);
//! - `src/main/scala/mesosphere/marathon/api/v2/Validation.scala`: the 422 body
//!   (`{"message":"Object is not valid","details":[{"path":..,"errors":[..]}]}`, paths such as
//!   `/constraints(0)`);
//! - `docs/docs/constraints.md`.
//!
//! The GROUP_BY rule is the one every released Marathon 1.x has: an offer whose value has no
//! instance yet is always acceptable; a value that already has instances is acceptable only
//! once at least `value` distinct values are in use and its count is the smallest. (An
//! unreleased change on Marathon's master, #7206, replaced it with per-group quotas.)
//!
//! Everything here is pure: no clock, no randomness, and the same inputs always give the same
//! answer.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde_json::{json, Value};

/// A constraint operator. Marathon upper-cases what the client sent before looking it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    Unique,
    Cluster,
    GroupBy,
    Like,
    Unlike,
    MaxPer,
    Is,
}

impl Operator {
    pub const ALL: [Operator; 7] = [
        Operator::Unique,
        Operator::Cluster,
        Operator::GroupBy,
        Operator::Like,
        Operator::Unlike,
        Operator::MaxPer,
        Operator::Is,
    ];

    /// The name in Marathon's JSON (`GROUP_BY`, `MAX_PER`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster => "CLUSTER",
            Operator::GroupBy => "GROUP_BY",
            Operator::Like => "LIKE",
            Operator::Unlike => "UNLIKE",
            Operator::MaxPer => "MAX_PER",
            Operator::Is => "IS",
        }
    }

    /// Looks a name up case-insensitively, as Marathon does (`op.toUpperCase`).
    pub fn from_name(name: &str) -> Option<Operator> {
        let upper = name.to_uppercase();
        Operator::ALL.into_iter().find(|op| op.as_str() == upper)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One constraint: `field` is `hostname` (or `@hostname`), `@region`, `@zone` or the name of an
/// agent attribute. `value` is kept exactly as the client sent it (`Some("")` stays, so it
/// round-trips); where Marathon reads the protobuf's `getValue`, `None` and `Some("")` mean the
/// same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub field: String,
    pub operator: Operator,
    pub value: Option<String>,
}

impl Constraint {
    /// The app form: `[field, operator]` or `[field, operator, value]`.
    pub fn to_json(&self) -> Value {
        match &self.value {
            Some(v) => json!([self.field, self.operator.as_str(), v]),
            None => json!([self.field, self.operator.as_str()]),
        }
    }

    /// The value as Marathon's checker sees it (the protobuf's `getValue`: absent is "").
    fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// One entry of Marathon's 422 `details` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub errors: Vec<String>,
}

impl ValidationError {
    /// `{"path": "/constraints(0)", "errors": ["..."]}`
    pub fn to_json(&self) -> Value {
        json!({ "path": self.path, "errors": self.errors })
    }
}

// Marathon's messages (SchedulingValidationMessages and complyWithAppConstraintRules).
pub const MSG_FIELD_COUNT: &str = "Each constraint must have either 2 or 3 fields";
pub const MSG_ILLEGAL: &str = "illegal constraint specification";
pub const MSG_OPERATOR_INVALID: &str =
    "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS";
pub const MSG_UNIQUE_NO_VALUE: &str = "UNIQUE does not accept a value";
pub const MSG_GROUP_BY_INT: &str = "GROUP BY must define an integer value or else no value at all";
pub const MSG_MAX_PER_INT: &str = "MAX_PER requires an integer value";
pub const MSG_LIKE_REGEX: &str = "LIKE and UNLIKE require a non-empty, regular expression value";
pub const MSG_INVALID_REGEX: &str = "is not a valid regular expression";
pub const MSG_IS_TEXT: &str = "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)";
// play-json's messages for a body of the wrong JSON type (Marathon answers these as
// "Invalid JSON" rather than "Object is not valid").
pub const MSG_EXPECTED_ARRAY: &str = "error.expected.jsarray";
pub const MSG_EXPECTED_STRING: &str = "error.expected.jsstring";

/// Parses an app's `constraints` (absent or `null` is no constraints).
///
/// As Marathon, JSON type errors (`error.expected.jsarray` / `error.expected.jsstring`, at paths
/// like `/constraints(0)(1)`) are reported alone, since play-json refuses the body before the
/// validators run; otherwise every constraint is validated and every failure reported, one
/// entry per path.
pub fn parse(v: &Value) -> Result<Vec<Constraint>, Vec<ValidationError>> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(vec![error("/constraints", MSG_EXPECTED_ARRAY)]),
    };

    let mut type_errors = Vec::new();
    let mut rows: Vec<Vec<&str>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(parts) = item.as_array() else {
            type_errors.push(error(&format!("/constraints({i})"), MSG_EXPECTED_ARRAY));
            continue;
        };
        let mut row = Vec::with_capacity(parts.len());
        for (j, part) in parts.iter().enumerate() {
            match part.as_str() {
                Some(s) => row.push(s),
                None => type_errors.push(error(
                    &format!("/constraints({i})({j})"),
                    MSG_EXPECTED_STRING,
                )),
            }
        }
        rows.push(row);
    }
    if !type_errors.is_empty() {
        return Err(type_errors);
    }

    let mut out = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match validate_row(row) {
            Ok(c) => out.push(c),
            Err(msg) => errors.push(error(&format!("/constraints({i})"), msg)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn error(path: &str, msg: &str) -> ValidationError {
    ValidationError {
        path: path.to_string(),
        errors: vec![msg.to_string()],
    }
}

/// `complyWithAppConstraintRules`, then `complyWithConstraintRules`, in Marathon's order.
fn validate_row(row: &[&str]) -> Result<Constraint, &'static str> {
    if row.len() < 2 || row.len() > 3 {
        return Err(MSG_FIELD_COUNT);
    }
    let (field, op, value) = (row[0], row[1], row.get(2).map(|s| s.to_string()));
    if field.is_empty() {
        return Err(MSG_ILLEGAL);
    }
    let operator = Operator::from_name(op).ok_or(MSG_OPERATOR_INVALID)?;
    let v = value.as_deref();
    match operator {
        // Marathon 1.x refuses any value for UNIQUE; Marathon 0.x (the seeds' nginx.json sends
        // `["hostname", "UNIQUE", ""]`) accepted an empty one, and so do we.
        Operator::Unique if v.is_some_and(|s| !s.is_empty()) => return Err(MSG_UNIQUE_NO_VALUE),
        // The value is optional for CLUSTER.
        Operator::Unique | Operator::Cluster => {}
        Operator::GroupBy => {
            if v.is_some_and(|s| java_parse_int(s).is_none()) {
                return Err(MSG_GROUP_BY_INT);
            }
        }
        Operator::MaxPer => {
            if v.and_then(java_parse_int).is_none() {
                return Err(MSG_MAX_PER_INT);
            }
        }
        Operator::Like | Operator::Unlike => match v {
            None => return Err(MSG_LIKE_REGEX),
            // Marathon compiles the pattern but accepts "" here; an empty pattern then never
            // matches at placement time (checkLike / checkUnlike).
            Some(p) => {
                if full_match_regex(p).is_none() {
                    return Err(MSG_INVALID_REGEX);
                }
            }
        },
        // `c.value.getOrElse("")` against `^[a-zA-Z0-9_/.-]*$`: IS without a value passes
        // validation in Marathon (and then matches only an attribute whose value is "").
        Operator::Is => {
            if !v
                .unwrap_or("")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'.' | b'-'))
            {
                return Err(MSG_IS_TEXT);
            }
        }
    }
    Ok(Constraint {
        field: field.to_string(),
        operator,
        value,
    })
}

/// `java.lang.Integer.parseInt` (what Scala's `toInt` calls): an optional sign, then ASCII
/// digits, within 32 bits. Rust's `i32::from_str` accepts exactly the same texts.
fn java_parse_int(s: &str) -> Option<i32> {
    s.parse().ok()
}

/// Compiles `pattern` for Java's `String.matches` (the whole value must match).
///
/// The pattern is first compiled alone, so a text such as `a)(b` that only becomes valid once
/// wrapped is refused. Differences from `java.util.regex`: look-around, back-references and
/// possessive quantifiers are refused as invalid, and `\d`, `\w`, `\s` are Unicode-aware.
fn full_match_regex(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()?;
    Regex::new(&format!(r"\A(?:{pattern})\z")).ok()
}

/// The array form `[["hostname","UNIQUE"],["rack_id","GROUP_BY","3"]]`.
pub fn to_json(constraints: &[Constraint]) -> Value {
    Value::Array(constraints.iter().map(Constraint::to_json).collect())
}

/// Where an instance is (or would be) placed: the agent's hostname and its attributes, each
/// formatted as Marathon compares them. The fault domain, when the offer has one, is kept
/// under the pseudo-attributes `@region` and `@zone` (Marathon's `regionField`, `zoneField`),
/// which no real attribute can shadow since Marathon never reads attributes by those names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
}

const REGION_FIELD: &str = "@region";
const ZONE_FIELD: &str = "@zone";

impl Placement {
    /// Reads a v1 `Offer` (or `AgentInfo`, which has the same `hostname`, `attributes` and
    /// `domain`). Unknown attribute types and malformed entries are skipped; when an attribute
    /// name repeats, the first wins (Marathon's `find`).
    pub fn from_offer(offer: &Value) -> Placement {
        let hostname = offer
            .get("hostname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut attributes = BTreeMap::new();
        for attr in offer
            .get("attributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = attr.get("name").and_then(Value::as_str) else {
                continue;
            };
            if name == REGION_FIELD || name == ZONE_FIELD || attributes.contains_key(name) {
                continue;
            }
            if let Some(text) = attribute_value_string(attr) {
                attributes.insert(name.to_string(), text);
            }
        }
        for (key, pointer) in [
            (REGION_FIELD, "/domain/fault_domain/region/name"),
            (ZONE_FIELD, "/domain/fault_domain/zone/name"),
        ] {
            if let Some(v) = offer.pointer(pointer).and_then(Value::as_str) {
                attributes.insert(key.to_string(), v.to_string());
            }
        }
        Placement {
            hostname,
            attributes,
        }
    }

    /// The value of a constraint field here: `hostname` and `@hostname` read the hostname,
    /// anything else an attribute (`@region` and `@zone` included, see above).
    pub fn field(&self, field: &str) -> Option<&str> {
        match field {
            "hostname" | "@hostname" => Some(&self.hostname),
            _ => self.attributes.get(field).map(String::as_str),
        }
    }
}

/// Marathon's `getValueString`: TEXT as is, SCALAR as `DecimalFormat("0.###")`, RANGES as
/// `[b-e,...]` sorted by begin (not merged), SET as `{a,b}` sorted.
fn attribute_value_string(attr: &Value) -> Option<String> {
    let ty = match attr.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None => ["text", "scalar", "ranges", "set"]
            .into_iter()
            .find(|k| attr.get(k).is_some())
            .map(|k| match k {
                "text" => "TEXT",
                "scalar" => "SCALAR",
                "ranges" => "RANGES",
                _ => "SET",
            })?,
    };
    match ty {
        "TEXT" => Some(attr.pointer("/text/value")?.as_str()?.to_string()),
        "SCALAR" => Some(format_scalar(attr.pointer("/scalar/value")?.as_f64()?)),
        "RANGES" => {
            let mut ranges: Vec<(u64, u64)> = attr
                .pointer("/ranges/range")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| Some((r.get("begin")?.as_u64()?, r.get("end")?.as_u64()?)))
                .collect();
            // Scala's sortWith is stable and compares begins only.
            ranges.sort_by_key(|r| r.0);
            let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            Some(format!("[{}]", parts.join(",")))
        }
        "SET" => {
            let mut items: Vec<&str> = attr
                .pointer("/set/item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            items.sort_unstable();
            Some(format!("{{{}}}", items.join(",")))
        }
        _ => None,
    }
}

/// Java's `new DecimalFormat("0.###").format(x)`: at most three decimals, rounded half-even on
/// the exact binary value (JDK 8+), trailing zeros and a trailing point dropped: 2 -> "2",
/// 1.5 -> "1.5", 1.0005 -> "1", 1.1005 -> "1.101", 0.0625 -> "0.062".
///
/// Rust's `{:.3}` rounds the exact binary value with ties to even, which is the same. Only
/// beyond 2^53, where DecimalFormat starts from the shortest round-trip digits and Rust from
/// the exact ones, would the digits differ; there every double is an integer, and Rust's `{}`
/// prints the shortest digits padded with zeros, as DecimalFormat does.
pub fn format_scalar(x: f64) -> String {
    if !x.is_finite() {
        // DecimalFormat prints "NaN" (U+FFFD for NaN in some JDKs) and "∞"; JSON has neither.
        return x.to_string();
    }
    if x.abs() >= 9_007_199_254_740_992.0 {
        return format!("{x}");
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        // DecimalFormat keeps the sign of a negative number that rounds to zero.
        return "-0".to_string();
    }
    s.to_string()
}

/// Whether a new instance may be placed on `candidate`, given where the app's other instances
/// (running or staged, of the current configuration) are: every constraint must be met.
///
/// For an attribute the candidate does not have, only UNLIKE is met (and always is).
pub fn satisfied(constraints: &[Constraint], candidate: &Placement, running: &[Placement]) -> bool {
    constraints.iter().all(|c| meets(c, candidate, running))
}

/// Marathon's `ConstraintsChecker.checkConstraint` for one constraint.
pub fn meets(c: &Constraint, candidate: &Placement, running: &[Placement]) -> bool {
    let Some(offer_value) = candidate.field(&c.field) else {
        return c.operator == Operator::Unlike;
    };
    let value = c.value_str();
    match c.operator {
        Operator::Like => !value.is_empty() && regex_matches(value, offer_value),
        Operator::Unlike => !value.is_empty() && !regex_matches(value, offer_value),
        // Every other instance has a different value (an instance without the field counts as
        // different).
        Operator::Unique => running
            .iter()
            .all(|p| p.field(&c.field) != Some(offer_value)),
        Operator::GroupBy => {
            // `getIntValue`: "inf" is unbounded, anything else that is not a number is 0.
            let minimum = match value {
                "inf" => i32::MAX,
                v => java_parse_int(v).unwrap_or(0),
            }
            .max(0) as usize;
            let groups = group_counts(&c.field, running);
            let min_count = groups.values().copied().min().unwrap_or(0);
            match groups.get(&Some(offer_value)) {
                // A value with no instance yet is always acceptable.
                None => true,
                Some(&count) => groups.len() >= minimum && count == min_count,
            }
        }
        Operator::MaxPer => match java_parse_int(value) {
            // The count of a value without instances is not compared: MAX_PER "0" still lets
            // one instance onto each value, as in Marathon.
            Some(max) => group_counts(&c.field, running)
                .get(&Some(offer_value))
                .is_none_or(|&count| (count as i64) < i64::from(max)),
            // Marathon would throw on `toInt`; `parse` never lets such a value in.
            None => false,
        },
        Operator::Cluster => {
            if value.is_empty() {
                // The first instance picks the value; Marathon compares with the first placed
                // instance only (`allInstances.headOption`).
                running
                    .first()
                    .is_none_or(|p| p.field(&c.field) == Some(offer_value))
            } else {
                offer_value == value
            }
        }
        // A value that looks like a Mesos scalar is compared in its canonical form ("0.80" and
        // "0.8001" both mean "0.8"); anything else exactly.
        Operator::Is => {
            if is_mesos_scalar(value) {
                value
                    .parse::<f64>()
                    .is_ok_and(|x| offer_value == format_scalar(x))
            } else {
                offer_value == value
            }
        }
    }
}

fn regex_matches(pattern: &str, text: &str) -> bool {
    full_match_regex(pattern).is_some_and(|re| re.is_match(text))
}

/// Marathon's `MesosScalarValue`, `[0-9]+(?:\.[0-9]+)?`, matched in full.
fn is_mesos_scalar(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    }
}

/// Instances per value of `field`; instances without the field form the `None` group, which
/// counts as a group for GROUP_BY as in Marathon (`groupBy` over `Option[String]`).
fn group_counts<'a>(field: &str, running: &'a [Placement]) -> BTreeMap<Option<&'a str>, usize> {
    let mut groups = BTreeMap::new();
    for p in running {
        *groups.entry(p.field(field)).or_insert(0) += 1;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(field: &str, op: Operator, value: Option<&str>) -> Constraint {
        Constraint {
            field: field.into(),
            operator: op,
            value: value.map(str::to_string),
        }
    }

    fn at(host: &str, attrs: &[(&str, &str)]) -> Placement {
        Placement {
            hostname: host.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn rack(host: &str, rack: &str) -> Placement {
        at(host, &[("rack", rack)])
    }

    fn parse_err(v: Value) -> Vec<(String, Vec<String>)> {
        parse(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.errors))
            .collect()
    }

    #[test]
    fn parses_the_app_form_and_writes_it_back() {
        let v = json!([
            ["hostname", "UNIQUE"],
            ["rack_id", "GROUP_BY", "3"],
            ["attr", "like", "rack-[1-3]"],
            ["rack_id", "CLUSTER"],
            ["rack_id", "CLUSTER", ""],
            ["rack_id", "MAX_PER", "2"],
            ["level", "IS", "0.8"],
            ["os", "UNLIKE", "windows.*"]
        ]);
        let cs = parse(&v).unwrap();
        assert_eq!(cs[0], c("hostname", Operator::Unique, None));
        assert_eq!(cs[1], c("rack_id", Operator::GroupBy, Some("3")));
        assert_eq!(cs[2], c("attr", Operator::Like, Some("rack-[1-3]")));
        assert_eq!(cs[3].value, None);
        assert_eq!(cs[4].value.as_deref(), Some(""));
        let mut canonical = v.clone();
        canonical[2][1] = json!("LIKE");
        assert_eq!(to_json(&cs), canonical);
        assert_eq!(parse(&Value::Null).unwrap(), vec![]);
        assert_eq!(parse(&json!([])).unwrap(), vec![]);
    }

    #[test]
    fn refuses_bad_constraints_with_marathons_messages() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), MSG_FIELD_COUNT),
            (json!(["a"]), MSG_FIELD_COUNT),
            (json!(["a", "CLUSTER", "b", "c"]), MSG_FIELD_COUNT),
            (json!(["", "UNIQUE"]), MSG_ILLEGAL),
            (json!(["a", "UNKNOWN"]), MSG_OPERATOR_INVALID),
            (json!(["a", "UNIQUE", "x"]), MSG_UNIQUE_NO_VALUE),
            (json!(["a", "GROUP_BY", "three"]), MSG_GROUP_BY_INT),
            (json!(["a", "GROUP_BY", ""]), MSG_GROUP_BY_INT),
            (json!(["a", "MAX_PER"]), MSG_MAX_PER_INT),
            (json!(["a", "MAX_PER", "1.5"]), MSG_MAX_PER_INT),
            (json!(["a", "MAX_PER", "99999999999"]), MSG_MAX_PER_INT),
            (json!(["a", "LIKE"]), MSG_LIKE_REGEX),
            (json!(["a", "UNLIKE"]), MSG_LIKE_REGEX),
            (json!(["a", "LIKE", "[a-"]), MSG_INVALID_REGEX),
            (json!(["a", "UNLIKE", "a)(b"]), MSG_INVALID_REGEX),
            (json!(["a", "IS", "{a,b}"]), MSG_IS_TEXT),
            (json!(["a", "IS", "a b"]), MSG_IS_TEXT),
        ];
        for (row, msg) in cases {
            let errs = parse_err(json!([["hostname", "UNIQUE"], row]));
            assert_eq!(
                errs,
                vec![("/constraints(1)".to_string(), vec![msg.to_string()])],
                "{row}"
            );
        }
        // Accepted as Marathon accepts them.
        for row in [
            json!(["a", "GROUP_BY"]),
            json!(["a", "GROUP_BY", "-1"]),
            json!(["a", "MAX_PER", "+2"]),
            json!(["a", "LIKE", ""]),
            json!(["a", "IS"]),
            json!(["a", "IS", "rack-1/a_b.c"]),
            json!(["a", "cluster", "anything at all"]),
        ] {
            assert!(parse(&json!([row])).is_ok(), "{row}");
        }
    }

    #[test]
    fn reports_every_bad_constraint_and_json_type_errors_alone() {
        let errs = parse_err(json!([["a", "X"], ["a", "UNIQUE"], ["a", "MAX_PER"]]));
        assert_eq!(
            errs,
            vec![
                ("/constraints(0)".into(), vec![MSG_OPERATOR_INVALID.into()]),
                ("/constraints(2)".into(), vec![MSG_MAX_PER_INT.into()]),
            ]
        );
        let errs = parse_err(json!([["a", "X"], "hostname", ["a", 1, null]]));
        assert_eq!(
            errs,
            vec![
                ("/constraints(1)".into(), vec![MSG_EXPECTED_ARRAY.into()]),
                (
                    "/constraints(2)(1)".into(),
                    vec![MSG_EXPECTED_STRING.into()]
                ),
                (
                    "/constraints(2)(2)".into(),
                    vec![MSG_EXPECTED_STRING.into()]
                ),
            ]
        );
        assert_eq!(
            parse_err(json!({"a": 1})),
            vec![("/constraints".into(), vec![MSG_EXPECTED_ARRAY.into()])]
        );
        let e = parse(&json!([["a"]])).unwrap_err();
        assert_eq!(
            e[0].to_json(),
            json!({"path": "/constraints(0)", "errors": [MSG_FIELD_COUNT]})
        );
    }

    #[test]
    fn reads_offers_as_marathon_formats_attributes() {
        let offer = json!({
            "hostname": "agent-1",
            "attributes": [
                {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                {"name": "rack", "type": "TEXT", "text": {"value": "shadowed"}},
                {"name": "two", "type": "SCALAR", "scalar": {"value": 2.0}},
                {"name": "half", "type": "SCALAR", "scalar": {"value": 1.5}},
                {"name": "fine", "type": "SCALAR", "scalar": {"value": 1.1005}},
                {"name": "r", "type": "RANGES", "ranges": {"range": [
                    {"begin": 5, "end": 6}, {"begin": 1, "end": 2}]}},
                {"name": "s", "type": "SET", "set": {"item": ["b", "a"]}},
                {"name": "@region", "type": "TEXT", "text": {"value": "fake"}},
                {"name": "bad"}
            ],
            "domain": {"fault_domain": {"region": {"name": "eu"}, "zone": {"name": "eu-1a"}}}
        });
        let p = Placement::from_offer(&offer);
        assert_eq!(p.hostname, "agent-1");
        assert_eq!(p.field("hostname"), Some("agent-1"));
        assert_eq!(p.field("@hostname"), Some("agent-1"));
        assert_eq!(p.field("rack"), Some("r1"));
        assert_eq!(p.field("two"), Some("2"));
        assert_eq!(p.field("half"), Some("1.5"));
        assert_eq!(p.field("fine"), Some("1.101"));
        assert_eq!(p.field("r"), Some("[1-2,5-6]"));
        assert_eq!(p.field("s"), Some("{a,b}"));
        assert_eq!(p.field("@region"), Some("eu"));
        assert_eq!(p.field("@zone"), Some("eu-1a"));
        assert_eq!(p.field("bad"), None);
        assert_eq!(p.field("missing"), None);
        let bare = Placement::from_offer(&json!({"hostname": "h"}));
        assert!(bare.attributes.is_empty());
    }

    #[test]
    fn formats_scalars_like_decimal_format() {
        for (x, s) in [
            (2.0, "2"),
            (1.5, "1.5"),
            (0.8, "0.8"),
            (1.0005, "1"),
            (1.00051, "1.001"),
            (1.1005, "1.101"),
            (0.0625, "0.062"),
            (0.0, "0"),
            (123456.7891, "123456.789"),
            (1e20, "100000000000000000000"),
        ] {
            assert_eq!(format_scalar(x), s, "{x}");
        }
    }

    #[test]
    fn unique() {
        let u = [c("hostname", Operator::Unique, None)];
        let running = [at("a", &[]), at("b", &[])];
        assert!(!satisfied(&u, &at("a", &[]), &running));
        assert!(satisfied(&u, &at("c", &[]), &running));
        assert!(satisfied(&u, &at("a", &[]), &[]));
        let u = [c("rack", Operator::Unique, None)];
        assert!(!satisfied(&u, &rack("x", "r1"), &[rack("a", "r1")]));
        // An instance without the attribute does not collide; a candidate without it fails.
        assert!(satisfied(&u, &rack("x", "r1"), &[at("a", &[])]));
        assert!(!satisfied(&u, &at("x", &[]), &[]));
    }

    #[test]
    fn cluster() {
        let fixed = [c("rack", Operator::Cluster, Some("r1"))];
        assert!(satisfied(&fixed, &rack("a", "r1"), &[]));
        assert!(!satisfied(&fixed, &rack("a", "r2"), &[]));
        assert!(!satisfied(&fixed, &at("a", &[]), &[]));
        for open in [
            c("rack", Operator::Cluster, None),
            c("rack", Operator::Cluster, Some("")),
        ] {
            let open = [open];
            assert!(satisfied(&open, &rack("a", "r2"), &[]));
            assert!(satisfied(&open, &rack("b", "r1"), &[rack("a", "r1")]));
            assert!(!satisfied(&open, &rack("b", "r2"), &[rack("a", "r1")]));
            assert!(!satisfied(&open, &at("b", &[]), &[]));
        }
        let host = [c("hostname", Operator::Cluster, None)];
        assert!(satisfied(&host, &at("a", &[]), &[at("a", &[])]));
        assert!(!satisfied(&host, &at("b", &[]), &[at("a", &[])]));
    }

    #[test]
    fn group_by_with_and_without_a_group_count() {
        let three = [c("rack", Operator::GroupBy, Some("3"))];
        // One instance on r1: r1 again must wait until three racks are in use.
        let running = [rack("a", "r1")];
        assert!(!satisfied(&three, &rack("b", "r1"), &running));
        assert!(satisfied(&three, &rack("b", "r2"), &running));
        let running = [rack("a", "r1"), rack("b", "r2"), rack("c", "r3")];
        assert!(satisfied(&three, &rack("d", "r1"), &running));
        let running = [
            rack("a", "r1"),
            rack("b", "r2"),
            rack("c", "r3"),
            rack("d", "r1"),
        ];
        assert!(!satisfied(&three, &rack("e", "r1"), &running));
        assert!(satisfied(&three, &rack("e", "r2"), &running));
        // A fourth value is new, so it is always acceptable.
        assert!(satisfied(&three, &rack("e", "r4"), &running));

        let open = [c("rack", Operator::GroupBy, None)];
        assert!(satisfied(&open, &rack("b", "r1"), &[rack("a", "r1")]));
        let running = [rack("a", "r1"), rack("b", "r1"), rack("c", "r2")];
        assert!(!satisfied(&open, &rack("d", "r1"), &running));
        assert!(satisfied(&open, &rack("d", "r2"), &running));
        // Instances without the attribute form a group of their own.
        let running = [rack("a", "r1"), at("b", &[])];
        assert!(satisfied(&open, &rack("c", "r1"), &running));
        let running = [rack("a", "r1"), rack("c", "r1"), at("b", &[])];
        assert!(!satisfied(&open, &rack("d", "r1"), &running));
        assert!(!satisfied(&open, &at("d", &[]), &[]));
        let inf = [c("rack", Operator::GroupBy, Some("inf"))];
        assert!(!satisfied(&inf, &rack("b", "r1"), &[rack("a", "r1")]));
    }

    #[test]
    fn max_per() {
        let two = [c("rack", Operator::MaxPer, Some("2"))];
        assert!(satisfied(&two, &rack("c", "r1"), &[rack("a", "r1")]));
        let running = [rack("a", "r1"), rack("b", "r1")];
        assert!(!satisfied(&two, &rack("c", "r1"), &running));
        assert!(satisfied(&two, &rack("c", "r2"), &running));
        assert!(!satisfied(&two, &at("c", &[]), &[]));
        let host = [c("hostname", Operator::MaxPer, Some("1"))];
        assert!(!satisfied(&host, &at("a", &[]), &[at("a", &[])]));
        // Marathon's quirk: a value without instances is never compared with the maximum.
        let zero = [c("rack", Operator::MaxPer, Some("0"))];
        assert!(satisfied(&zero, &rack("a", "r1"), &[]));
        assert!(!satisfied(&zero, &rack("b", "r1"), &[rack("a", "r1")]));
        let garbage = [c("rack", Operator::MaxPer, Some("x"))];
        assert!(!satisfied(&garbage, &rack("a", "r1"), &[]));
    }

    #[test]
    fn like_and_unlike_match_the_whole_value() {
        let like = [c("rack", Operator::Like, Some("rack-[1-3]"))];
        assert!(satisfied(&like, &rack("a", "rack-2"), &[]));
        assert!(!satisfied(&like, &rack("a", "rack-4"), &[]));
        assert!(!satisfied(&like, &rack("a", "rack-22"), &[]));
        assert!(!satisfied(&like, &rack("a", "xrack-2"), &[]));
        assert!(!satisfied(&like, &at("a", &[]), &[]));
        let alt = [c("rack", Operator::Like, Some("a|b"))];
        assert!(satisfied(&alt, &rack("h", "b"), &[]));
        assert!(!satisfied(&alt, &rack("h", "ab"), &[]));

        let unlike = [c("rack", Operator::Unlike, Some("rack-[7-9]"))];
        assert!(satisfied(&unlike, &rack("a", "rack-1"), &[]));
        assert!(satisfied(&unlike, &rack("a", "rack-77"), &[]));
        assert!(!satisfied(&unlike, &rack("a", "rack-7"), &[]));
        // A missing attribute always satisfies UNLIKE, and only UNLIKE.
        assert!(satisfied(&unlike, &at("a", &[]), &[]));
        // Empty patterns never match (Marathon logs "value is required").
        for op in [Operator::Like, Operator::Unlike] {
            assert!(!satisfied(&[c("rack", op, Some(""))], &rack("a", ""), &[]));
        }
        let host = [c(
            "hostname",
            Operator::Like,
            Some(r"web-\d+\.example\.com"),
        )];
        assert!(satisfied(&host, &at("web-12.example.com", &[]), &[]));
    }

    #[test]
    fn is_compares_text_exactly_and_scalars_canonically() {
        let p = at("h", &[("level", "0.8"), ("rack", "rack-1")]);
        for v in ["0.8", "0.80", "0.8001"] {
            assert!(
                satisfied(&[c("level", Operator::Is, Some(v))], &p, &[]),
                "{v}"
            );
        }
        assert!(!satisfied(
            &[c("level", Operator::Is, Some("0.9"))],
            &p,
            &[]
        ));
        assert!(satisfied(
            &[c("rack", Operator::Is, Some("rack-1"))],
            &p,
            &[]
        ));
        assert!(!satisfied(
            &[c("rack", Operator::Is, Some("rack"))],
            &p,
            &[]
        ));
        assert!(!satisfied(&[c("x", Operator::Is, Some("1"))], &p, &[]));
        // A text attribute "0.80" is not IS "0.80": the constraint side is canonicalised only.
        let text = at("h", &[("v", "0.80")]);
        assert!(!satisfied(
            &[c("v", Operator::Is, Some("0.80"))],
            &text,
            &[]
        ));
        let scalar = Placement::from_offer(&json!({"hostname": "h", "attributes": [
            {"name": "v", "type": "SCALAR", "scalar": {"value": 2}}]}));
        assert!(satisfied(
            &[c("v", Operator::Is, Some("2.000"))],
            &scalar,
            &[]
        ));
    }

    #[test]
    fn every_constraint_must_hold() {
        let cs = parse(&json!([["hostname", "UNIQUE"], ["rack", "CLUSTER", "r1"]])).unwrap();
        assert!(satisfied(&cs, &rack("b", "r1"), &[rack("a", "r1")]));
        assert!(!satisfied(&cs, &rack("a", "r1"), &[rack("a", "r1")]));
        assert!(!satisfied(&cs, &rack("b", "r2"), &[rack("a", "r1")]));
        assert!(satisfied(&[], &at("a", &[]), &[]));
    }

    // ---- Placement properties: place instances one by one, each on the first agent in the
    // round's offer order that satisfies the constraints, as the launch queue would.

    /// Agents as (hostname index, rack index); hostnames may repeat (several agents, one host).
    fn arb_agents() -> impl Strategy<Value = Vec<Placement>> {
        proptest::collection::vec((0u8..8, 0u8..4), 1..12).prop_map(|v| {
            v.into_iter()
                .map(|(h, r)| rack(&format!("host-{h}"), &format!("r{r}")))
                .collect()
        })
    }

    /// Places up to `n` instances; round `i` offers every agent, starting at `rotations[i]`.
    fn place(
        cs: &[Constraint],
        agents: &[Placement],
        n: usize,
        rotations: &[usize],
    ) -> Vec<Placement> {
        let mut running: Vec<Placement> = Vec::new();
        for i in 0..n {
            let start = rotations[i % rotations.len()] % agents.len();
            let offered = agents[start..].iter().chain(&agents[..start]);
            let Some(p) = offered.into_iter().find(|a| satisfied(cs, a, &running)) else {
                break;
            };
            running.push(p.clone());
        }
        running
    }

    fn distinct(agents: &[Placement], field: &str) -> std::collections::BTreeSet<String> {
        agents
            .iter()
            .filter_map(|a| a.field(field).map(str::to_string))
            .collect()
    }

    fn counts(placed: &[Placement], field: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for p in placed {
            *m.entry(p.field(field).unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
        m
    }

    proptest! {
        #[test]
        fn unique_never_shares_a_value(
            agents in arb_agents(),
            n in 0usize..16,
            rotations in proptest::collection::vec(0usize..12, 1..16),
            field in prop_oneof![Just("hostname"), Just("rack")],
        ) {
            let cs = [c(field, Operator::Unique, None)];
            let placed = place(&cs, &agents, n, &rotations);
            let values = counts(&placed, field);
            prop_assert!(values.values().all(|&k| k == 1), "{values:?}");
            // Liveness: it stops only when every value is taken.
            prop_assert_eq!(placed.len(), n.min(distinct(&agents, field).len()));
        }

        #[test]
        fn max_per_never_exceeds_its_bound(
            agents in arb_agents(),
            n in 0usize..24,
            k in 1usize..4,
            rotations in proptest::collection::vec(0usize..12, 1..16),
            field in prop_oneof![Just("hostname"), Just("rack")],
        ) {
            let cs = [c(field, Operator::MaxPer, Some(&k.to_string()))];
            let placed = place(&cs, &agents, n, &rotations);
            let values = counts(&placed, field);
            prop_assert!(values.values().all(|&x| x <= k), "{values:?}");
            prop_assert_eq!(placed.len(), n.min(k * distinct(&agents, field).len()));
        }

        #[test]
        fn group_by_keeps_groups_within_one(
            agents in arb_agents(),
            n in 0usize..24,
            rotations in proptest::collection::vec(0usize..12, 1..16),
        ) {
            let racks = distinct(&agents, "rack");
            let cs = [c("rack", Operator::GroupBy, Some(&racks.len().to_string()))];
            let placed = place(&cs, &agents, n, &rotations);
            // Every rack has room (agents are unlimited), so all instances are placed ...
            prop_assert_eq!(placed.len(), n);
            // ... and once all racks are in use, their counts differ by at most one.
            let mut per_rack: BTreeMap<String, usize> =
                racks.iter().map(|r| (r.clone(), 0)).collect();
            for (r, k) in counts(&placed, "rack") {
                per_rack.insert(r, k);
            }
            let max = per_rack.values().max().copied().unwrap_or(0);
            let min = per_rack.values().min().copied().unwrap_or(0);
            prop_assert!(max - min <= 1, "{per_rack:?}");
        }

        #[test]
        fn cluster_keeps_every_instance_on_one_value(
            agents in arb_agents(),
            n in 0usize..16,
            rotations in proptest::collection::vec(0usize..12, 1..16),
            fixed in proptest::option::of(0u8..5),
        ) {
            let value = fixed.map(|r| format!("r{r}"));
            let cs = [c("rack", Operator::Cluster, value.as_deref())];
            let placed = place(&cs, &agents, n, &rotations);
            let values = counts(&placed, "rack");
            prop_assert!(values.len() <= 1, "{values:?}");
            match &value {
                Some(v) if !distinct(&agents, "rack").contains(v) => {
                    prop_assert!(placed.is_empty())
                }
                Some(v) => {
                    prop_assert_eq!(placed.len(), n);
                    prop_assert!(n == 0 || values.contains_key(v));
                }
                None => prop_assert_eq!(placed.len(), n),
            }
        }

        #[test]
        fn like_and_unlike_split_the_agents(
            agents in arb_agents(),
            pattern in prop_oneof![Just("r[01]"), Just("r.*"), Just("r3|r0"), Just("x")],
        ) {
            let like = [c("rack", Operator::Like, Some(pattern))];
            let unlike = [c("rack", Operator::Unlike, Some(pattern))];
            for a in &agents {
                prop_assert_ne!(satisfied(&like, a, &[]), satisfied(&unlike, a, &[]));
            }
        }

        #[test]
        fn parse_round_trips(
            rows in proptest::collection::vec(
                (
                    "[a-z@_]{1,8}",
                    proptest::sample::select(Operator::ALL.to_vec()),
                    proptest::option::of("[0-9]{1,3}"),
                ),
                0..6,
            ),
        ) {
            let cs: Vec<Constraint> = rows
                .into_iter()
                .map(|(f, op, v)| {
                    let v = if op == Operator::Unique { None } else { v };
                    let v = if op == Operator::MaxPer { v.or(Some("1".into())) } else { v };
                    let v = if matches!(op, Operator::Like | Operator::Unlike) {
                        v.or(Some(".*".into()))
                    } else {
                        v
                    };
                    Constraint { field: f, operator: op, value: v }
                })
                .collect();
            prop_assert_eq!(parse(&to_json(&cs)).unwrap(), cs);
        }
    }
}
