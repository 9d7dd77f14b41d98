//! The Java `.properties` syntax that `java.util.Properties.load` accepts,
//! which is what ZooKeeper uses to read `zoo.cfg` and dynamic config files.
//!
//! Implemented rules (those that matter for real config files):
//! - a natural line ends at `\n`, `\r\n` or `\r`;
//! - leading blanks (space, tab, form feed) are skipped; a line whose first
//!   non-blank character is `#` or `!` is a comment; blank lines are skipped;
//! - a line ending in an odd number of backslashes continues on the next
//!   line, whose leading blanks are dropped (comments are never continued);
//! - the key ends at the first unescaped `=`, `:` or blank; blanks around the
//!   separator are skipped and at most one `=`/`:` is consumed;
//! - escapes `\t \n \r \f \uXXXX` are decoded and any other `\x` means `x`.
//!   So, exactly as in ZooKeeper, `dataDir=C:\zk` reads as `C:zk`: Windows
//!   paths must use `/` or `\\`.
//!
//! Everything else is left to the caller, including the trimming of keys and
//! values that ZooKeeper does on top of `Properties`.

/// One `key=value` entry; `line` is the 1-based line on which it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A syntax error: the line and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits on `\n`, `\r\n` and lone `\r`, like Java's line reader.
fn natural_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses a whole properties text into its entries, in file order
/// (duplicates included: deciding what a repeated key means is the caller's
/// business).
pub(super) fn parse(text: &str) -> Result<Vec<Property>, SyntaxError> {
    // Java would make a byte-order mark part of the first key; editors on
    // Windows add one silently, so drop it rather than mis-read that key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let line_no = idx + 1;
        let first = lines[idx].trim_start_matches(is_blank);
        idx += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(idx) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(is_blank));
                    idx += 1;
                }
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let key = unescape(raw_key).map_err(|message| SyntaxError {
            line: line_no,
            message,
        })?;
        let value = unescape(raw_value).map_err(|message| SyntaxError {
            line: line_no,
            message,
        })?;
        out.push(Property {
            key,
            value,
            line: line_no,
        });
    }
    Ok(out)
}

/// Splits a logical line (leading blanks already removed) into the raw,
/// still-escaped key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (pos, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => {
                let value = line[pos + 1..].trim_start_matches(is_blank);
                return (&line[..pos], value);
            }
            c if is_blank(c) => {
                let mut rest = line[pos..].trim_start_matches(is_blank);
                if let Some(r) = rest.strip_prefix(['=', ':']) {
                    rest = r.trim_start_matches(is_blank);
                }
                return (&line[..pos], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn read_hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let mut code = 0u32;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or_else(|| "malformed \\uXXXX escape".to_string())?;
        code = code * 16 + digit;
    }
    Ok(code)
}

fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // A lone trailing backslash (continuation at end of file).
            None => {}
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let code = read_hex4(&mut chars)?;
                let decoded = if (0xD800..0xDC00).contains(&code) {
                    // Java strings are UTF-16, so a non-BMP character is
                    // written as two escapes: a high then a low surrogate.
                    let rest = chars.as_str();
                    if !rest.starts_with("\\u") {
                        return Err("unpaired surrogate in \\uXXXX escape".to_string());
                    }
                    chars.next();
                    chars.next();
                    let low = read_hex4(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err("unpaired surrogate in \\uXXXX escape".to_string());
                    }
                    char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                } else {
                    char::from_u32(code)
                };
                out.push(decoded.ok_or_else(|| "invalid \\uXXXX escape".to_string())?);
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String, usize)> {
        parse(text)
            .expect("valid properties")
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }

    fn e(k: &str, v: &str, line: usize) -> (String, String, usize) {
        (k.to_string(), v.to_string(), line)
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n  tickTime=2000\nclientPort : 2181\n\
                    dataDir /var/zk\ninitLimit\t=\t10\nempty=\nbare\n";
        assert_eq!(
            kv(text),
            vec![
                e("tickTime", "2000", 4),
                e("clientPort", "2181", 5),
                e("dataDir", "/var/zk", 6),
                e("initLimit", "10", 7),
                e("empty", "", 8),
                e("bare", "", 9),
            ]
        );
    }

    #[test]
    fn first_separator_wins_so_server_lines_keep_their_colons() {
        assert_eq!(
            kv("server.1=127.0.0.1:2888:3888;2181"),
            vec![e("server.1", "127.0.0.1:2888:3888;2181", 1)]
        );
        // ':' is a separator too, as in Java.
        assert_eq!(kv("a:b=c"), vec![e("a", "b=c", 1)]);
    }

    #[test]
    fn trailing_whitespace_is_kept_for_the_caller_to_trim() {
        assert_eq!(kv("k = v  \t"), vec![e("k", "v  \t", 1)]);
    }

    #[test]
    fn line_endings_crlf_and_cr() {
        assert_eq!(
            kv("a=1\r\nb=2\rc=3"),
            vec![e("a", "1", 1), e("b", "2", 2), e("c", "3", 3)]
        );
    }

    #[test]
    fn continuation_lines() {
        assert_eq!(
            kv("4lw.commands.whitelist=stat, \\\n    ruok, \\\n    conf\nnext=1"),
            vec![
                e("4lw.commands.whitelist", "stat, ruok, conf", 1),
                e("next", "1", 4)
            ]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(kv("a=x\\\\\nb=y"), vec![e("a", "x\\", 1), e("b", "y", 2)]);
        // A comment ending in a backslash does not swallow the next line.
        assert_eq!(kv("# c \\\nb=y"), vec![e("b", "y", 2)]);
        // Continuation at end of file.
        assert_eq!(kv("a=x\\"), vec![e("a", "x", 1)]);
    }

    #[test]
    fn escapes() {
        assert_eq!(kv("a\\=b=c"), vec![e("a=b", "c", 1)]);
        assert_eq!(kv("a\\ b=c"), vec![e("a b", "c", 1)]);
        assert_eq!(kv("k=\\t\\u0041\\x"), vec![e("k", "\tAx", 1)]);
        assert_eq!(kv("k=\\ud83d\\ude00"), vec![e("k", "\u{1F600}", 1)]);
        // As in Java: single backslashes in Windows paths vanish.
        assert_eq!(
            kv("dataDir=C:\\zk\\data"),
            vec![e("dataDir", "C:zkdata", 1)]
        );
    }

    #[test]
    fn bad_unicode_escape_is_an_error_with_line() {
        let err = parse("a=1\nk=\\u00zz").expect_err("malformed");
        assert_eq!(err.line, 2);
        assert_eq!(err.message, "malformed \\uXXXX escape");
        let err = parse("k=\\ud83d").expect_err("unpaired");
        assert_eq!(err.message, "unpaired surrogate in \\uXXXX escape");
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert_eq!(kv("\u{feff}tickTime=1"), vec![e("tickTime", "1", 1)]);
    }
}
