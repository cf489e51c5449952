//! The manifest: which components exist, what each may touch, and which
//! routes reach them.
//!
//! It is TOML so operators can read and diff it. `${VAR}` and `${VAR:-default}`
//! are expanded from the environment inside string values, after the TOML
//! is parsed, so one manifest serves every environment and a value can never
//! change the manifest's structure (a quote or newline in a variable stays
//! inside its string instead of adding a grant). Unknown fields are
//! rejected: a typo must fail loudly at start, not silently grant or deny
//! something.

mod expand;
mod instances;
mod upstreams;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use strata_cache::FamilyPolicy;
use strata_data::SqlGrant;
use strata_runtime::{ComponentPlan, Grants};
use strata_upstream::{AllowedHost, UpstreamBudget};

pub use crate::routes::RouteSpec;
use crate::routes::Router;
use thiserror::Error;

use expand::expand_strings;
pub use instances::InstanceMode;
use instances::instance_policy;
pub use upstreams::UpstreamSpec;

/// The manifest compiled into the binary: the three market-data components
/// with their routes, built from `components/` by `host/build.rs`.
pub const DEFAULT_MANIFEST: &str = include_str!("../default-manifest.toml");

/// Why a manifest could not be loaded.
#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest: {0}")]
    Parse(String),
    #[error("manifest references ${{{0}}} but that environment variable is not set")]
    MissingVar(String),
    #[error(
        "manifest: unterminated or malformed ${{...}} in {0:?} (use ${{NAME}} or ${{NAME:-default}})"
    )]
    UnterminatedVar(String),
    #[error("manifest: route {path:?} uses unknown component {component:?}")]
    UnknownComponent { path: String, component: String },
    #[error(
        "manifest: route {path:?} would never be reached: the host's own endpoint {endpoint} answers that path"
    )]
    ShadowedRoute {
        path: String,
        endpoint: &'static str,
    },
    #[error("manifest: component {0:?} has an invalid name (use a-z, 0-9, '-' and '_')")]
    BadComponentName(String),
    #[error("manifest: component {component:?}: {message}")]
    BadComponent { component: String, message: String },
    #[error("manifest: {0}")]
    Route(#[from] crate::routes::RouteError),
    #[error("manifest: [[upstreams]] entry {host:?}: {message}")]
    BadUpstream { host: String, message: String },
}

/// Where a component's wasm comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// Compiled into the binary (`builtin:NAME`).
    Builtin(String),
    /// A `.wasm` file, resolved relative to the manifest's folder.
    File(PathBuf),
}

/// One component's declaration and grants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// `builtin:NAME` or a path to a `.wasm` component.
    pub source: String,
    /// Cache key prefixes the component may read and write (e.g. `market:`).
    #[serde(default)]
    pub cache_prefixes: Vec<String>,
    /// SQL access level.
    #[serde(default)]
    pub sql: SqlGrant,
    /// Hosts the component may call: `host`, `host:port` or a base URL.
    #[serde(default)]
    pub outbound: Vec<String>,
    /// Settings the component reads through `strata:host/config`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Per-request wall-clock budget; overrides the host default.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Requests this component serves at once; more get 503.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// GET paths the host requests once after loading the component, to
    /// prime its caches (e.g. the latest report).
    #[serde(default)]
    pub warmup: Vec<String>,
    /// `fresh` (default): one instance per request. `warm`: instances are
    /// reused for later requests, so linear memory and globals persist
    /// between requests (host state does not).
    #[serde(default)]
    pub instances: InstanceMode,
    /// Warm only: requests one instance serves before it is retired.
    #[serde(default)]
    pub max_requests_per_instance: Option<u32>,
    /// Warm only: how long an unused instance is kept.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Warm only: most instances kept waiting at once.
    #[serde(default)]
    pub pool_size: Option<u32>,
    /// Warm only: an instance whose memory grew past this is retired.
    #[serde(default)]
    pub memory_high_water_mib: Option<u64>,
}

impl ComponentSpec {
    /// The parsed `source`.
    pub fn source(&self) -> ComponentSource {
        match self.source.strip_prefix("builtin:") {
            Some(name) => ComponentSource::Builtin(name.to_string()),
            None => ComponentSource::File(PathBuf::from(&self.source)),
        }
    }
}

/// Cache settings that belong with the components rather than the process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    #[serde(default)]
    pub families: BTreeMap<String, FamilyPolicy>,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub components: BTreeMap<String, ComponentSpec>,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    pub cache: CacheSection,
    /// Request budgets per upstream host (`[[upstreams]]`).
    #[serde(default)]
    pub upstreams: Vec<UpstreamSpec>,
    /// Folder that relative component paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Each component's grants and settings, parsed once by validation.
    #[serde(skip)]
    plans: BTreeMap<String, ComponentPlan>,
    /// The routing table `routes` compiles to, built once by validation.
    #[serde(skip)]
    router: Router,
    /// `upstreams`, validated.
    #[serde(skip)]
    budgets: Vec<UpstreamBudget>,
}

impl Manifest {
    /// Loads the file at `path`, or the embedded default when `None`,
    /// expanding `${VAR}` from the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ManifestError> {
        Self::load_with(path, |name| std::env::var(name).ok())
    }

    /// As [`Manifest::load`], with `lookup` answering `${VAR}` references
    /// (the host overrides some, such as the simulated upstream's URL).
    pub fn load_with(
        path: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ManifestError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                Self::parse_with(&text, base, lookup)
            }
            None => Self::parse_with(DEFAULT_MANIFEST, PathBuf::from("."), lookup),
        }
    }

    /// Expands environment references, parses and validates `text`.
    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Self, ManifestError> {
        Self::parse_with(text, base_dir, |name| std::env::var(name).ok())
    }

    fn parse_with(
        text: &str,
        base_dir: PathBuf,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ManifestError> {
        // Shape first, on the text as written, so errors name a line and
        // column; references only ever sit inside strings, which the shape
        // check does not look into.
        toml::from_str::<Manifest>(text).map_err(|e| ManifestError::Parse(one_line(&e, text)))?;
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ManifestError::Parse(one_line(&e, text)))?;
        for (_, value) in table.iter_mut() {
            expand_strings(value, &lookup)?;
        }
        let mut manifest = Manifest::deserialize(table)
            .map_err(|e| ManifestError::Parse(e.message().trim().replace('\n', " ")))?;
        manifest.base_dir = base_dir;
        (manifest.plans, manifest.router) = manifest.validate()?;
        manifest.budgets = upstreams::validate(&manifest.upstreams)?;
        Ok(manifest)
    }

    /// Path of a file-sourced component, resolved against the manifest.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// What the runtime needs to load component `name`.
    pub fn plan(&self, name: &str) -> Option<&ComponentPlan> {
        self.plans.get(name)
    }

    /// The routing table of [`Manifest::routes`].
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The request budgets of [`Manifest::upstreams`].
    pub fn budgets(&self) -> &[UpstreamBudget] {
        &self.budgets
    }

    /// Checks the whole manifest; returns each component's plan and the
    /// routing table, which the host then uses as they are.
    fn validate(&self) -> Result<(BTreeMap<String, ComponentPlan>, Router), ManifestError> {
        let mut plans = BTreeMap::new();
        for (name, spec) in &self.components {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                return Err(ManifestError::BadComponentName(name.clone()));
            }
            plans.insert(name.clone(), validate_component(name, spec)?);
        }
        for (family, policy) in &self.cache.families {
            check_family_ttls(family, policy)?;
            if policy
                .max_ttl_seconds
                .is_some_and(|max| max < policy.ttl_seconds)
            {
                return Err(ManifestError::Parse(format!(
                    "cache family {family:?}: max_ttl_seconds is below its ttl_seconds"
                )));
            }
        }
        for route in &self.routes {
            if !self.components.contains_key(&route.component) {
                return Err(ManifestError::UnknownComponent {
                    path: route.path.clone(),
                    component: route.component.clone(),
                });
            }
            if let Some(endpoint) = crate::routes::endpoints::shadows(&route.path) {
                return Err(ManifestError::ShadowedRoute {
                    path: route.path.clone(),
                    endpoint,
                });
            }
        }
        Ok((plans, Router::new(&self.routes)?))
    }
}

fn validate_component(name: &str, spec: &ComponentSpec) -> Result<ComponentPlan, ManifestError> {
    let bad = |message: String| ManifestError::BadComponent {
        component: name.to_string(),
        message,
    };
    if spec.source.trim().is_empty() {
        return Err(bad("source is empty".into()));
    }
    let mut seen = HashSet::new();
    for prefix in &spec.cache_prefixes {
        if prefix.is_empty() {
            return Err(bad(
                "an empty cache prefix would grant every key; list the families instead".into(),
            ));
        }
        strata_keys::validate_key(prefix)
            .map_err(|e| bad(format!("cache prefix {prefix:?}: {e}")))?;
        if !seen.insert(prefix) {
            return Err(bad(format!("cache prefix {prefix:?} is listed twice")));
        }
    }
    let outbound = spec
        .outbound
        .iter()
        .map(|host| {
            AllowedHost::parse(host).map_err(|e| bad(format!("outbound entry {host:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if spec.timeout_ms == Some(0) {
        return Err(bad("timeout_ms must be positive".into()));
    }
    if spec.max_concurrency == Some(0) {
        return Err(bad("max_concurrency must be positive".into()));
    }
    for path in &spec.warmup {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            return Err(bad(format!("warmup path {path:?} must start with '/'")));
        }
    }
    let instances = instance_policy(spec).map_err(bad)?;
    Ok(ComponentPlan {
        grants: Arc::new(Grants {
            cache_prefixes: spec.cache_prefixes.clone(),
            sql: spec.sql,
            outbound,
            config: spec.config.clone(),
        }),
        timeout: spec.timeout_ms.map(Duration::from_millis),
        warmup: spec.warmup.clone(),
        instances,
    })
}

/// A TOML error as one line (`line L, column C: message`): start-up
/// errors are printed on a single line.
fn one_line(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;

/// TTLs the cache can honour: a year-2500 deadline or a negative TTL of
/// days is a typo, and refused with the limit rather than cut silently.
fn check_family_ttls(family: &str, policy: &FamilyPolicy) -> Result<(), ManifestError> {
    let longest = strata_cache::LONGEST_TTL.as_secs();
    let longest_negative = strata_cache::LONGEST_NEGATIVE_TTL.as_secs();
    let over = |what: &str, value: u64, limit: u64| {
        ManifestError::Parse(format!(
            "cache family {family:?}: {what} = {value} is over the limit of {limit}"
        ))
    };
    for (what, value) in [
        ("ttl_seconds", Some(policy.ttl_seconds)),
        ("max_ttl_seconds", policy.max_ttl_seconds),
    ] {
        if let Some(value) = value.filter(|v| *v > longest) {
            return Err(over(what, value, longest));
        }
    }
    match policy.negative_ttl_seconds {
        Some(value) if value > longest_negative => {
            Err(over("negative_ttl_seconds", value, longest_negative))
        }
        _ => Ok(()),
    }
}
