//! A tiny command-line parser: `--name value`, `--name=value` and bare `--flag`s, with every
//! argument required to be consumed (a typo is an error, not silently ignored).

use anyhow::{anyhow, bail, Context, Result};
use std::str::FromStr;

pub struct Args {
    rest: Vec<String>,
}

impl Args {
    pub fn from_env() -> Self {
        Args {
            rest: std::env::args().skip(1).collect(),
        }
    }

    pub fn from_vec(v: Vec<String>) -> Self {
        Args { rest: v }
    }

    /// True if `--name` is present (and removes it).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// The value of `--name value` or `--name=value`, removed from the arguments.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        for i in 0..self.rest.len() {
            if self.rest[i] == name {
                if i + 1 >= self.rest.len() {
                    bail!("{name} needs a value");
                }
                let v = self.rest.remove(i + 1);
                self.rest.remove(i);
                return Ok(Some(v));
            }
            if let Some(v) = self.rest[i].strip_prefix(&prefix) {
                let v = v.to_owned();
                self.rest.remove(i);
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// A parsed value, or `default` when absent.
    pub fn parse<T: FromStr>(&mut self, name: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name)? {
            None => Ok(default),
            Some(v) => parse_num(&v).with_context(|| format!("{name} {v}")),
        }
    }

    /// A comma-separated list, or `default` when absent.
    pub fn list<T>(&mut self, name: &str, default: &[T]) -> Result<Vec<T>>
    where
        T: FromStr + Clone,
        T::Err: std::fmt::Display,
    {
        match self.value(name)? {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| parse_num(s).with_context(|| format!("{name} {v}")))
                .collect(),
        }
    }

    /// Fails if anything was not consumed.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            bail!("unknown arguments: {}", self.rest.join(" "))
        }
    }
}

/// Parses a value, accepting `_` separators in numbers (`1_000_000`).
fn parse_num<T: FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<T>().map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        Args::from_vec(s.split_whitespace().map(str::to_owned).collect())
    }

    #[test]
    fn values_flags_and_lists() {
        let mut a = args("--znodes 1_000 --dir=/x --cold --clients 1,16,64");
        assert_eq!(a.parse::<u64>("--znodes", 5).unwrap(), 1000);
        assert_eq!(a.value("--dir").unwrap().as_deref(), Some("/x"));
        assert!(a.flag("--cold"));
        assert!(!a.flag("--cold"));
        assert_eq!(a.list::<u32>("--clients", &[1]).unwrap(), vec![1, 16, 64]);
        assert_eq!(a.parse::<u64>("--value-size", 100).unwrap(), 100);
        a.finish().unwrap();
    }

    #[test]
    fn leftovers_and_missing_values_are_errors() {
        assert!(args("--bogus").finish().is_err());
        assert!(args("--dir").value("--dir").is_err());
        assert!(args("--znodes x").parse::<u64>("--znodes", 1).is_err());
    }
}
