//! Property-based tests for the untrusted-input surfaces: cache keys and
//! patterns, the manifest parser, the router and the component upload path.
//!
//! They stand in for fuzzing (cargo-fuzz needs nightly): each property is
//! one behaviour, checked on a modest number of generated cases so the file
//! runs in seconds in CI. Failure persistence is off so a run never writes
//! regression files into the source tree; a failure prints its minimal
//! (shrunk) input instead, which belongs in a unit test next to the fix.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use strata::config::manifest::DEFAULT_MANIFEST;
use strata::config::{Manifest, RouteSpec};
use strata::routes::{Routed, Router};
use strata::runtime::ComponentPlan;
use strata_keys::{
    CacheKeys, KeyError, MAX_KEY_LEN, family, glob_match, literal_prefix, validate_key,
    validate_pattern,
};

/// Cases per property for the pure (fast) surfaces.
const CASES: u32 = 256;
/// Cases per property that feeds bytes to the upload path.
const WASM_CASES: u32 = 64;
/// Cases for corrupted copies of the real component: most still parse, so
/// each one is a full compile (about 0.25 s in release on two cores).
const COMPILE_CASES: u32 = 16;

/// `cases` per property, or `PROPTEST_CASES` when set (for longer runs:
/// `PROPTEST_CASES=5000 cargo test --release -p strata --test all properties::`).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-')
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Strings that are often almost keys: key characters, wildcards, spaces,
/// a control character, a non-ASCII letter, and lengths around the limit.
fn key_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9:_.*? \n\u{e9}-]{0,12}",
        "[a-z:]{240,260}",
    ]
}

/// Texts made of letters (any script), digits and spaces.
fn letters_digits_spaces() -> impl Strategy<Value = String> {
    "[\\p{L}\\p{Nd} \u{a0}\t]{0,16}"
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn an_accepted_key_is_non_empty_bounded_and_made_of_key_characters(key in key_like()) {
        if validate_key(&key).is_ok() {
            prop_assert!(!key.is_empty());
            prop_assert!(key.len() <= MAX_KEY_LEN);
            prop_assert!(key.chars().all(is_key_char), "{key:?}");
        }
    }

    #[test]
    fn every_non_empty_bounded_string_of_key_characters_is_a_valid_key(
        key in "[A-Za-z0-9:_.-]{1,250}",
    ) {
        prop_assert_eq!(validate_key(&key), Ok(()));
    }

    #[test]
    fn a_key_error_names_the_real_problem(key in key_like()) {
        match validate_key(&key) {
            Ok(()) => {}
            Err(KeyError::Empty) => prop_assert!(key.is_empty()),
            Err(KeyError::TooLong(len)) => {
                prop_assert_eq!(len, key.len());
                prop_assert!(len > MAX_KEY_LEN);
            }
            Err(KeyError::BadChar(c, at)) => {
                prop_assert!(key[at..].starts_with(c), "{key:?} {c:?} {at}");
                prop_assert!(!is_key_char(c));
                prop_assert!(key[..at].chars().all(is_key_char));
            }
        }
    }

    #[test]
    fn a_pattern_is_valid_exactly_when_it_is_a_key_up_to_its_wildcards(text in key_like()) {
        let as_key = text.replace(['*', '?'], "a");
        prop_assert_eq!(validate_pattern(&text).is_ok(), validate_key(&as_key).is_ok());
    }

    #[test]
    fn built_keys_are_lowercase_and_free_of_whitespace(
        symbol in letters_digits_spaces(),
        indicator in letters_digits_spaces(),
        period in letters_digits_spaces(),
    ) {
        for key in [
            CacheKeys::market_data(&symbol),
            CacheKeys::technical_indicator(&symbol, &indicator, &period),
        ] {
            prop_assert_eq!(&key.to_lowercase(), &key);
            prop_assert!(!key.chars().any(char::is_whitespace), "{key:?}");
        }
        let market = CacheKeys::market_data(&symbol);
        prop_assert_eq!(family(&market), "market");
        let indicator_key = CacheKeys::technical_indicator(&symbol, &indicator, &period);
        prop_assert_eq!(family(&indicator_key), "indicator");
    }

    #[test]
    fn built_keys_ignore_case_and_surrounding_spaces(symbol in "[A-Za-z0-9 ]{0,16}") {
        let canonical = CacheKeys::market_data(&symbol);
        prop_assert_eq!(&CacheKeys::market_data(&symbol.to_uppercase()), &canonical);
        prop_assert_eq!(&CacheKeys::market_data(&format!("  {symbol} ")), &canonical);
    }

    #[test]
    fn keys_built_from_short_ascii_alphanumeric_inputs_are_valid(
        symbol in "[A-Za-z0-9 ]{0,20}",
        indicator in "[A-Za-z0-9 ]{0,20}",
        period in "[A-Za-z0-9 ]{0,20}",
    ) {
        let market = CacheKeys::market_data(&symbol);
        prop_assert_eq!(validate_key(&market), Ok(()), "{:?}", market);
        let indicator_key = CacheKeys::technical_indicator(&symbol, &indicator, &period);
        prop_assert_eq!(validate_key(&indicator_key), Ok(()), "{:?}", indicator_key);
        prop_assert_eq!(indicator_key.matches(':').count(), 3);
    }
}

// ---------------------------------------------------------------------------
// Patterns and glob matching
// ---------------------------------------------------------------------------

/// The obvious recursive glob: `*` is any run of bytes, `?` one byte.
fn reference_glob(pattern: &[u8], key: &[u8]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((b'*', rest)) => (0..=key.len()).any(|i| reference_glob(rest, &key[i..])),
        Some((b'?', rest)) => !key.is_empty() && reference_glob(rest, &key[1..]),
        Some((c, rest)) => key.first() == Some(c) && reference_glob(rest, &key[1..]),
    }
}

/// A key that `pattern` must match: each `*` replaced by some run and each
/// `?` by one character.
fn instantiate(pattern: &str, fills: &[String]) -> String {
    let mut key = String::new();
    let mut next = fills.iter().cycle();
    for c in pattern.chars() {
        match c {
            '*' => key.push_str(next.next().map_or("", String::as_str)),
            '?' => key.push('q'),
            c => key.push(c),
        }
    }
    key
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn glob_match_never_panics(pattern in key_like(), key in key_like()) {
        let _ = glob_match(&pattern, &key);
    }

    #[test]
    fn a_pattern_without_wildcards_matches_exactly_itself(
        pattern in "[ab:.]{0,8}",
        key in "[ab:.]{0,8}",
    ) {
        prop_assert!(glob_match(&pattern, &pattern));
        prop_assert_eq!(glob_match(&pattern, &key), pattern == key);
    }

    #[test]
    fn star_matches_every_key(key in key_like()) {
        prop_assert!(glob_match("*", &key));
    }

    #[test]
    fn prefix_star_matches_exactly_the_keys_with_that_prefix(
        prefix in "[ab:]{0,5}",
        key in "[ab:]{0,8}",
    ) {
        let pattern = format!("{prefix}*");
        prop_assert_eq!(glob_match(&pattern, &key), key.starts_with(&prefix));
    }

    #[test]
    fn glob_match_agrees_with_the_reference_matcher(
        pattern in "[ab*?:]{0,8}",
        key in "[ab:]{0,10}",
    ) {
        prop_assert_eq!(
            glob_match(&pattern, &key),
            reference_glob(pattern.as_bytes(), key.as_bytes())
        );
    }

    #[test]
    fn a_pattern_matches_every_key_formed_by_filling_its_wildcards(
        pattern in "[ab*?:]{0,10}",
        fills in vec("[ab:?*]{0,4}", 1..4),
    ) {
        let key = instantiate(&pattern, &fills);
        prop_assert!(glob_match(&pattern, &key), "{pattern:?} {key:?}");
    }

    #[test]
    fn literal_prefix_is_the_longest_wildcard_free_prefix(pattern in key_like()) {
        let prefix = literal_prefix(&pattern);
        prop_assert!(pattern.starts_with(prefix));
        prop_assert!(!prefix.contains(['*', '?']));
        let rest = &pattern[prefix.len()..];
        prop_assert!(rest.is_empty() || rest.starts_with(['*', '?']), "{pattern:?}");
    }

    #[test]
    fn every_key_a_pattern_matches_starts_with_its_literal_prefix(
        pattern in "[ab*?:]{0,8}",
        key in "[ab:]{0,10}",
        fills in vec("[ab:]{0,4}", 1..4),
    ) {
        let prefix = literal_prefix(&pattern);
        for key in [key, instantiate(&pattern, &fills)] {
            if glob_match(&pattern, &key) {
                prop_assert!(key.starts_with(prefix), "{pattern:?} {key:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------

/// `Manifest::parse` with the error as text. It expands `${VAR}` from the
/// process environment; generated variable names are practically never
/// set, so results do not depend on where the tests run.
fn parse(text: &str) -> Result<Manifest, String> {
    Manifest::parse(text, PathBuf::from(".")).map_err(|e| e.to_string())
}

/// One edit of a text, at a position taken modulo its length.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, &'static str),
    Delete(usize, usize),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let significant = select(vec![
        '[', ']', '{', '}', '=', '\n', '"', '\'', '$', ':', '-', '*', '/', '.', ',', '#', '\\',
        ' ', 'a', 'Z', '0', '\u{0}', '\u{e9}',
    ]);
    let token = select(vec![
        "${",
        "}",
        "${NOT_SET_ANYWHERE}",
        "\n[[routes]]\npath = \"/x\"\ncomponent = \"market\"\n",
        "\n[components.x]\n",
        "\nsource = \"\"\n",
        "\\n",
        "\\u0000",
        "\"",
        "{x}",
        "/*",
        "\n",
        "= 1",
        "[\"a b\"]",
        "\u{e9}",
    ]);
    prop_oneof![
        (any::<usize>(), significant).prop_map(|(at, c)| Edit::Replace(at, c)),
        (any::<usize>(), token).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match *edit {
            Edit::Replace(at, c) => {
                if !chars.is_empty() {
                    chars[at % len] = c;
                }
            }
            Edit::Insert(at, token) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, token.chars());
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::DuplicateLine(at) => {
                let joined: String = chars.iter().collect();
                let lines: Vec<&str> = joined.split_inclusive('\n').collect();
                if !lines.is_empty() {
                    let i = at % lines.len();
                    let mut out = String::new();
                    for (j, line) in lines.iter().enumerate() {
                        out.push_str(line);
                        if j == i {
                            out.push_str(line);
                        }
                    }
                    chars = out.chars().collect();
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// A TOML basic string holding `text` exactly.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Field text: mostly plausible, sometimes hostile (control characters,
/// quotes, braces, non-ASCII). Never `$`, so no environment expansion.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9:._/-]{0,8}",
        2 => "[a-z:/ \n\t\"\\\\{}*\r]{0,6}",
        1 => "\\PC{0,6}".prop_map(|s| s.replace('$', "")),
    ]
}

#[derive(Debug, Clone)]
struct GenComponent {
    name: String,
    source: String,
    cache_prefixes: Vec<String>,
    sql: &'static str,
    outbound: Vec<String>,
    timeout_ms: Option<u64>,
    warmup: Vec<String>,
}

#[derive(Debug, Clone)]
struct GenRoute {
    path: String,
    component: String,
    methods: Vec<String>,
}

fn gen_component() -> impl Strategy<Value = GenComponent> {
    (
        prop_oneof![4 => "[a-z0-9_-]{1,6}", 1 => field_text()],
        prop_oneof![3 => "[a-z]{1,6}\\.wasm", 1 => Just("builtin:market".to_string()), 1 => field_text()],
        vec(prop_oneof![3 => "[a-z]{1,6}:", 1 => field_text()], 0..3),
        select(vec!["none", "read-only", "read-write", "write-only"]),
        vec(
            prop_oneof![
                select(vec!["example.com", "localhost:8080", "https://api.example.com/v1"])
                    .prop_map(String::from),
                field_text(),
            ],
            0..2,
        ),
        prop::option::of(0u64..3),
        vec(prop_oneof!["/[a-z]{0,5}", field_text()], 0..2),
    )
        .prop_map(
            |(name, source, cache_prefixes, sql, outbound, timeout_ms, warmup)| GenComponent {
                name,
                source,
                cache_prefixes,
                sql,
                outbound,
                timeout_ms,
                warmup,
            },
        )
}

fn gen_route(names: Vec<String>) -> impl Strategy<Value = GenRoute> {
    let component = if names.is_empty() {
        Just("ghost".to_string()).boxed()
    } else {
        prop_oneof![5 => select(names), 1 => field_text()].boxed()
    };
    (
        prop_oneof![4 => route_pattern(), 1 => field_text()],
        component,
        vec(
            select(vec!["GET", "post", "Bad-Method", ""]).prop_map(String::from),
            0..3,
        ),
    )
        .prop_map(|(path, component, methods)| GenRoute {
            path,
            component,
            methods,
        })
}

fn gen_manifest() -> impl Strategy<Value = (Vec<GenComponent>, Vec<GenRoute>)> {
    vec(gen_component(), 0..4).prop_flat_map(|components| {
        let names: Vec<String> = components.iter().map(|c| c.name.clone()).collect();
        (Just(components), vec(gen_route(names), 0..4))
    })
}

fn render(components: &[GenComponent], routes: &[GenRoute]) -> String {
    let mut text = String::new();
    for c in components {
        text.push_str(&format!("[components.{}]\n", toml_string(&c.name)));
        text.push_str(&format!("source = {}\n", toml_string(&c.source)));
        text.push_str(&format!(
            "cache_prefixes = {}\n",
            toml_list(&c.cache_prefixes)
        ));
        text.push_str(&format!("sql = {}\n", toml_string(c.sql)));
        text.push_str(&format!("outbound = {}\n", toml_list(&c.outbound)));
        if let Some(ms) = c.timeout_ms {
            text.push_str(&format!("timeout_ms = {ms}\n"));
        }
        text.push_str(&format!("warmup = {}\n\n", toml_list(&c.warmup)));
    }
    for r in routes {
        text.push_str("[[routes]]\n");
        text.push_str(&format!("path = {}\n", toml_string(&r.path)));
        text.push_str(&format!("component = {}\n", toml_string(&r.component)));
        text.push_str(&format!("methods = {}\n\n", toml_list(&r.methods)));
    }
    text
}

/// Everything `Manifest::parse` promises about a manifest it accepted.
fn assert_validated(manifest: &Manifest) -> Result<(), TestCaseError> {
    for (name, spec) in &manifest.components {
        prop_assert!(!name.is_empty());
        prop_assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'),
            "component name {name:?}"
        );
        prop_assert!(!spec.source.trim().is_empty());
        let unique: BTreeSet<&String> = spec.cache_prefixes.iter().collect();
        prop_assert_eq!(unique.len(), spec.cache_prefixes.len());
        for prefix in &spec.cache_prefixes {
            prop_assert_eq!(validate_key(prefix), Ok(()));
        }
        for host in &spec.outbound {
            prop_assert!(
                strata::upstream::AllowedHost::parse(host).is_ok(),
                "{host:?}"
            );
        }
        prop_assert_ne!(spec.timeout_ms, Some(0));
        prop_assert!(spec.warmup.iter().all(|p| p.starts_with('/')));
    }
    for route in &manifest.routes {
        prop_assert!(manifest.components.contains_key(&route.component));
    }
    prop_assert!(Router::new(&manifest.routes).is_ok());
    Ok(())
}

fn assert_one_line(result: &Result<Manifest, String>) -> Result<(), TestCaseError> {
    if let Err(message) = result {
        prop_assert!(!message.contains('\n'), "multi-line error: {message:?}");
        prop_assert!(!message.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn parsing_any_text_gives_a_manifest_or_a_one_line_error(text in any::<String>()) {
        assert_one_line(&parse(&text))?;
    }

    #[test]
    fn parsing_an_edited_default_manifest_gives_a_validated_manifest_or_a_one_line_error(
        edits in vec(edit(), 1..5),
    ) {
        let text = apply(DEFAULT_MANIFEST, &edits);
        let result = parse(&text);
        assert_one_line(&result)?;
        if let Ok(manifest) = &result {
            assert_validated(manifest)?;
        }
    }

    #[test]
    fn parsing_a_generated_manifest_gives_a_validated_manifest_or_a_one_line_error(
        (components, routes) in gen_manifest(),
    ) {
        let text = render(&components, &routes);
        let result = parse(&text);
        assert_one_line(&result)?;
        if let Ok(manifest) = &result {
            assert_validated(manifest)?;
        }
    }

    #[test]
    fn a_well_formed_manifest_parses_to_what_it_declares(
        specs in vec(("[a-z0-9_-]{1,8}", "[a-z]{1,6}\\.wasm", vec("[a-z]{1,6}:", 0..3)), 1..4),
        route_count in 0usize..4,
    ) {
        let mut components: Vec<GenComponent> = Vec::new();
        for (name, source, mut prefixes) in specs {
            if components.iter().any(|c| c.name == name) {
                continue;
            }
            prefixes.sort();
            prefixes.dedup();
            components.push(GenComponent {
                name,
                source,
                cache_prefixes: prefixes,
                sql: "read-only",
                outbound: vec!["example.com".into()],
                timeout_ms: Some(1000),
                warmup: vec!["/warm".into()],
            });
        }
        let routes: Vec<GenRoute> = (0..route_count)
            .map(|i| GenRoute {
                path: format!("/r{i}/{{id}}"),
                component: components[i % components.len()].name.clone(),
                methods: vec!["GET".into()],
            })
            .collect();
        let manifest = parse(&render(&components, &routes)).map_err(TestCaseError::fail)?;
        let declared: BTreeSet<&str> = components.iter().map(|c| c.name.as_str()).collect();
        let parsed: BTreeSet<&str> = manifest.components.keys().map(String::as_str).collect();
        prop_assert_eq!(declared, parsed);
        for c in &components {
            let spec = &manifest.components[&c.name];
            prop_assert_eq!(&spec.source, &c.source);
            prop_assert_eq!(&spec.cache_prefixes, &c.cache_prefixes);
        }
        let paths: Vec<&str> = manifest.routes.iter().map(|r| r.path.as_str()).collect();
        let expected: Vec<&str> = routes.iter().map(|r| r.path.as_str()).collect();
        prop_assert_eq!(paths, expected);
    }
}

// ---------------------------------------------------------------------------
// Router
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param(String),
    Wild,
}

fn segments(pattern: &str) -> Vec<Seg> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "*" {
                Seg::Wild
            } else if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Seg::Param(name.to_string())
            } else {
                Seg::Lit(s.to_string())
            }
        })
        .collect()
}

fn path_parts(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Specificity of `pattern` for `parts` per the router's documented rule,
/// or `None` when it does not match: one entry per path segment (literal 2,
/// parameter 1, covered by the wildcard 0), then 1 when the pattern ended
/// exactly with the path and 0 when a wildcard took the (maybe empty) rest.
/// Compared lexicographically, so the first differing segment decides and
/// an exact pattern beats a wildcard that matches nothing.
fn specificity(pattern: &str, parts: &[&str]) -> Option<Vec<u8>> {
    let segs = segments(pattern);
    let mut rank = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Wild => {
                rank.extend(std::iter::repeat_n(0, parts.len() - i));
                rank.push(0);
                return Some(rank);
            }
            Seg::Lit(text) if parts.get(i) == Some(&text.as_str()) => rank.push(2),
            Seg::Param(_) if i < parts.len() => rank.push(1),
            _ => return None,
        }
    }
    (segs.len() == parts.len()).then(|| {
        rank.push(1);
        rank
    })
}

fn upper(methods: &[String]) -> BTreeSet<String> {
    methods.iter().map(|m| m.to_ascii_uppercase()).collect()
}

fn allows(spec: &RouteSpec, method: &str) -> bool {
    spec.methods.is_empty() || upper(&spec.methods).contains(method)
}

/// Route patterns over a small alphabet so that routes overlap: literal
/// segments, `{param}` segments and an optional trailing `*`.
fn route_pattern() -> impl Strategy<Value = String> {
    (
        vec(
            prop_oneof![3 => select(vec!["a", "b", "ab"]).prop_map(Some), 2 => Just(None)],
            0..4,
        ),
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(segs, wildcard, trailing_slash)| {
            let mut parts: Vec<String> = segs
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Some(lit) => lit.to_string(),
                    None => format!("{{p{i}}}"),
                })
                .collect();
            if wildcard {
                parts.push("*".into());
            }
            let mut path = format!("/{}", parts.join("/"));
            if trailing_slash && !parts.is_empty() {
                path.push('/');
            }
            path
        })
}

/// Patterns that may be malformed: misplaced `*`, bad or repeated
/// parameter names, mixed segments, no leading `/`.
fn any_route_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => route_pattern(),
        2 => vec(select(vec!["a", "{x}", "{X}", "{}", "*", "a{x}", "{x", "%2F", ""]), 0..4)
            .prop_map(|segs| format!("/{}", segs.join("/"))),
        1 => "[a-z/{}*]{0,8}",
        1 => any::<String>(),
    ]
}

fn methods() -> impl Strategy<Value = Vec<String>> {
    select(vec![
        vec![],
        vec!["GET"],
        vec!["POST"],
        vec!["get", "HEAD"],
        vec!["GET", "POST"],
    ])
    .prop_map(|ms| ms.into_iter().map(String::from).collect())
}

fn route_specs(pattern: BoxedStrategy<String>) -> impl Strategy<Value = Vec<RouteSpec>> {
    vec((pattern, methods()), 0..7).prop_map(|routes| {
        routes
            .into_iter()
            .enumerate()
            .map(|(i, (path, methods))| RouteSpec {
                path,
                component: format!("c{i}"),
                methods,
                admin: false,
            })
            .collect()
    })
}

/// The largest prefix-built subset of `specs` the router accepts, so every
/// case gets a usable table.
fn accepted(specs: Vec<RouteSpec>) -> (Router, Vec<RouteSpec>) {
    let mut kept: Vec<RouteSpec> = Vec::new();
    for spec in specs {
        kept.push(spec);
        if Router::new(&kept).is_err() {
            kept.pop();
        }
    }
    let router = Router::new(&kept).expect("every kept route was accepted");
    (router, kept)
}

fn request_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (vec(select(vec!["a", "b", "ab", "c", "1", "", "%61", "b%20c"]), 0..5), any::<bool>())
            .prop_map(|(parts, slash)| {
                let mut path = format!("/{}", parts.join("/"));
                if slash {
                    path.push('/');
                }
                path
            }),
        1 => "[a-z/%0-9{}*]{0,12}",
        1 => any::<String>(),
    ]
}

fn request_method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec!["GET", "POST", "HEAD", "DELETE", "get"]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// What the documented rule says `route` must answer.
#[derive(Debug)]
enum Expected<'a> {
    Found(&'a RouteSpec),
    MethodNotAllowed(Vec<String>),
    NotFound,
}

fn expected<'a>(specs: &'a [RouteSpec], method: &str, path: &str) -> Expected<'a> {
    let parts = path_parts(path);
    let mut best: Option<(&RouteSpec, Vec<u8>)> = None;
    let mut allowed = BTreeSet::new();
    for spec in specs {
        let Some(rank) = specificity(&spec.path, &parts) else {
            continue;
        };
        if !allows(spec, method) {
            allowed.extend(upper(&spec.methods));
            continue;
        }
        if best.as_ref().is_none_or(|(_, r)| rank > *r) {
            best = Some((spec, rank));
        }
    }
    match best {
        Some((spec, _)) => Expected::Found(spec),
        None if !allowed.is_empty() => Expected::MethodNotAllowed(allowed.into_iter().collect()),
        None => Expected::NotFound,
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn building_a_router_never_panics_and_routing_never_panics(
        specs in route_specs(any_route_pattern().boxed()),
        requests in vec((request_method(), request_path()), 1..8),
    ) {
        if let Ok(router) = Router::new(&specs) {
            for (method, path) in &requests {
                let _ = router.route(method, path);
            }
        }
    }

    #[test]
    fn well_formed_routes_are_rejected_exactly_when_two_have_one_shape_and_shared_methods(
        specs in route_specs(route_pattern().boxed()),
    ) {
        let shape = |pattern: &str| -> Vec<Seg> {
            segments(pattern)
                .into_iter()
                .map(|s| match s {
                    Seg::Param(_) => Seg::Param(String::new()),
                    other => other,
                })
                .collect()
        };
        let mut conflict = false;
        for (i, a) in specs.iter().enumerate() {
            for b in &specs[i + 1..] {
                let shared = a.methods.is_empty()
                    || b.methods.is_empty()
                    || !upper(&a.methods).is_disjoint(&upper(&b.methods));
                conflict |= shape(&a.path) == shape(&b.path) && shared;
            }
        }
        let built = Router::new(&specs);
        prop_assert_eq!(built.is_err(), conflict, "{:?}", built.err());
    }

    #[test]
    fn a_match_has_one_param_per_param_or_wildcard_segment_of_its_pattern(
        specs in route_specs(route_pattern().boxed()),
        requests in vec((request_method(), request_path()), 1..8),
    ) {
        let (router, _) = accepted(specs);
        for (method, path) in &requests {
            if let Routed::Found(found) = router.route(method, path) {
                let segs = segments(found.pattern);
                let names: Vec<&str> = segs
                    .iter()
                    .filter_map(|s| match s {
                        Seg::Param(name) => Some(name.as_str()),
                        Seg::Wild => Some("*"),
                        Seg::Lit(_) => None,
                    })
                    .collect();
                let got: Vec<&str> = found.params.iter().map(|(name, _)| *name).collect();
                prop_assert_eq!(got, names, "{} {}", method, path);
            }
        }
    }

    #[test]
    fn the_router_answers_with_the_most_specific_route_allowing_the_method(
        specs in route_specs(route_pattern().boxed()),
        requests in vec((request_method(), request_path()), 1..8),
    ) {
        let (router, specs) = accepted(specs);
        for (method, path) in &requests {
            let got = router.route(method, path);
            match (expected(&specs, method, path), got) {
                (Expected::Found(spec), Routed::Found(found)) => {
                    prop_assert_eq!(
                        (found.pattern, found.component),
                        (spec.path.as_str(), spec.component.as_str()),
                        "{} {} in {:?}", method, path, specs
                    );
                }
                (Expected::MethodNotAllowed(want), Routed::MethodNotAllowed(got)) => {
                    prop_assert_eq!(got, want);
                }
                (Expected::NotFound, Routed::NotFound) => {}
                (want, got) => prop_assert!(
                    false,
                    "{} {} in {:?}: expected {:?}, got {:?}", method, path, specs, want, got
                ),
            }
        }
    }

    #[test]
    fn a_literal_route_wins_its_own_path(
        specs in route_specs(route_pattern().boxed()),
    ) {
        let (router, specs) = accepted(specs);
        for spec in &specs {
            if !segments(&spec.path).iter().all(|s| matches!(s, Seg::Lit(_))) {
                continue;
            }
            let method = upper(&spec.methods).into_iter().next().unwrap_or_else(|| "GET".into());
            match router.route(&method, &spec.path) {
                Routed::Found(found) => prop_assert_eq!(
                    (found.pattern, found.component),
                    (spec.path.as_str(), spec.component.as_str()),
                    "{} {} in {:?}", method, spec.path, specs
                ),
                other => prop_assert!(false, "{} {}: {:?}", method, spec.path, other),
            }
        }
    }

    #[test]
    fn a_path_filled_into_a_route_is_served_by_that_route_or_a_more_specific_one(
        specs in route_specs(route_pattern().boxed()),
        pick in any::<usize>(),
        values in vec(select(vec!["a", "b", "ab", "c", "1", "b c"]), 0..4),
        tail in vec(select(vec!["a", "b", "x"]), 0..3),
    ) {
        let (router, specs) = accepted(specs);
        prop_assume!(!specs.is_empty());
        let spec = &specs[pick % specs.len()];
        let mut next = values.iter().cycle();
        let mut parts: Vec<String> = Vec::new();
        let mut filled: Vec<String> = Vec::new();
        for seg in segments(&spec.path) {
            match seg {
                Seg::Lit(text) => parts.push(text),
                Seg::Param(_) => {
                    let value = next.next().copied().unwrap_or("v");
                    filled.push(value.to_string());
                    parts.push(value.replace(' ', "%20"));
                }
                Seg::Wild => {
                    filled.push(tail.join("/"));
                    parts.extend(tail.iter().map(|s| s.to_string()));
                }
            }
        }
        let path = format!("/{}", parts.join("/"));
        let method = upper(&spec.methods).into_iter().next().unwrap_or_else(|| "POST".into());
        let path_parts = path_parts(&path);
        let own = specificity(&spec.path, &path_parts).expect("the route matches its own fill");
        match router.route(&method, &path) {
            Routed::Found(found) => {
                let theirs = specificity(found.pattern, &path_parts)
                    .expect("the found route matches the path");
                prop_assert!(
                    theirs >= own,
                    "{} {}: {} was chosen over the more specific {} in {:?}",
                    method, path, found.pattern, spec.path, specs
                );
                if found.component == spec.component {
                    let values: Vec<String> =
                        found.params.iter().map(|(_, v)| v.clone()).collect();
                    prop_assert_eq!(values, filled);
                }
            }
            other => prop_assert!(false, "{} {} in {:?}: {:?}", method, path, specs, other),
        }
    }
}

// ---------------------------------------------------------------------------
// Upload path
// ---------------------------------------------------------------------------

struct Host {
    tokio: tokio::runtime::Runtime,
    runtime: strata::runtime::Runtime,
    market: ComponentPlan,
    _dir: tempfile::TempDir,
}

/// One runtime for all the upload properties, sized small: building an engine
/// and linker is far more expensive than a rejected upload.
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        use std::sync::Arc;
        use strata::cache::{CacheSettings, L1Limits, TieredCache};
        use strata::data::{Database, PoolSettings};
        use strata::runtime::{EngineSettings, Runtime, RuntimeSettings, Services};
        use strata::upstream::{Outbound, OutboundSettings};

        let _ = rustls::crypto::ring::default_provider().install_default();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let manifest = Manifest::load_with(None, |_| None).expect("default manifest");
        let cache = Arc::new(TieredCache::new(
            CacheSettings {
                l1: L1Limits {
                    max_entries: 100,
                    max_bytes: 1 << 20,
                },
                l1_ttl: Duration::from_secs(60),
                l2_ttl: Duration::from_secs(60),
                stale_grace: Duration::from_secs(0),
                max_value_bytes: 1 << 16,
                l1_max_value_bytes: 1 << 16,
                max_ttl: Duration::from_secs(86_400),
                families: manifest.cache.families.clone(),
                flight_wait: Duration::from_secs(1),
                negative_ttl: Duration::from_secs(30),
                hot: strata_cache::HotKeySettings::default(),
            },
            None,
        ));
        let database = tokio
            .block_on(Database::sqlite(
                &dir.path().join("strata.db"),
                PoolSettings {
                    max_connections: 1,
                    acquire_timeout: Duration::from_secs(5),
                    row_limit: 100,
                    ..PoolSettings::default()
                },
            ))
            .expect("sqlite");
        let outbound = Outbound::new(OutboundSettings {
            default_timeout: Duration::from_secs(1),
            retries: 0,
            backoff: Duration::from_millis(10),
            max_response_bytes: 1 << 16,
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(1),
            max_redirects: 0,
            allow_networks: Vec::new(),
        })
        .expect("outbound client");
        let runtime = Runtime::new(
            RuntimeSettings {
                engine: EngineSettings {
                    max_instances: 4,
                    instance_memory_bytes: 16 << 20,
                    decommit_batch_size: 1,
                },
                default_timeout: Duration::from_secs(2),
                compile_cache: None,
                compile_worker: None,
                max_running: 4,
                component_spans: false,
            },
            Services {
                cache,
                database: Arc::new(database),
                outbound: Arc::new(outbound),
            },
        )
        .expect("runtime");
        Host {
            tokio,
            runtime,
            market: manifest
                .plan("market")
                .expect("the default manifest declares market")
                .clone(),
            _dir: dir,
        }
    })
}

fn market_bytes() -> &'static [u8] {
    strata::builtin::builtin_component("market").expect("the market component is built in")
}

/// The admin upload path for `bytes`: compile and check, then (when that
/// succeeds) instantiate once, as a deploy does. Returns whether it loaded.
fn upload(bytes: &[u8]) -> bool {
    let host = host();
    match host.runtime.load("market", bytes, &host.market) {
        Ok(loaded) => {
            // A component that compiles may still trap while starting; either
            // answer is fine, a panic or a hang is not.
            let _ = host
                .tokio
                .block_on(host.runtime.check_instantiates(&loaded));
            true
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
            false
        }
    }
}

#[test]
fn the_builtin_market_component_passes_the_upload_path() {
    let host = host();
    let loaded = host
        .runtime
        .load("market", market_bytes(), &host.market)
        .unwrap_or_else(|e| panic!("the unmodified component must load: {e}"));
    host.tokio
        .block_on(host.runtime.check_instantiates(&loaded))
        .unwrap_or_else(|e| panic!("the unmodified component must instantiate: {e}"));
}

proptest! {
    #![proptest_config(config(WASM_CASES))]

    #[test]
    fn random_bytes_are_refused(bytes in vec(any::<u8>(), 0..512)) {
        prop_assert!(!upload(&bytes));
    }

    #[test]
    fn random_bytes_behind_a_wasm_header_are_refused(
        header in select(vec![
            b"\0asm".to_vec(),
            b"\0asm\x01\0\0\0".to_vec(),
            b"\0asm\x0d\0\x01\0".to_vec(),
        ]),
        tail in vec(any::<u8>(), 0..512),
    ) {
        let bytes = [header, tail].concat();
        prop_assert!(!upload(&bytes));
    }

    #[test]
    fn a_truncated_component_is_loaded_or_refused_without_panicking(cut in any::<usize>()) {
        let bytes = market_bytes();
        let _ = upload(&bytes[..cut % bytes.len()]);
    }
}

proptest! {
    #![proptest_config(config(COMPILE_CASES))]

    #[test]
    fn a_component_with_corrupted_bytes_is_loaded_or_refused_without_panicking(
        flips in vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = market_bytes().to_vec();
        for (at, byte) in flips {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        let _ = upload(&bytes);
    }
}
