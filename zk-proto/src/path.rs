//! ZooKeeper's path rules (`PathUtils.validatePath`), applied to every path a request names.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("Path length must be > 0")]
    Empty,
    #[error("Path must start with / character")]
    NotAbsolute,
    #[error("Path must not end with / character")]
    TrailingSlash,
    #[error("null character not allowed @{0}")]
    NullChar(usize),
    #[error("empty node name specified @{0}")]
    EmptyName(usize),
    #[error("relative paths not allowed @{0}")]
    Relative(usize),
    #[error("invalid character @{0}")]
    InvalidChar(usize),
}

/// Validates a path. For sequential creates ZooKeeper validates `path + "1"`, which lets a path
/// end in `/` (the server appends the sequence number); pass `sequential = true` for those.
pub fn validate(path: &str, sequential: bool) -> Result<(), PathError> {
    if sequential {
        let mut p = String::with_capacity(path.len() + 1);
        p.push_str(path);
        p.push('1');
        return validate_inner(&p);
    }
    validate_inner(path)
}

fn validate_inner(path: &str) -> Result<(), PathError> {
    // Java works on UTF-16 code units; a char outside the BMP is a surrogate pair there, and
    // surrogates are invalid. Collect chars once, indexing like Java's char positions closely
    // enough for the error text (positions only appear in messages).
    let chars: Vec<char> = path.chars().collect();
    if chars.is_empty() {
        return Err(PathError::Empty);
    }
    if chars[0] != '/' {
        return Err(PathError::NotAbsolute);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == '/' {
        return Err(PathError::TrailingSlash);
    }
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        if c == '\0' {
            return Err(PathError::NullChar(i));
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptyName(i));
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                return Err(PathError::Relative(i));
            }
        } else if c == '.' {
            if chars[i - 1] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                return Err(PathError::Relative(i));
            }
        } else if is_invalid_char(c) {
            return Err(PathError::InvalidChar(i));
        }
        last = c;
    }
    Ok(())
}

fn is_invalid_char(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        || u > 0xffff
}

/// The parent of a valid, non-root path (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a valid path (`/a/b` -> `b`; root -> "").
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_path_rules() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a/...",
            "/zookeeper/quota",
            "/ünï",
        ] {
            assert_eq!(validate(ok, false), Ok(()), "{ok}");
        }
        assert_eq!(validate("", false), Err(PathError::Empty));
        assert_eq!(validate("a", false), Err(PathError::NotAbsolute));
        assert_eq!(validate("/a/", false), Err(PathError::TrailingSlash));
        assert_eq!(validate("//a", false), Err(PathError::EmptyName(1)));
        assert_eq!(validate("/a//b", false), Err(PathError::EmptyName(3)));
        assert_eq!(validate("/a/./b", false), Err(PathError::Relative(3)));
        assert_eq!(validate("/a/../b", false), Err(PathError::Relative(4)));
        assert_eq!(validate("/.", false), Err(PathError::Relative(1)));
        assert_eq!(validate("/a\0b", false), Err(PathError::NullChar(2)));
        assert_eq!(validate("/a\u{1}", false), Err(PathError::InvalidChar(2)));
        assert_eq!(
            validate("/a\u{fffd}", false),
            Err(PathError::InvalidChar(2))
        );
        assert_eq!(
            validate("/a\u{1f600}", false),
            Err(PathError::InvalidChar(2))
        );
    }

    #[test]
    fn sequential_paths_may_end_in_slash() {
        assert_eq!(validate("/a/", true), Ok(()));
        assert_eq!(validate("/a//", true), Err(PathError::EmptyName(3)));
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/"), "");
    }
}
