//! The shape of the host's code, kept as the structure issue left it: no
//! import circle between the modules of any host-side crate, and files small
//! enough to read in one sitting. A circle is what made every new capability
//! touch a dozen files; these tests fail on the change that brings one back.
//!
//! Imports are read from the source text (`crate::a::b`, `super::x`,
//! `super::{x, y}`), at module granularity: an edge joins the two sibling
//! modules under the closest common parent of the importing and the imported
//! module, so a module and its own submodules are one unit, as in Rust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest file allowed in a host-side crate.
const MAX_LINES: usize = 400;
/// The median file length the host-side crates must stay under.
const MAX_MEDIAN_LINES: usize = 150;

type ModulePath = Vec<String>;

/// The `src` folders of the host binary and of every crate under `crates/`
/// that the host links (test support excluded).
fn host_side_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = vec![root.join("host/src")];
    let crates = std::fs::read_dir(root.join("crates")).expect("crates/");
    for entry in crates {
        let dir = entry.expect("crates/ entry").path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !matches!(name, "testkit" | "test-programs") && dir.join("src").is_dir() {
            sources.push(dir.join("src"));
        }
    }
    sources
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("source entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines, relative to its crate root.
fn module_of(src: &Path, file: &Path) -> ModulePath {
    let relative = file.strip_prefix(src).expect("inside src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file's code without its `#[cfg(test)] mod tests { .. }` block and
/// without comment lines.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the code names through `crate::` or `super::`, as
/// (relative to `super`?, segments).
fn named_paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut found = Vec::new();
    for (keyword, from_super) in [("crate::", false), ("super::", true)] {
        let mut rest = code;
        while let Some(at) = rest.find(keyword) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + keyword.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let item = item.split(" as ").next().unwrap_or_default().trim();
                    if !item.is_empty() {
                        found.push((from_super, item.split("::").map(str::to_string).collect()));
                    }
                }
                continue;
            }
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let segments = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            found.push((from_super, segments));
        }
    }
    found
}

/// Edges between sibling modules of one crate (see the module docs).
fn module_edges(src: &Path) -> BTreeSet<(ModulePath, ModulePath)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<ModulePath, PathBuf> = files
        .iter()
        .map(|file| (module_of(src, file), file.clone()))
        .collect();
    let mut edges = BTreeSet::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("source file");
        for (from_super, segments) in named_paths(&code(&text)) {
            let mut target: ModulePath = if from_super {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                Vec::new()
            };
            for segment in segments {
                if segment == "self" {
                    continue;
                }
                let mut next = target.clone();
                next.push(segment);
                if !modules.contains_key(&next) {
                    break;
                }
                target = next;
            }
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                continue;
            }
            edges.insert((module[..=common].to_vec(), target[..=common].to_vec()));
        }
    }
    edges
}

/// One import circle among `edges`, if there is any.
fn find_circle(edges: &BTreeSet<(ModulePath, ModulePath)>) -> Option<Vec<ModulePath>> {
    let mut next: BTreeMap<&ModulePath, Vec<&ModulePath>> = BTreeMap::new();
    for (from, to) in edges {
        next.entry(from).or_default().push(to);
    }
    fn visit<'a>(
        node: &'a ModulePath,
        next: &BTreeMap<&'a ModulePath, Vec<&'a ModulePath>>,
        stack: &mut Vec<&'a ModulePath>,
        done: &mut BTreeSet<&'a ModulePath>,
    ) -> Option<Vec<ModulePath>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut circle: Vec<ModulePath> = stack[at..].iter().map(|n| (*n).clone()).collect();
            circle.push(node.clone());
            return Some(circle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(circle) = visit(to, next, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    next.keys()
        .find_map(|node| visit(node, &next, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_a_host_side_crate_imports_in_a_circle() {
    for src in host_side_sources() {
        if let Some(circle) = find_circle(&module_edges(&src)) {
            let shown: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            panic!("import circle in {}: {}", src.display(), shown.join(" -> "));
        }
    }
}

#[test]
fn the_circle_finder_sees_a_circle_between_siblings() {
    let edge = |a: &str, b: &str| (vec![a.to_string()], vec![b.to_string()]);
    let circle: BTreeSet<_> = [
        edge("http", "live"),
        edge("live", "app"),
        edge("app", "http"),
    ]
    .into();
    assert!(find_circle(&circle).is_some());
    let chain: BTreeSet<_> = [edge("http", "app"), edge("app", "live")].into();
    assert_eq!(find_circle(&chain), None);
}

#[test]
fn imports_are_read_from_crate_and_super_paths() {
    let paths = named_paths(
        "use crate::routes::Router;\nuse super::{conn, error::ApiError as E};\nx::super::y",
    );
    assert!(paths.contains(&(false, vec!["routes".into(), "Router".into()])));
    assert!(paths.contains(&(true, vec!["conn".into()])));
    assert!(paths.contains(&(true, vec!["error".into(), "ApiError".into()])));
    assert_eq!(paths.len(), 3, "{paths:?}");
}

#[test]
fn host_side_files_stay_short() {
    let mut lengths = Vec::new();
    for src in host_side_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let lines = std::fs::read_to_string(&file)
                .expect("source file")
                .lines()
                .count();
            assert!(
                lines <= MAX_LINES,
                "{} has {lines} lines (at most {MAX_LINES})",
                file.display()
            );
            lengths.push(lines);
        }
    }
    lengths.sort_unstable();
    let median = lengths[lengths.len() / 2];
    assert!(
        median <= MAX_MEDIAN_LINES,
        "median file length {median} (at most {MAX_MEDIAN_LINES})"
    );
}
