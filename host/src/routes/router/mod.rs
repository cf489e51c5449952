//! Maps a request path and method to a component.
//!
//! Patterns are exact segments, `{param}` segments and a trailing `*`. When
//! several routes match, the more specific wins segment by segment (literal
//! beats parameter beats wildcard), so `/reports/latest` and `/reports/{id}`
//! can coexist. Two routes with the same shape and overlapping methods would
//! be ambiguous and are rejected when the router is built.

use std::collections::BTreeSet;

use thiserror::Error;

use serde::Deserialize;

/// One route: a path pattern, optional method filter, and its component.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `/exact`, `/with/{param}`, or `/prefix/*` (trailing wildcard).
    pub path: String,
    pub component: String,
    /// Allowed methods; empty allows all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Only admin callers may use the route (the admin listener, or the
    /// admin token on the public one); the host's own scheduler may too.
    /// For routes that cost upstream calls on demand, such as a refresh.
    #[serde(default)]
    pub admin: bool,
}

/// Why a set of routes cannot be served.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("route {path:?}: {message}")]
    Invalid { path: String, message: String },
    #[error("route {a:?} conflicts with {b:?} (same shape, overlapping methods {methods})")]
    Conflict {
        a: String,
        b: String,
        methods: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard,
}

impl Segment {
    /// Higher is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Wildcard => 0,
        }
    }

    /// The segment with parameter names erased, for conflict detection.
    fn shape(&self) -> String {
        match self {
            Segment::Literal(text) => format!("={text}"),
            Segment::Param(_) => "{}".into(),
            Segment::Wildcard => "*".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Route {
    pattern: String,
    segments: Vec<Segment>,
    /// Upper-case methods; empty = any.
    methods: BTreeSet<String>,
    component: String,
    admin: bool,
}

/// A successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// The pattern as written in the manifest, for logs and metrics labels.
    pub pattern: &'a str,
    /// `{param}` values, in pattern order; a trailing wildcard is `*`.
    pub params: Vec<(&'a str, String)>,
    /// Only admin callers (and the host itself) may use this route.
    pub admin: bool,
}

/// What the router decided for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed<'a> {
    Found(RouteMatch<'a>),
    /// The path exists but not for this method; the allowed ones are listed.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

/// An immutable routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the table, rejecting malformed patterns and ambiguous pairs.
    pub fn new(specs: &[RouteSpec]) -> Result<Self, RouteError> {
        let routes = specs
            .iter()
            .map(parse_route)
            .collect::<Result<Vec<_>, _>>()?;
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                let same_shape = a.segments.len() == b.segments.len()
                    && a.segments
                        .iter()
                        .zip(&b.segments)
                        .all(|(x, y)| x.shape() == y.shape());
                if !same_shape {
                    continue;
                }
                let overlap: Vec<String> = if a.methods.is_empty() || b.methods.is_empty() {
                    a.methods.union(&b.methods).cloned().collect()
                } else {
                    a.methods.intersection(&b.methods).cloned().collect()
                };
                let both_any = a.methods.is_empty() && b.methods.is_empty();
                if both_any || !overlap.is_empty() {
                    return Err(RouteError::Conflict {
                        a: a.pattern.clone(),
                        b: b.pattern.clone(),
                        methods: if both_any {
                            "ANY".into()
                        } else {
                            overlap.join(",")
                        },
                    });
                }
            }
        }
        Ok(Self { routes })
    }

    /// Whether some route for `path` (whatever its methods) is admin-only,
    /// so that what the path accepts is not told to other callers.
    pub fn guards(&self, path: &str) -> bool {
        let parts = split_path(path);
        self.routes
            .iter()
            .any(|route| route.admin && match_rank(&route.segments, &parts).is_some())
    }

    /// Finds the most specific route for `method` and `path`.
    pub fn route(&self, method: &str, path: &str) -> Routed<'_> {
        let parts: Vec<&str> = split_path(path);
        let mut best: Option<(&Route, Vec<u8>)> = None;
        let mut allowed = BTreeSet::new();
        for route in &self.routes {
            let Some(rank) = match_rank(&route.segments, &parts) else {
                continue;
            };
            if !route.methods.is_empty() && !route.methods.contains(method) {
                allowed.extend(route.methods.iter().cloned());
                continue;
            }
            if best.as_ref().is_none_or(|(_, r)| rank > *r) {
                best = Some((route, rank));
            }
        }
        match best {
            Some((route, _)) => Routed::Found(RouteMatch {
                component: &route.component,
                pattern: &route.pattern,
                params: extract_params(&route.segments, &parts),
                admin: route.admin,
            }),
            None if !allowed.is_empty() => Routed::MethodNotAllowed(allowed.into_iter().collect()),
            None => Routed::NotFound,
        }
    }
}

fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Specificity of `segments` matching `parts`: one entry per path segment
/// (literal 2, parameter 1, covered by a wildcard 0) and a final entry that
/// prefers an exact end (1) to a wildcard (0). All vectors for one path have
/// the same length, so comparing them lexicographically lets the first
/// differing segment decide.
fn match_rank(segments: &[Segment], parts: &[&str]) -> Option<Vec<u8>> {
    let mut rank = Vec::with_capacity(parts.len() + 1);
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Wildcard => {
                rank.resize(parts.len(), 0);
                rank.push(0);
                return Some(rank);
            }
            Segment::Literal(text) if parts.get(i) == Some(&text.as_str()) => {}
            Segment::Param(_) if parts.get(i).is_some() => {}
            _ => return None,
        }
        rank.push(segment.rank());
    }
    if segments.len() != parts.len() {
        return None;
    }
    rank.push(1);
    Some(rank)
}

fn extract_params<'a>(segments: &'a [Segment], parts: &[&str]) -> Vec<(&'a str, String)> {
    let mut params = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Param(name) => params.push((name.as_str(), decode(parts[i]))),
            Segment::Wildcard => params.push(("*", parts[i..].join("/"))),
            Segment::Literal(_) => {}
        }
    }
    params
}

/// Percent-decodes a path segment; invalid escapes are kept literally.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_route(spec: &RouteSpec) -> Result<Route, RouteError> {
    let invalid = |message: &str| RouteError::Invalid {
        path: spec.path.clone(),
        message: message.to_string(),
    };
    if !spec.path.starts_with('/') {
        return Err(invalid("must start with '/'"));
    }
    let parts = split_path(&spec.path);
    let mut segments = Vec::with_capacity(parts.len());
    let mut names = BTreeSet::new();
    for (i, part) in parts.iter().enumerate() {
        let segment = if *part == "*" {
            if i + 1 != parts.len() {
                return Err(invalid("'*' is only allowed as the last segment"));
            }
            Segment::Wildcard
        } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(invalid(&format!(
                    "parameter {name:?} must be lower-case letters, digits and '_'"
                )));
            }
            if !names.insert(name.to_string()) {
                return Err(invalid(&format!("parameter {name:?} appears twice")));
            }
            Segment::Param(name.to_string())
        } else if part.contains(['{', '}', '*']) {
            return Err(invalid(&format!(
                "segment {part:?} mixes literal text with '{{', '}}' or '*'"
            )));
        } else {
            Segment::Literal(part.to_string())
        };
        segments.push(segment);
    }
    let mut methods = BTreeSet::new();
    for method in &spec.methods {
        let upper = method.to_ascii_uppercase();
        if upper.is_empty() || !upper.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid(&format!("method {method:?} is not an HTTP method")));
        }
        methods.insert(upper);
    }
    Ok(Route {
        pattern: spec.path.clone(),
        segments,
        methods,
        component: spec.component.clone(),
        admin: spec.admin,
    })
}

#[cfg(test)]
mod tests;
