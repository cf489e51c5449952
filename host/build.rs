//! Builds the bundled handler components (dashboard, market, report) for
//! `wasm32-wasip2` and embeds them, so `cargo run -p strata` serves the
//! whole service from source with nothing else installed.
//!
//! The nested cargo uses its own target directory: the outer build holds the
//! lock on the main one. The `wasm32-wasip2` target is installed on demand,
//! because automatic toolchain installs are off on CI machines.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTS: [&str; 3] = ["dashboard", "market", "report"];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in ["components", "wit", "keys/src", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    ensure_target();
    let target_dir = workspace.join("target").join("components");
    build_components(&workspace, &target_dir);

    let mut generated = String::from(
        "/// Handler components compiled into this binary, by name.\n\
         pub fn builtin_component(name: &str) -> Option<&'static [u8]> {\n    match name {\n",
    );
    for name in COMPONENTS {
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"));
        if !wasm.is_file() {
            fail(&format!(
                "expected {} after building the components",
                wasm.display()
            ));
        }
        writeln!(
            generated,
            "        {name:?} => Some(include_bytes!({:?})),",
            wasm.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    generated.push_str("        _ => None,\n    }\n}\n\n/// Names of the built-in components.\npub const BUILTIN_COMPONENTS: &[&str] = &[");
    for name in COMPONENTS {
        write!(generated, "{name:?}, ").expect("writing to a String cannot fail");
    }
    generated.push_str("];\n");
    std::fs::write(out_dir.join("builtin_components.rs"), generated)
        .unwrap_or_else(|e| fail(&format!("cannot write builtin_components.rs: {e}")));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// Installs the wasm target when the toolchain lacks it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed =
        sysroot.is_some_and(|root| Path::new(&root).join("lib/rustlib").join(TARGET).is_dir());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target (rustup target add {TARGET})");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "`rustup target add {TARGET}` failed ({s}); install the target by hand and rebuild"
        )),
        Err(e) => fail(&format!(
            "the {TARGET} target is missing and rustup could not be run ({e}); \
             run `rustup target add {TARGET}` and rebuild"
        )),
    }
}

fn build_components(workspace: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for name in COMPONENTS {
        command.args(["-p", name]);
    }
    // Settings meant for the outer (native) build must not leak into the
    // wasm build: flags, wrappers such as clippy-driver, and the target.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    // A build script's stdout is read by cargo as directives; keep the
    // nested build's stdout out of it (its progress goes to stderr anyway).
    command.stdout(std::process::Stdio::null());
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the components for {TARGET} failed ({status}); see the cargo output above"
        )),
        Err(e) => fail(&format!("cannot run cargo to build the components: {e}")),
    }
}
