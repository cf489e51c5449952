//! Builds the test components (`tests/components/*`) for `wasm32-wasip2`
//! and writes `programs.rs`: one path constant per artifact, copied into
//! `OUT_DIR` under a stable name (the same crate is built more than once,
//! with different settings, and cargo overwrites its artifact each time).
//!
//! The nested build itself is `strata-wasm-build`'s, as for the host's
//! handler components.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

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
        constant: "EXAMPLE_HELLO_RUST",
        file: "hello-rust.wasm",
        package: "example-hello-rust",
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
        "examples/hello-rust",
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
    check_js_wit_links(&workspace).unwrap_or_else(|e| fail(&e));
    for example in FOREIGN {
        let shipped = out_dir.join(example.file);
        example
            .build(&workspace, &shipped)
            .unwrap_or_else(|e| fail(&format!("{} ({}): {e}", example.file, example.constant)));
        writeln!(
            generated,
            "/// `{}`, built by `{}` in `examples/{}`.\npub const {}: &str = {:?};",
            example.file,
            example.tool,
            example.dir,
            example.constant,
            shipped.display().to_string()
        )
        .expect("writing to a String cannot fail");
        all.push(example.constant);
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

/// An example built by another language's toolchain, which
/// `scripts/setup.sh` installs inside the example's folder (a Python
/// virtual environment, an npm project), so the version is the one the
/// example pins.
struct Foreign {
    constant: &'static str,
    file: &'static str,
    /// The example's folder under `examples/`.
    dir: &'static str,
    /// Its sources, relative to that folder.
    sources: &'static [&'static str],
    /// The tool, relative to that folder.
    tool: &'static str,
    /// Its arguments; `{out}` is the artifact's path.
    args: &'static [&'static str],
}

const FOREIGN: &[Foreign] = &[
    Foreign {
        constant: "EXAMPLE_HELLO_PYTHON",
        file: "hello-python.wasm",
        dir: "hello-python",
        sources: &["app.py", "wit", "requirements.txt"],
        tool: ".venv/bin/componentize-py",
        args: &[
            "-d",
            "../../wit",
            "-d",
            "wit",
            "-w",
            "example:hello-python/app",
            "componentize",
            "app",
            "-o",
            "{out}",
        ],
    },
    Foreign {
        constant: "EXAMPLE_HELLO_JS",
        file: "hello-js.wasm",
        dir: "hello-js",
        sources: &["hello.js", "wit", "package.json", "package-lock.json"],
        tool: "node_modules/.bin/componentize-js",
        args: &[
            "hello.js",
            "--wit",
            "wit",
            "--world-name",
            "app",
            "--disable",
            "fetch-event",
            "-o",
            "{out}",
        ],
    },
];

impl Foreign {
    /// Builds the example unless its artifact is newer than every source
    /// (the example's files and the WIT): these toolchains take seconds to
    /// tens of seconds and have no incremental build of their own.
    fn build(&self, workspace: &Path, out: &Path) -> Result<(), String> {
        let dir = workspace.join("examples").join(self.dir);
        let tool = dir.join(self.tool);
        if !tool.exists() {
            return Err(format!(
                "{} is missing: run `bash scripts/setup.sh`, which installs it",
                tool.display()
            ));
        }
        let mut sources = newest(&workspace.join("wit"))?;
        for source in self.sources {
            let path = dir.join(source);
            println!("cargo:rerun-if-changed={}", path.display());
            sources = sources.max(newest(&path)?);
        }
        let built = std::fs::metadata(out).and_then(|m| m.modified()).ok();
        if built.is_some_and(|built| built > sources) {
            return Ok(());
        }
        // Built under another name and renamed when complete, so an
        // interrupted build never leaves a truncated artifact that is
        // newer than its sources.
        let partial = out.with_extension("partial.wasm");
        let partial_arg = partial.display().to_string();
        let args = self.args.iter().map(|a| {
            if *a == "{out}" {
                partial_arg.as_str()
            } else {
                a
            }
        });
        let output = Command::new(&tool)
            .args(args)
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        if output.status.success() {
            std::fs::rename(&partial, out)
                .map_err(|e| format!("renaming {} to {}: {e}", partial.display(), out.display()))
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                self.tool,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// componentize-js reads one WIT folder with a flat `deps/`, so the JS
/// example links each of this repository's WIT files there; a package
/// vendored later must be linked too, or the example stops resolving.
fn check_js_wit_links(workspace: &Path) -> Result<(), String> {
    let linked = workspace.join("examples/hello-js/wit/deps");
    let entries = std::fs::read_dir(workspace.join("wit/deps"))
        .map_err(|e| format!("reading wit/deps: {e}"))?;
    for entry in entries {
        let name = entry
            .map_err(|e| format!("reading wit/deps: {e}"))?
            .file_name();
        if !linked.join(&name).exists() {
            return Err(format!(
                "examples/hello-js/wit/deps lacks {0}: link it with `ln -s ../../../../wit/deps/{0} examples/hello-js/wit/deps/`",
                name.to_string_lossy()
            ));
        }
    }
    Ok(())
}

/// The newest modification time of `path`, a file or a folder of them.
/// `metadata` follows symbolic links (the JS example's WIT), so a changed
/// contract counts.
fn newest(path: &Path) -> Result<SystemTime, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return meta
            .modified()
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        newest = newest.max(self::newest(&entry.path())?);
    }
    Ok(newest)
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
