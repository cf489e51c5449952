//! Building guest components for `wasm32-wasip2` from inside a build
//! script. Two build scripts do it: the host's embeds the handler
//! components, test-programs' builds the test ones. Both must keep the
//! outer, native build's settings out of the nested one (flags, wrappers
//! such as clippy-driver, the target) and use a target directory of their
//! own, because the outer build holds the lock on the main one; that rule
//! lives here once.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};

/// The target guest components are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Variables the outer cargo exports for the native build, which would
/// otherwise leak into the wasm one.
const OUTER_BUILD_VARS: [&str; 8] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_PRIMARY_PACKAGE",
];

/// One nested `cargo build --release --target wasm32-wasip2`.
pub struct Build<'a> {
    /// The workspace root the packages belong to.
    pub workspace: &'a Path,
    /// The nested build's own target directory.
    pub target_dir: &'a Path,
    /// Packages to build (`-p`).
    pub packages: &'a [&'a str],
    /// Cargo features to enable; empty for none.
    pub features: &'a [&'a str],
    /// Extra variables of the caller's environment to clear as well.
    pub clear: &'a [&'a str],
    /// Variables to set for the nested build.
    pub env: &'a [(&'a str, &'a str)],
}

impl Build<'_> {
    /// Runs the build; the error names what failed, for the caller to
    /// report.
    pub fn run(&self) -> Result<(), String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(self.workspace)
            .args(["build", "--release", "--target", TARGET])
            .arg("--target-dir")
            .arg(self.target_dir);
        for package in self.packages {
            command.args(["-p", package]);
        }
        if !self.features.is_empty() {
            command.args(["--features", &self.features.join(",")]);
        }
        for var in OUTER_BUILD_VARS.iter().chain(self.clear) {
            command.env_remove(var);
        }
        command.envs(self.env.iter().copied());
        // A build script's stdout is read by cargo as directives; keep the
        // nested build's out of it (its progress goes to stderr anyway).
        command.stdout(Stdio::null());
        let packages = self.packages.join(", ");
        match command.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!(
                "building {packages} for {TARGET} failed ({status}); see the cargo output above"
            )),
            Err(e) => Err(format!("cannot run cargo to build {packages}: {e}")),
        }
    }
}

/// Installs the wasm target when the toolchain lacks it (automatic
/// toolchain installs are off on CI machines).
pub fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed =
        sysroot.is_some_and(|root| Path::new(&root).join("lib/rustlib").join(TARGET).is_dir());
    if installed {
        return Ok(());
    }
    println!("cargo:warning=installing the {TARGET} target (rustup target add {TARGET})");
    match Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "`rustup target add {TARGET}` failed ({s}); install the target by hand and rebuild"
        )),
        Err(e) => Err(format!(
            "the {TARGET} target is missing and rustup could not be run ({e}); \
             run `rustup target add {TARGET}` and rebuild"
        )),
    }
}
