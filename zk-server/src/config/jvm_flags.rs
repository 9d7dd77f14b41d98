//! Splitting of `SERVER_JVMFLAGS` / `JVMFLAGS` style strings into words.
//!
//! zkServer.sh passes these variables unquoted to `java`, so the shell has
//! already split them; we get the string from the environment instead and
//! split it ourselves. Quotes are honoured the way a POSIX shell does, because
//! real settings contain things like `-XX:OnOutOfMemoryError='kill -9 %p'`.

/// Splits `input` into words: blanks separate words, `'...'` is literal,
/// `"..."` allows `\"`, `\\`, `\$` and `` \` `` escapes, and a backslash
/// outside quotes escapes the next character.
pub(super) fn split_words(input: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    // `''` is an (empty) word, so "inside a word" is tracked separately.
    let mut in_word = false;
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("unterminated ' quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("unterminated \" quote".to_string()),
                        },
                        Some(c) => current.push(c),
                        None => return Err("unterminated \" quote".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(c) => current.push(c),
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_blanks() {
        assert_eq!(
            split_words("  -Xmx1g\t-Da=b \n -Dc=d ").expect("valid"),
            vec!["-Xmx1g", "-Da=b", "-Dc=d"]
        );
        assert_eq!(split_words("").expect("valid"), Vec::<String>::new());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            split_words(r#"-XX:OnOutOfMemoryError='kill -9 %p' -Dx="a \"b\" \q" -Dy=a\ b ''"#)
                .expect("valid"),
            vec![
                "-XX:OnOutOfMemoryError=kill -9 %p",
                r#"-Dx=a "b" \q"#,
                "-Dy=a b",
                ""
            ]
        );
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert_eq!(
            split_words("-Da='x"),
            Err("unterminated ' quote".to_string())
        );
        assert_eq!(
            split_words("-Da=\"x"),
            Err("unterminated \" quote".to_string())
        );
    }
}
