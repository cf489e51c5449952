//! Text from outside the host, made safe to log. A guest controls its log
//! messages, its trap messages and the names in its binary that wasmtime
//! quotes in errors; an upstream controls its error bodies; an operator's
//! connection strings carry passwords ([`redact`]).
//!
//! Control characters are written as escapes (`\n`, `\u{1b}`), so a guest
//! can neither start a forged line in a plain-text log nor drive the
//! operator's terminal; JSON logs escape the result again, harmlessly.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod redact;

use std::borrow::Cow;

pub use redact::redact;

/// `text` with every control character escaped.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// At most `max` characters of `text`, escaped, for a log line: one call
/// cannot write a megabyte of its own text into the log.
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => escape_controls(text),
        Some((cut, _)) => format!("{}…", escape_controls(&text[..cut])).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn a_guest_cannot_start_a_new_log_line() {
        let forged = "ok\n2026-01-01T00:00:00Z  INFO strata: admin token accepted\r\u{1b}[2J";
        let escaped = escape_controls(forged);
        assert!(!escaped.contains(['\n', '\r', '\u{1b}']), "{escaped}");
        assert!(escaped.starts_with("ok\\n2026"), "{escaped}");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let long = "é\n".repeat(300);
        let shown = super::bounded(&long, 4);
        assert_eq!(shown, "é\\né\\n…");
        assert_eq!(super::bounded("short", 4 + 1), "short");
    }

    #[test]
    fn ordinary_text_is_kept_as_is() {
        assert_eq!(escape_controls("prix: 42 € — ok"), "prix: 42 € — ok");
    }
}
