//! Marathon's 422 body: `{"message": "Object is not valid", "details": [{"path": "/cpus",
//! "errors": ["..."]}]}`, with JSON paths like `/healthChecks(0)/path`.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub errors: Vec<String>,
}

/// Collects errors, one entry per path in the order first seen.
#[derive(Debug, Default)]
pub struct Errors(Vec<ValidationError>);

impl Errors {
    pub fn add(&mut self, path: &str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|e| e.path == path) {
            Some(e) => e.errors.push(message),
            None => self.0.push(ValidationError {
                path: path.to_string(),
                errors: vec![message],
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ValidationError> {
        self.0
    }
}

/// The 422 body.
pub fn body(errors: &[ValidationError]) -> Value {
    let details: Vec<Value> = errors
        .iter()
        .map(|e| json!({"path": e.path, "errors": e.errors}))
        .collect();
    json!({"message": "Object is not valid", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_group_by_path() {
        let mut e = Errors::default();
        e.add("/cpus", "a");
        e.add("/mem", "b");
        e.add("/cpus", "c");
        let v = e.into_vec();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].errors, vec!["a", "c"]);
        let b = body(&v);
        assert_eq!(b["message"], "Object is not valid");
        assert_eq!(b["details"][1]["path"], "/mem");
    }
}
