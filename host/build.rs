//! Builds the bundled handler components (dashboard, market, report) for
//! `wasm32-wasip2` and embeds them, so `cargo run -p strata` serves the
//! whole service from source with nothing else installed.
//!
//! The nested build is `strata-wasm-build`'s (its own target directory, none
//! of the outer build's settings); the `wasm32-wasip2` target is installed
//! on demand, because automatic toolchain installs are off on CI machines.

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;

use strata_wasm_build::TARGET;

const COMPONENTS: [&str; 3] = ["dashboard", "market", "report"];

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

    strata_wasm_build::ensure_target().unwrap_or_else(|e| fail(&e));
    let target_dir = workspace.join("target").join("components");
    strata_wasm_build::Build {
        workspace: &workspace,
        target_dir: &target_dir,
        packages: &COMPONENTS,
        features: &[],
        clear: &[],
        env: &[],
    }
    .run()
    .unwrap_or_else(|e| fail(&e));

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

    embed_wit(&workspace.join("wit"), &out_dir);
}

/// Embeds the WIT this host serves (`wit/host.wit` and every package in
/// `wit/deps`) for `strata new`, which writes it into a new project: a
/// package vendored here later reaches new projects with no other change.
fn embed_wit(wit: &std::path::Path, out_dir: &std::path::Path) {
    let mut deps: Vec<PathBuf> = std::fs::read_dir(wit.join("deps"))
        .unwrap_or_else(|e| fail(&format!("cannot read wit/deps: {e}")))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .collect();
    deps.sort();
    let mut generated = format!(
        "/// `wit/host.wit`.\npub const HOST_WIT: &str = include_str!({:?});\n\n\
         /// `wit/deps/*.wit`, by file name.\npub const WIT_DEPS: &[(&str, &str)] = &[\n",
        wit.join("host.wit").display().to_string()
    );
    for path in deps {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_else(|| fail(&format!("{} has no UTF-8 name", path.display())));
        writeln!(
            generated,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    generated.push_str("];\n");
    std::fs::write(out_dir.join("wit_files.rs"), generated)
        .unwrap_or_else(|e| fail(&format!("cannot write wit_files.rs: {e}")));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
