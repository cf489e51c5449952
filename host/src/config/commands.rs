//! Commands other than serving: `new` writes a project; the others talk to
//! a running host's admin API.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The running host a command talks to.
#[derive(Debug, Clone, Args)]
pub struct AdminTarget {
    /// The host's admin base URL (its public URL when it uses a token;
    /// the token is STRATA_ADMIN_TOKEN).
    #[arg(
        long,
        env = "STRATA_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub admin_url: String,
}

/// Commands other than serving. Each but `new` talks to a running host's
/// admin API; through the shared database, a change reaches every instance.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Create a component project that builds and serves as it is:
    /// `strata new --lang python NAME` (rust, python or js).
    New {
        /// The component's name, also its folder's: lowercase words
        /// joined by '-'.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: crate::scaffold::Language,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Deploy one component (`strata deploy NAME FILE`), or a whole app
    /// (`strata deploy --manifest strata.toml`: components, routes, grants
    /// and cache families, with the files it names uploaded alongside).
    Deploy {
        /// Component name, as declared in the active manifest.
        #[arg(required_unless_present = "manifest")]
        name: Option<String>,
        /// The `.wasm` component file.
        #[arg(required_unless_present = "manifest")]
        file: Option<PathBuf>,
        /// A manifest to make active, instead of one component.
        #[arg(long, conflicts_with_all = ["name", "file"])]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Roll a component (NAME) or the whole manifest (`--manifest`) back
    /// to what was active before.
    Rollback {
        #[arg(required_unless_present = "manifest")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        manifest: bool,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Show the active manifest, what the host serves and the history.
    Apps {
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Show every instance sharing the database and what each serves.
    Status {
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Compile a component read from stdin into the compile cache: the
    /// host runs this itself for large components (`strata_runtime::CompileWorker`).
    #[command(hide = true)]
    CompileWorker {
        /// The engine settings and cache folder, as the host passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}
