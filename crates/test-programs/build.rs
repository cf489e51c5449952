//! Builds the test components (`tests/components/*`) for `wasm32-wasip2`
//! and writes `programs.rs`: one path constant per artifact, copied into
//! `OUT_DIR` under a stable name (the same crate is built more than once,
//! with different settings, and cargo overwrites its artifact each time).
//!
//! As in `host/build.rs`, the nested cargo uses its own target directory
//! (the outer build holds the lock on the main one) and none of the
//! settings the outer, native build exports.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// One artifact: constant name, file name, package, cargo arguments and
/// environment of its build, and the artifact cargo writes.
struct Program {
    constant: &'static str,
    file: &'static str,
    package: &'static str,
    features: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

/// Each `echo` version is baked in by `option_env!("ECHO_VERSION")`, which
/// cargo tracks, so switching it rebuilds only `test-echo`; the same holds
/// for `badinit`'s feature.
const PROGRAMS: &[Program] = &[
    Program {
        constant: "ECHO_V1",
        file: "echo-v1.wasm",
        package: "test-echo",
        features: &[],
        env: &[("ECHO_VERSION", "v1")],
    },
    Program {
        constant: "ECHO_V2",
        file: "echo-v2.wasm",
        package: "test-echo",
        features: &[],
        env: &[("ECHO_VERSION", "v2")],
    },
    Program {
        constant: "HOSTILE",
        file: "hostile.wasm",
        package: "test-hostile",
        features: &[],
        env: &[],
    },
    Program {
        constant: "BADINIT",
        file: "badinit.wasm",
        package: "test-badinit",
        features: &[],
        env: &[],
    },
    Program {
        constant: "BADINIT_FIRST_CALL",
        file: "badinit-first-call.wasm",
        package: "test-badinit",
        features: &["first-call-trap"],
        env: &[],
    },
    Program {
        constant: "WRONGWORLD",
        file: "wrongworld.wasm",
        package: "test-wrongworld",
        features: &[],
        env: &[],
    },
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("crates/test-programs lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    // The components, the SDK and key rules they build on, the contract.
    for watched in [
        "tests/components",
        "components/sdk",
        "keys/src",
        "wit",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let target_dir = workspace.join("target").join("test-programs");
    let built = target_dir.join(TARGET).join("release");
    let mut generated = String::new();
    let mut all = Vec::new();
    for program in PROGRAMS {
        build(&workspace, &target_dir, program);
        let artifact = built.join(format!("{}.wasm", program.package.replace('-', "_")));
        let shipped = out_dir.join(program.file);
        std::fs::copy(&artifact, &shipped).unwrap_or_else(|e| {
            fail(&format!(
                "copying {} to {}: {e}",
                artifact.display(),
                shipped.display()
            ))
        });
        writeln!(
            generated,
            "/// `{}`, built for `{TARGET}`{}.\npub const {}: &str = {:?};",
            program.file,
            describe(program),
            program.constant,
            shipped.display().to_string()
        )
        .expect("writing to a String cannot fail");
        all.push(program.constant);
    }
    writeln!(
        generated,
        "\n/// Every test component above.\npub const ALL: &[&str] = &[{}];",
        all.join(", ")
    )
    .expect("writing to a String cannot fail");
    std::fs::write(out_dir.join("programs.rs"), generated)
        .unwrap_or_else(|e| fail(&format!("cannot write programs.rs: {e}")));
}

fn describe(program: &Program) -> String {
    let mut settings: Vec<String> = program
        .env
        .iter()
        .map(|(name, value)| format!("`{name}={value}`"))
        .collect();
    settings.extend(program.features.iter().map(|f| format!("feature `{f}`")));
    if settings.is_empty() {
        String::new()
    } else {
        format!(" with {}", settings.join(", "))
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

fn build(workspace: &Path, target_dir: &Path, program: &Program) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        .args(["-p", program.package]);
    if !program.features.is_empty() {
        command.args(["--features", &program.features.join(",")]);
    }
    // Settings meant for the outer (native) build must not leak into the
    // wasm build: flags, wrappers such as clippy-driver, the target, and
    // the echo version of an outer environment.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "ECHO_VERSION",
    ] {
        command.env_remove(var);
    }
    command.envs(program.env.iter().copied());
    // A build script's stdout is read by cargo as directives; keep the
    // nested build's out of it (its progress goes to stderr anyway).
    command.stdout(Stdio::null());
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building {} for {TARGET} failed ({status}); see the cargo output above",
            program.file
        )),
        Err(e) => fail(&format!(
            "cannot run cargo to build the test components: {e}"
        )),
    }
}
