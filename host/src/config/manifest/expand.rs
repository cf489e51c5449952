//! `${VAR}` and `${VAR:-default}` references, expanded inside string
//! values only (never in keys or structure), so an environment value can
//! fill in a URL or a token but cannot add a grant or a route.

use super::ManifestError;

/// Expands references in every string value inside `value` (not in keys),
/// noting every reference that fails in `errors` (all of them, so a deploy
/// lists each missing variable at once).
pub(super) fn expand_strings(
    value: &mut toml::Value,
    lookup: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<ManifestError>,
) {
    match value {
        toml::Value::String(text) => match expand_env(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(e) => errors.push(e),
        },
        toml::Value::Array(items) => {
            for item in items {
                expand_strings(item, lookup, errors);
            }
        }
        toml::Value::Table(table) => {
            for (_, item) in table.iter_mut() {
                expand_strings(item, lookup, errors);
            }
        }
        _ => {}
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in one string with values from
/// `lookup`.
pub(super) fn expand_env(
    text: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find(['}', '\n'])
            .filter(|&end| after[end..].starts_with('}'))
            .ok_or_else(|| ManifestError::UnterminatedVar(text.to_string()))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ManifestError::UnterminatedVar(text.to_string()));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ManifestError::MissingVar(name.to_string())),
        }
        rest = &rest[start + 2 + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
