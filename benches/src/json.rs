//! A one-line JSON object builder (enough for flat figures and nested arrays; no dependency).

#[derive(Debug, Clone, Default)]
pub struct Obj {
    fields: Vec<(String, String)>,
}

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number; non-finite values become `null`.
pub fn num(v: f64) -> String {
    if v.is_finite() {
        let r = (v * 1000.0).round() / 1000.0;
        format!("{r}")
    } else {
        "null".to_owned()
    }
}

/// A JSON array of already-rendered values.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().collect();
    format!("[{}]", v.join(","))
}

impl Obj {
    pub fn new() -> Self {
        Obj::default()
    }

    /// Adds a field whose value is already JSON.
    pub fn raw(mut self, k: &str, v: String) -> Self {
        self.fields.push((k.to_owned(), v));
        self
    }

    pub fn str(self, k: &str, v: &str) -> Self {
        self.raw(k, string(v))
    }

    pub fn int(self, k: &str, v: i64) -> Self {
        self.raw(k, v.to_string())
    }

    pub fn uint(self, k: &str, v: u64) -> Self {
        self.raw(k, v.to_string())
    }

    pub fn num(self, k: &str, v: f64) -> Self {
        self.raw(k, num(v))
    }

    pub fn opt_uint(self, k: &str, v: Option<u64>) -> Self {
        self.raw(k, v.map_or_else(|| "null".to_owned(), |x| x.to_string()))
    }

    pub fn obj(self, k: &str, v: Obj) -> Self {
        self.raw(k, v.render())
    }

    pub fn render(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", string(k)))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}

/// Reads a non-negative integer field `"k":123` from a line this module rendered.
pub fn get_uint(line: &str, k: &str) -> Option<u64> {
    let key = format!("{}:", string(k));
    let at = line.find(&key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Reads a number field `"k":1.5` from a line this module rendered.
pub fn get_num(line: &str, k: &str) -> Option<f64> {
    let key = format!("{}:", string(k));
    let at = line.find(&key)? + key.len();
    let s: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))
        .collect();
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        let line = Obj::new()
            .str("name", "a\"b\n")
            .uint("n", 42)
            .num("t", 1.23456)
            .num("bad", f64::NAN)
            .raw("xs", array(["1".to_owned(), "2".to_owned()]))
            .render();
        assert_eq!(
            line,
            r#"{"name":"a\"b\n","n":42,"t":1.235,"bad":null,"xs":[1,2]}"#
        );
        assert_eq!(get_uint(&line, "n"), Some(42));
        assert_eq!(get_num(&line, "t"), Some(1.235));
        assert_eq!(get_uint(&line, "missing"), None);
    }
}
