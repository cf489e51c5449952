//! Connection strings without their secrets, for anything a person or a
//! log pipeline reads: start-up errors, logs, health output.
//!
//! It works on the text rather than a parsed URL, so a string too broken to
//! parse (the very case an error message is about) is redacted too.

/// `text` with the credentials of every `scheme://user:password@host` in it
/// replaced by `***` (the user name is kept when a password follows it;
/// a lone user part, which may be a token, is hidden whole).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let token_start = scheme_end + 3;
        out.push_str(&rest[..token_start]);
        rest = &rest[token_start..];
        // A password may hold `/`, `?` or `#` (base64 does), so the
        // credentials end at the last `@` of the whole token.
        let token_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\''))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let userinfo_end = match token.rfind('@') {
            Some(at) if token[..at].contains(':') || !token[..at].contains('/') => Some(at),
            // `host/path@x`: an `@` after the path began is not a credential.
            _ => token
                .find(['/', '?', '#'])
                .and_then(|path| token[..path].rfind('@')),
        };
        match userinfo_end {
            Some(at) => {
                match token[..at].split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &rest[token_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/strata"),
            "postgres://app:***@db.internal:5432/strata"
        );
        assert_eq!(
            redact("redis://:s3cret@10.0.0.5:6379/"),
            "redis://:***@10.0.0.5:6379/"
        );
        assert_eq!(redact("redis://token@cache:6379"), "redis://***@cache:6379");
    }

    #[test]
    fn lists_and_broken_urls_are_redacted_too() {
        assert_eq!(
            redact("redis://:a@n1:7000,redis://:b@n2:7000"),
            "redis://:***@n1:7000,redis://:***@n2:7000"
        );
        assert_eq!(redact("redis://:p@ss@host:x"), "redis://:***@host:x");
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("redis://:se/cret@h:1"), "redis://:***@h:1");
        assert_eq!(
            redact("redis://:se#c?ret@h:1 and more"),
            "redis://:***@h:1 and more"
        );
        assert_eq!(
            redact("\"redis://:a/b@h\" is bad"),
            "\"redis://:***@h\" is bad"
        );
        assert_eq!(redact("http://host/a@b"), "http://host/a@b");
        assert_eq!(redact("http://host/path?a=b"), "http://host/path?a=b");
    }
}
