//! Resources: named scalars (`cpus`, `mem`, `disk`, `gpus`, ...) and ranges (`ports`).
//!
//! Scalars are kept in thousandths, as Mesos does (its `Value::Scalar` arithmetic is fixed point
//! with three decimals), so adding and subtracting offers and tasks never drifts. Ranges are
//! inclusive, sorted and merged. Everything here is unreserved (role `*`).
//!
//! Three spellings are read and written:
//! - the flag text `cpus:4;mem:4096;disk:10000;ports:[31000-32000,33000-33010]`;
//! - the v1 API's JSON array of `Resource` objects (`{"name":"cpus","type":"SCALAR",
//!   "scalar":{"value":4}}`, `{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":..,
//!   "end":..}]}}`);
//! - the operator endpoints' object (`{"cpus":4.0,"mem":4096.0,"ports":"[31000-32000]"}`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Map, Value};

/// Thousandths of a unit.
const MILLI: f64 = 1000.0;

/// An inclusive range `[begin, end]`.
pub type Range = (u64, u64);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Name -> thousandths; never zero (zero entries are removed).
    scalars: BTreeMap<String, i64>,
    /// Name -> sorted, merged, non-empty inclusive ranges.
    ranges: BTreeMap<String, Vec<Range>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResourceError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ResourceError> {
    Err(ResourceError(msg.into()))
}

fn to_milli(v: f64) -> i64 {
    (v * MILLI).round() as i64
}

fn from_milli(m: i64) -> f64 {
    m as f64 / MILLI
}

/// Sorts and merges overlapping or adjacent ranges.
fn normalize(mut r: Vec<Range>) -> Vec<Range> {
    r.sort_unstable();
    let mut out: Vec<Range> = Vec::with_capacity(r.len());
    for (b, e) in r {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

/// `a` minus `b`, both normalized.
fn subtract_ranges(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for &(mut lo, hi) in a {
        let mut alive = true;
        for &(bl, bh) in b {
            if bh < lo || bl > hi {
                continue;
            }
            if bl > lo {
                out.push((lo, bl - 1));
            }
            if bh >= hi {
                alive = false;
                break;
            }
            lo = bh + 1;
        }
        if alive {
            out.push((lo, hi));
        }
    }
    normalize(out)
}

fn ranges_contain(a: &[Range], b: &[Range]) -> bool {
    b.iter()
        .all(|&(bl, bh)| a.iter().any(|&(al, ah)| al <= bl && bh <= ah))
}

/// `[31000-32000,33000-33010]`
pub fn format_ranges(r: &[Range]) -> String {
    let parts: Vec<String> = r.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

fn parse_ranges(text: &str) -> Result<Vec<Range>, ResourceError> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| ResourceError(format!("ranges must look like [1-2,5-9], got '{text}'")))?;
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (b, e) = part
            .split_once('-')
            .ok_or_else(|| ResourceError(format!("range '{part}' is not begin-end")))?;
        let b: u64 = b
            .trim()
            .parse()
            .map_err(|_| ResourceError(format!("range '{part}': '{b}' is not a number")))?;
        let e: u64 = e
            .trim()
            .parse()
            .map_err(|_| ResourceError(format!("range '{part}': '{e}' is not a number")))?;
        if b > e {
            return err(format!("range '{part}' ends before it begins"));
        }
        out.push((b, e));
    }
    Ok(normalize(out))
}

impl Resources {
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Parses the flag text (`name[(role)]:value;...`). Only the `*` role is accepted.
    pub fn parse(text: &str) -> Result<Resources, ResourceError> {
        let mut r = Resources::new();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once(':')
                .ok_or_else(|| ResourceError(format!("'{item}' is not name:value")))?;
            let mut name = name.trim();
            if let Some(open) = name.find('(') {
                let role = name[open + 1..].trim_end_matches(')');
                if role != "*" {
                    return err(format!(
                        "'{item}': reservations for role '{role}' are not supported; use '*'"
                    ));
                }
                name = &name[..open];
            }
            if name.is_empty() {
                return err(format!("'{item}' has no name"));
            }
            let value = value.trim();
            if value.starts_with('[') {
                r.add_ranges(name, &parse_ranges(value)?);
            } else if value.starts_with('{') {
                return err(format!("'{item}': set resources are not supported"));
            } else {
                let v: f64 = value
                    .parse()
                    .map_err(|_| ResourceError(format!("'{item}': '{value}' is not a number")))?;
                if !v.is_finite() || v < 0.0 {
                    return err(format!("'{item}': the value must be a non-negative number"));
                }
                r.add_scalar(name, v);
            }
        }
        Ok(r)
    }

    /// Reads a v1 JSON array of `Resource` objects.
    pub fn from_json(v: &Value) -> Result<Resources, ResourceError> {
        let Some(items) = v.as_array() else {
            return err("resources must be an array");
        };
        let mut r = Resources::new();
        for item in items {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                return err("a resource has no 'name'");
            };
            if let Some(role) = item.get("role").and_then(Value::as_str) {
                if role != "*" {
                    return err(format!("resource '{name}': role '{role}' is not supported"));
                }
            }
            if item
                .get("reservations")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return err(format!("resource '{name}': reservations are not supported"));
            }
            let ty = item.get("type").and_then(Value::as_str).unwrap_or_else(|| {
                if item.get("ranges").is_some() {
                    "RANGES"
                } else {
                    "SCALAR"
                }
            });
            match ty {
                "SCALAR" => {
                    let Some(v) = item.pointer("/scalar/value").and_then(Value::as_f64) else {
                        return err(format!("resource '{name}': no scalar.value"));
                    };
                    if !v.is_finite() || v < 0.0 {
                        return err(format!("resource '{name}': negative or invalid value {v}"));
                    }
                    r.add_scalar(name, v);
                }
                "RANGES" => {
                    let list = item
                        .pointer("/ranges/range")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let mut rs = Vec::new();
                    for x in list {
                        let (Some(b), Some(e)) = (
                            x.get("begin").and_then(Value::as_u64),
                            x.get("end").and_then(Value::as_u64),
                        ) else {
                            return err(format!("resource '{name}': a range needs begin and end"));
                        };
                        if b > e {
                            return err(format!("resource '{name}': range {b}-{e} is reversed"));
                        }
                        rs.push((b, e));
                    }
                    r.add_ranges(name, &normalize(rs));
                }
                other => return err(format!("resource '{name}': type {other} is not supported")),
            }
        }
        Ok(r)
    }

    /// The v1 JSON array. `allocation_role`, when given, adds `allocation_info.role` (what a
    /// master puts on offered and allocated resources).
    pub fn to_json(&self, allocation_role: Option<&str>) -> Value {
        let mut out = Vec::new();
        for (name, m) in &self.scalars {
            let mut o = json!({"name": name, "type": "SCALAR", "scalar": {"value": from_milli(*m)},
                "role": "*"});
            if let Some(role) = allocation_role {
                o["allocation_info"] = json!({ "role": role });
            }
            out.push(o);
        }
        for (name, rs) in &self.ranges {
            let range: Vec<Value> = rs
                .iter()
                .map(|(b, e)| json!({"begin": b, "end": e}))
                .collect();
            let mut o = json!({"name": name, "type": "RANGES", "ranges": {"range": range},
                "role": "*"});
            if let Some(role) = allocation_role {
                o["allocation_info"] = json!({ "role": role });
            }
            out.push(o);
        }
        Value::Array(out)
    }

    /// The operator endpoints' object: every scalar as a number (cpus, mem, disk and gpus
    /// always present), ranges as `[b-e, ...]` text.
    pub fn to_state_object(&self) -> Value {
        let mut o = Map::new();
        for k in ["cpus", "disk", "gpus", "mem"] {
            o.insert(k.into(), json!(self.scalar(k)));
        }
        for (name, m) in &self.scalars {
            o.insert(name.clone(), json!(from_milli(*m)));
        }
        for (name, rs) in &self.ranges {
            o.insert(name.clone(), json!(format_ranges(rs)));
        }
        Value::Object(o)
    }

    /// The value of a scalar (0 when absent).
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars.get(name).map_or(0.0, |m| from_milli(*m))
    }

    pub fn scalars(&self) -> impl Iterator<Item = (&str, f64)> {
        self.scalars
            .iter()
            .map(|(k, m)| (k.as_str(), from_milli(*m)))
    }

    pub fn ranges(&self, name: &str) -> &[Range] {
        self.ranges.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn add_scalar(&mut self, name: &str, v: f64) {
        let m = to_milli(v);
        if m == 0 {
            return;
        }
        let e = self.scalars.entry(name.to_string()).or_insert(0);
        *e += m;
        if *e == 0 {
            self.scalars.remove(name);
        }
    }

    pub fn add_ranges(&mut self, name: &str, r: &[Range]) {
        if r.is_empty() {
            return;
        }
        let e = self.ranges.entry(name.to_string()).or_default();
        e.extend_from_slice(r);
        *e = normalize(std::mem::take(e));
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.is_empty()
    }

    /// Whether every scalar and range of `other` fits in `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .scalars
            .iter()
            .all(|(k, m)| self.scalars.get(k).copied().unwrap_or(0) >= *m)
            && other
                .ranges
                .iter()
                .all(|(k, r)| ranges_contain(self.ranges(k), r))
    }

    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        for (k, m) in &other.scalars {
            r.add_scalar(k, from_milli(*m));
        }
        for (k, rs) in &other.ranges {
            r.add_ranges(k, rs);
        }
        r
    }

    /// `self - other`; `None` when `other` does not fit in `self`.
    pub fn minus(&self, other: &Resources) -> Option<Resources> {
        if !self.contains(other) {
            return None;
        }
        let mut r = self.clone();
        for (k, m) in &other.scalars {
            r.add_scalar(k, -from_milli(*m));
        }
        for (k, rs) in &other.ranges {
            let left = subtract_ranges(r.ranges(k), rs);
            if left.is_empty() {
                r.ranges.remove(k);
            } else {
                r.ranges.insert(k.clone(), left);
            }
        }
        Some(r)
    }

    /// `self - other`, dropping what does not fit (what is left never goes below zero).
    pub fn saturating_minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        for (k, m) in &other.scalars {
            let have = r.scalars.get(k).copied().unwrap_or(0);
            let left = (have - m).max(0);
            if left == 0 {
                r.scalars.remove(k);
            } else {
                r.scalars.insert(k.clone(), left);
            }
        }
        for (k, rs) in &other.ranges {
            let left = subtract_ranges(r.ranges(k), rs);
            if left.is_empty() {
                r.ranges.remove(k);
            } else {
                r.ranges.insert(k.clone(), left);
            }
        }
        r
    }

    /// The number of values in the ranges of `name` (ports).
    pub fn range_count(&self, name: &str) -> u64 {
        self.ranges(name).iter().map(|(b, e)| e - b + 1).sum()
    }
}

impl fmt::Display for Resources {
    /// The flag text, e.g. `cpus:4;mem:4096;ports:[31000-32000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .scalars
            .iter()
            .map(|(k, m)| format!("{k}:{}", from_milli(*m)))
            .collect();
        for (k, rs) in &self.ranges {
            parts.push(format!("{k}:{}", format_ranges(rs).replace(", ", ",")));
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_flag_text() {
        let r = Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]").unwrap();
        assert_eq!(r.scalar("cpus"), 4.0);
        assert_eq!(r.scalar("mem"), 4096.0);
        assert_eq!(r.scalar("disk"), 10000.0);
        assert_eq!(r.ranges("ports"), &[(31000, 32000)]);
        assert_eq!(
            r.to_string(),
            "cpus:4;disk:10000;mem:4096;ports:[31000-32000]"
        );
        let r = Resources::parse("cpus(*):0.5; ports:[1-2, 3-5,10-10]").unwrap();
        assert_eq!(r.scalar("cpus"), 0.5);
        assert_eq!(r.ranges("ports"), &[(1, 5), (10, 10)]);
    }

    #[test]
    fn bad_flag_text_is_refused_with_the_reason() {
        for (text, needle) in [
            ("cpus", "not name:value"),
            ("cpus:x", "not a number"),
            ("cpus:-1", "non-negative"),
            ("ports:[5-1]", "ends before"),
            ("ports:[a-2]", "not a number"),
            ("ports:31000-32000", "not a number"),
            ("cpus(web):2", "reservations"),
            ("x:{a,b}", "set resources"),
        ] {
            let e = Resources::parse(text).unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn json_round_trip_and_shapes() {
        let r = Resources::parse("cpus:1.5;mem:128;ports:[31000-31001,31005-31005]").unwrap();
        let j = r.to_json(Some("*"));
        assert_eq!(j[0]["name"], "cpus");
        assert_eq!(j[0]["type"], "SCALAR");
        assert_eq!(j[0]["scalar"]["value"], 1.5);
        assert_eq!(j[0]["allocation_info"]["role"], "*");
        assert_eq!(j[2]["ranges"]["range"][1]["begin"], 31005);
        assert_eq!(Resources::from_json(&j).unwrap(), r);
        let s = r.to_state_object();
        assert_eq!(s["ports"], "[31000-31001, 31005-31005]");
        assert_eq!(s["disk"], 0.0);
        assert!(Resources::from_json(&json!([{"name": "cpus"}])).is_err());
        assert!(Resources::from_json(&json!({"cpus": 1})).is_err());
    }

    #[test]
    fn arithmetic_with_ranges() {
        let total = Resources::parse("cpus:4;mem:1024;ports:[100-200]").unwrap();
        let task = Resources::parse("cpus:0.1;mem:32;ports:[150-150]").unwrap();
        let left = total.minus(&task).unwrap();
        assert_eq!(left.scalar("cpus"), 3.9);
        assert_eq!(left.ranges("ports"), &[(100, 149), (151, 200)]);
        assert_eq!(left.plus(&task), total);
        assert!(task.minus(&total).is_none());
        assert!(!left.contains(&task));
        assert_eq!(left.range_count("ports"), 100);
    }

    fn arb_resources() -> impl Strategy<Value = Resources> {
        (
            0u32..5000,
            0u32..100_000,
            proptest::collection::vec((0u64..500, 0u64..20), 0..5),
        )
            .prop_map(|(c, m, rs)| {
                let mut r = Resources::new();
                r.add_scalar("cpus", c as f64 / 1000.0);
                r.add_scalar("mem", m as f64);
                let ranges: Vec<Range> = rs.into_iter().map(|(b, l)| (b, b + l)).collect();
                r.add_ranges("ports", &normalize(ranges));
                r
            })
    }

    proptest! {
        #[test]
        fn plus_then_minus_is_identity(a in arb_resources(), b in arb_resources()) {
            let sum = a.plus(&b);
            prop_assert!(sum.contains(&a));
            prop_assert!(sum.contains(&b));
            // Ranges may overlap, so only scalars and containment are exact.
            let back = sum.minus(&b).unwrap();
            prop_assert_eq!(back.scalar("cpus"), a.scalar("cpus"));
            prop_assert_eq!(back.scalar("mem"), a.scalar("mem"));
            prop_assert_eq!(Resources::from_json(&sum.to_json(None)).unwrap(), sum.clone());
            prop_assert_eq!(Resources::parse(&sum.to_string()).unwrap(), sum);
        }

        #[test]
        fn minus_matches_a_set_model(a in arb_resources(), b in arb_resources()) {
            let model = |r: &Resources| -> std::collections::BTreeSet<u64> {
                r.ranges("ports").iter().flat_map(|&(b, e)| b..=e).collect()
            };
            let left = a.saturating_minus(&b);
            let expect: std::collections::BTreeSet<u64> = model(&a).difference(&model(&b)).copied().collect();
            prop_assert_eq!(model(&left), expect);
            prop_assert_eq!(a.contains(&b), model(&a).is_superset(&model(&b))
                && a.scalar("cpus") >= b.scalar("cpus") && a.scalar("mem") >= b.scalar("mem"));
        }
    }
}
