//! Builds the test components (`tests/components/*`) for `wasm32-wasip2`
//! and writes `programs.rs`: one path constant per artifact, copied into
//! `OUT_DIR` under a stable name (the same crate is built more than once,
//! with different settings, and cargo overwrites its artifact each time).
//!
//! The nested build itself is `strata-wasm-build`'s, as for the host's
//! handler components.

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;

use strata_wasm_build::{Build, TARGET};

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
        constant: "HELLO",
        file: "hello.wasm",
        package: "test-hello",
        features: &[],
        env: &[],
    },
    Program {
        constant: "STANDARD",
        file: "standard.wasm",
        package: "test-standard",
        features: &[],
        env: &[],
    },
    Program {
        constant: "NARROW",
        file: "narrow.wasm",
        package: "test-narrow",
        features: &[],
        env: &[],
    },
    Program {
        constant: "KEYVALUE",
        file: "keyvalue.wasm",
        package: "test-keyvalue",
        features: &[],
        env: &[],
    },
    Program {
        constant: "KEYVALUE_DRAFT",
        file: "keyvalue-draft.wasm",
        package: "test-keyvalue",
        features: &["draft"],
        env: &[],
    },
    Program {
        constant: "LEGACY",
        file: "legacy.wasm",
        package: "test-legacy",
        features: &[],
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
        Build {
            workspace: &workspace,
            target_dir: &target_dir,
            packages: &[program.package],
            features: program.features,
            // An outer environment's echo version must not leak in either.
            clear: &["ECHO_VERSION"],
            env: program.env,
        }
        .run()
        .unwrap_or_else(|e| fail(&format!("{} ({}): {e}", program.file, program.constant)));
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
