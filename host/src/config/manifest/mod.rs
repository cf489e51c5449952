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
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_cache::FamilyPolicy;
use strata_data::SqlGrant;
use strata_runtime::ComponentPlan;
use strata_upstream::UpstreamBudget;

pub use crate::routes::RouteSpec;
use crate::routes::Router;
use thiserror::Error;

use expand::expand_strings;
pub use instances::InstanceMode;
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
    #[error(
        "manifest references ${{{0}}} but that environment variable is not set (a deployed manifest reads only those its host's startup manifest uses or STRATA_MANIFEST_ENV lists)"
    )]
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
    /// Several problems at once: a deploy lists every one, so a fix does
    /// not take a round trip per mistake.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<ManifestError>),
}

impl ManifestError {
    /// Every problem, one message each.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ManifestError::Many(all) => all.iter().flat_map(ManifestError::messages).collect(),
            one => vec![one.to_string()],
        }
    }

    /// `Ok` for no errors, else one error standing for all of them.
    fn from_list(errors: Vec<ManifestError>) -> Result<(), ManifestError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Self::gather(errors))
        }
    }

    /// One error standing for `errors` (itself, when there is one).
    fn gather(mut errors: Vec<ManifestError>) -> ManifestError {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ManifestError::Many(errors)
        }
    }
}

/// Where a component's wasm comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// Compiled into the binary (`builtin:NAME`).
    Builtin(String),
    /// A `.wasm` file, resolved relative to the manifest's folder.
    File(PathBuf),
    /// A binary stored in the deployment store (`sha256:HASH`): how a
    /// deployed manifest names the files uploaded with it, so every
    /// instance finds the same bytes.
    Stored(String),
}

/// The `source` prefix of a stored binary.
pub const STORED_PREFIX: &str = "sha256:";

/// One component's declaration and grants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// `wasi:keyvalue` buckets: bucket name -> the cache key prefix its
    /// keys are stored under (`{ default = "session:" }`). None: the
    /// component cannot open any.
    #[serde(default)]
    pub keyvalue: BTreeMap<String, String>,
    /// This component's share of L1, in MiB: its entries are evicted only
    /// to make room for its own. Default: an even share of what the
    /// explicit budgets leave (see `strata_cache::partitions`).
    #[serde(default)]
    pub cache_l1_mib: Option<u64>,
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
        if let Some(name) = self.source.strip_prefix("builtin:") {
            ComponentSource::Builtin(name.to_string())
        } else if let Some(hash) = self.source.strip_prefix(STORED_PREFIX) {
            ComponentSource::Stored(hash.to_string())
        } else {
            ComponentSource::File(PathBuf::from(&self.source))
        }
    }

    /// Whether `other` differs from this only in where the bytes come
    /// from: same grants, limits and instance policy.
    pub fn same_terms(&self, other: &ComponentSpec) -> bool {
        let mut other = other.clone();
        other.source.clone_from(&self.source);
        *self == other
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
    /// Each component's claim on L1: every prefix it can write (cache
    /// grants and key-value buckets) and its `cache_l1_mib`.
    pub fn cache_tenants(&self) -> Vec<strata_cache::Tenant> {
        self.components
            .iter()
            .map(|(name, spec)| strata_cache::Tenant {
                name: name.clone(),
                prefixes: spec
                    .cache_prefixes
                    .iter()
                    .chain(spec.keyvalue.values())
                    .cloned()
                    .collect(),
                l1_bytes: spec.cache_l1_mib.map(|mib| mib << 20),
            })
            .collect()
    }

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
        let (text, base) = Self::read(path)?;
        Self::parse_with(&text, base, lookup)
    }

    /// The text at `path` (or the embedded default) and the folder its
    /// relative sources are resolved against.
    pub fn read(path: Option<&Path>) -> Result<(String, PathBuf), ManifestError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                // An empty folder means "uploaded, not on disk" to deploys.
                let base = if base.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    base
                };
                Ok((text, base))
            }
            None => Ok((DEFAULT_MANIFEST.to_string(), PathBuf::from("."))),
        }
    }

    /// Expands environment references, parses and validates `text`.
    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Self, ManifestError> {
        Self::parse_with(text, base_dir, |name| std::env::var(name).ok())
    }

    /// As [`Manifest::parse`], with `lookup` answering `${VAR}` references.
    pub fn parse_with(
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
        // Every failing reference is noted and validation goes on, so one
        // answer lists every problem.
        let mut errors = Vec::new();
        for (_, value) in table.iter_mut() {
            expand_strings(value, &lookup, &mut errors);
        }
        let mut manifest = match Manifest::deserialize(table) {
            Ok(manifest) => manifest,
            Err(e) => {
                errors.push(ManifestError::Parse(e.message().trim().replace('\n', " ")));
                return Err(ManifestError::gather(errors));
            }
        };
        manifest.base_dir = base_dir;
        match (
            manifest.validate(),
            upstreams::validate(&manifest.upstreams),
        ) {
            (Ok((plans, router)), Ok(budgets)) => {
                (manifest.plans, manifest.router, manifest.budgets) = (plans, router, budgets);
            }
            (shape, budgets) => errors.extend([shape.err(), budgets.err()].into_iter().flatten()),
        }
        ManifestError::from_list(errors)?;
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
