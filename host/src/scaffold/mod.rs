//! `strata new`: a component project to start from, in Rust, Python or
//! JavaScript, that builds and serves as it is.
//!
//! The Python and JavaScript sources are the examples' own
//! (`examples/hello-python`, `examples/hello-js`), which the test build
//! compiles with the same toolchains, so a scaffold cannot rot apart from
//! what is tested. Every project gets this host's WIT as real files in the
//! flat `wit/deps/` layout every toolchain reads (wit-bindgen,
//! componentize-py, componentize-js), and a world of its own that includes
//! `strata:host/proxy` and `strata:host/with-config` only: a component
//! imports what its world names, and a manifest must grant each import.

use std::path::{Path, PathBuf};

mod wit {
    include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));
}

/// How a project serves itself while it is developed: the startup
/// manifest (this folder's build) wins over the one stored at its last run.
pub const SERVE: &str = "STRATA_MANIFEST=strata.toml STRATA_STARTUP_MANIFEST_WINS=1 strata";

/// The `strata:host` version new projects build against; a unit test
/// holds it to `wit/host.wit`.
const STRATA_HOST_VERSION: &str = "0.1.2";
/// The wit-bindgen a Rust project uses: the workspace's (a unit test
/// holds it to `Cargo.toml`).
const WIT_BINDGEN_VERSION: &str = "0.61.1";
/// Longest project name: a WIT package name and a crate name both allow it.
const MAX_NAME: usize = 63;
/// Names the WIT parser reads as keywords (so `package local:NAME;` would
/// not parse) or that clash with a crate a Rust project depends on.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "error-context",
    "export",
    "f32",
    "f64",
    "flags",
    "float32",
    "float64",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "map",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
    "alloc",
    "core",
    "proc-macro",
    "std",
    "test",
    "wit-bindgen",
];

/// The languages a project can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with wit-bindgen (`cargo build --target wasm32-wasip2`).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

/// Why a project was not created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a component, WIT package and folder name at once.
    #[error(
        "{0:?} cannot name a project: use lowercase words of letters and digits, each starting with a letter, joined by single '-', at most {MAX_NAME} characters, and not a WIT keyword (world, type, ...) or std, core, test"
    )]
    Name(String),
    /// The folder is already there; nothing is overwritten.
    #[error("{0} already exists; choose another name or folder")]
    Exists(PathBuf),
    /// Writing failed (the partial project is removed).
    #[error("cannot write {path}: {source}")]
    Write {
        /// What could not be written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A created project.
#[derive(Debug)]
pub struct Project {
    /// Its folder.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
    /// How to build it, run in `dir`.
    pub build: String,
}

/// Creates project `name` in `parent/name` (which must not exist).
pub fn create(parent: &Path, name: &str, language: Language) -> Result<Project, ScaffoldError> {
    validate_name(name)?;
    let files = files(name, language);
    let dir = parent.join(name);
    std::fs::create_dir(&dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            ScaffoldError::Exists(dir.clone())
        } else {
            ScaffoldError::Write {
                path: dir.clone(),
                source,
            }
        }
    })?;
    if let Err(error) = write_all(&dir, &files) {
        // The folder is ours (create_dir made it): a half-written project
        // would only confuse the next attempt.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(error);
    }
    Ok(Project {
        dir,
        files: files.into_iter().map(|(path, _)| path).collect(),
        build: build_command(name, language),
    })
}

/// A name usable as the component's name in a manifest, as a WIT package
/// name (`local:NAME`), a crate and npm package name and a folder.
fn validate_name(name: &str) -> Result<(), ScaffoldError> {
    // Every word starts with a letter: older WIT parsers (those bundled
    // with componentize-py and componentize-js) require it.
    let words_ok = name.split('-').all(|word| {
        word.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if words_ok && name.len() <= MAX_NAME && !RESERVED.contains(&name) {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.to_owned()))
    }
}

fn write_all(dir: &Path, files: &[(String, String)]) -> Result<(), ScaffoldError> {
    for (relative, text) in files {
        let path = dir.join(relative);
        let written = match path.parent() {
            Some(folder) => std::fs::create_dir_all(folder),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(&path, text));
        written.map_err(|source| ScaffoldError::Write { path, source })?;
    }
    Ok(())
}

/// Every file of a new project, by path relative to its folder.
fn files(name: &str, language: Language) -> Vec<(String, String)> {
    let mut files = vec![
        ("wit/app.wit".to_owned(), app_wit(name)),
        (
            "wit/deps/strata-host.wit".to_owned(),
            wit::HOST_WIT.to_owned(),
        ),
    ];
    files.extend(
        wit::WIT_DEPS
            .iter()
            .map(|(file, text)| (format!("wit/deps/{file}"), (*text).to_owned())),
    );
    match language {
        Language::Rust => {
            files.push(("Cargo.toml".to_owned(), cargo_toml(name)));
            files.push((
                "src/lib.rs".to_owned(),
                include_str!("templates/rust-lib.rs").to_owned(),
            ));
        }
        Language::Python => {
            files.push((
                "app.py".to_owned(),
                include_str!("../../../examples/hello-python/app.py").to_owned(),
            ));
            files.push((
                "requirements.txt".to_owned(),
                include_str!("../../../examples/hello-python/requirements.txt").to_owned(),
            ));
        }
        Language::Js => {
            files.push((
                "app.js".to_owned(),
                include_str!("../../../examples/hello-js/hello.js").to_owned(),
            ));
            files.push(("package.json".to_owned(), package_json(name)));
        }
    }
    files.push(("strata.toml".to_owned(), manifest(name, language)));
    files.push(("README.md".to_owned(), readme(name, language)));
    files.push((".gitignore".to_owned(), gitignore(language)));
    files
}

fn app_wit(name: &str) -> String {
    format!(
        "/// The world `{name}` is built against: an HTTP handler that reads its\n\
         /// settings. Include `strata:host/with-cache@{v}` (with-sql,\n\
         /// with-outbound, with-log) for each capability it comes to use, and\n\
         /// grant it in `strata.toml`: a component importing an interface its\n\
         /// manifest entry does not grant is refused when it is deployed.\n\
         package local:{name};\n\n\
         world app {{\n    include strata:host/proxy@{v};\n    include strata:host/with-config@{v};\n}}\n",
        v = STRATA_HOST_VERSION
    )
}

fn cargo_toml(name: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nwit-bindgen = \"={WIT_BINDGEN_VERSION}\"\n\n\
         # A project of its own, never a member of an enclosing workspace.\n[workspace]\n"
    )
}

/// The npm project, with the JS example's development dependencies at its
/// pinned versions (componentize-js, and the preview2-shim it imports but
/// does not install).
fn package_json(name: &str) -> String {
    let example: serde_json::Value =
        serde_json::from_str(include_str!("../../../examples/hello-js/package.json"))
            .unwrap_or_default();
    let package = serde_json::json!({
        "name": name,
        "private": true,
        "type": "module",
        "scripts": { "build": js_build(name) },
        "devDependencies": example["devDependencies"],
    });
    format!("{package:#}\n")
}

fn js_build(name: &str) -> String {
    format!(
        "componentize-js app.js --wit wit --world-name app --disable fetch-event -o {name}.wasm"
    )
}

/// Where the build leaves the component, relative to the project.
fn artifact(name: &str, language: Language) -> String {
    match language {
        Language::Rust => format!(
            "target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ),
        Language::Python | Language::Js => format!("{name}.wasm"),
    }
}

fn build_command(name: &str, language: Language) -> String {
    match language {
        Language::Rust => "cargo build --release --target wasm32-wasip2".to_owned(),
        Language::Python => format!(
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && \
             .venv/bin/componentize-py -d wit -w local:{name}/app componentize app -o {name}.wasm"
        ),
        Language::Js => "npm install && npm run build".to_owned(),
    }
}

fn manifest(name: &str, language: Language) -> String {
    format!(
        "# Serves `{name}` alone: `{SERVE}` in this folder.\n\
         # To add it to an app, copy these entries into that app's manifest.\n\n\
         [components.{name}]\nsource = \"{artifact}\"\n\
         # Read through strata:host/config (or wasi:config/store).\n\
         config = {{ greeting = \"Hello\" }}\n\n\
         [[routes]]\npath = \"/{name}\"\ncomponent = \"{name}\"\n\n\
         [[routes]]\npath = \"/{name}/*\"\ncomponent = \"{name}\"\n",
        artifact = artifact(name, language)
    )
}

fn readme(name: &str, language: Language) -> String {
    let (what, needs) = match language {
        Language::Rust => (
            "Rust, with wit-bindgen",
            "Rust with the `wasm32-wasip2` target (`rustup target add wasm32-wasip2`)",
        ),
        Language::Python => ("Python, with componentize-py", "Python 3.10 or later"),
        Language::Js => ("JavaScript, with componentize-js", "Node.js 18 or later"),
    };
    format!(
        "# {name}\n\nA Strata component in {what}.\n\n\
         Build (needs {needs}):\n\n```sh\n{build}\n```\n\n\
         Serve it on its own, then `curl localhost:8080/{name}`:\n\n\
         ```sh\n{SERVE}\n```\n\n\
         The host keeps what it served in `strata.db`; without \
         `STRATA_STARTUP_MANIFEST_WINS=1` a restart would serve that stored \
         build instead of a new one. To a running host, deploy a new build \
         with `strata deploy {name} {artifact}`.\n\n\
         `wit/app.wit` is the world it is built against; `wit/deps/` is the \
         contract of the host that created this project (`strata:host` and the \
         WASI packages). What the component prints goes to the host's log, \
         tagged with the component and the request id.\n",
        build = build_command(name, language),
        artifact = artifact(name, language)
    )
}

fn gitignore(language: Language) -> String {
    match language {
        Language::Rust => "/target\n",
        Language::Python => "/.venv\n__pycache__\n/*.wasm\n",
        Language::Js => "/node_modules\n/*.wasm\n",
    }
    .to_owned()
        + "/strata.db*\n/strata.host.db*\n"
}

#[cfg(test)]
mod tests;
