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
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest
            .find(['/', '?', '#', ',', ' ', '"', '\''])
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
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
        assert_eq!(redact("http://host/path?a=b"), "http://host/path?a=b");
    }
}
