//! Components from other languages, and what they cost in memory.
//!
//! Rows: the Python and JavaScript examples (componentize-py,
//! componentize-js; `examples/`), each with fresh and warm instances, on
//! an instance of their own. Then issue #17's memory bound for the Python
//! example (18 MB): the host's resident memory after a start that loads it
//! from the compile cache (the reference), after deploying it into a
//! running host (a real compile), and while serving it at 50 req/s, with
//! the defaults and with the settings before the bound existed (compile in
//! process, decommit batches of 64), all in the same run.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::watch;

use crate::client;
use crate::report::Report;
use crate::rows::{row, sample};
use crate::run::Env;
use crate::strata::{Strata, toml_path};

/// The rate of the serving measurement (issue #17).
const SERVING_RATE: f64 = 50.0;
/// How long the serving measurement runs.
const SERVING_SECONDS: f64 = 15.0;
/// The bound: at most this multiple of the cached start's memory.
const TARGET_RATIO: f64 = 2.0;

/// One example in the rows.
struct Example {
    component: &'static str,
    wasm: &'static str,
    label: &'static str,
}

const EXAMPLES: [Example; 2] = [
    Example {
        component: "py",
        wasm: test_programs::EXAMPLE_HELLO_PYTHON,
        label: "Python hello (componentize-py, 18 MB)",
    },
    Example {
        component: "js",
        wasm: test_programs::EXAMPLE_HELLO_JS,
        label: "JavaScript hello (componentize-js, 13 MB)",
    },
];

/// A manifest of `entries`: (component, wasm, warm?), each at `/NAME`.
fn write_manifest(
    dir: &Path,
    file: &str,
    entries: &[(&str, &str, bool)],
) -> Result<std::path::PathBuf> {
    let mut text = String::new();
    for (name, wasm, warm) in entries {
        text.push_str(&format!(
            "[components.{name}]\nsource = \"{}\"\n{}\n[[routes]]\npath = \"/{name}\"\ncomponent = \"{name}\"\nmethods = [\"GET\"]\n\n",
            toml_path(Path::new(wasm))?,
            if *warm { "instances = \"warm\"\n" } else { "" }
        ));
    }
    let path = dir.join(file);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The language rows and the memory bound.
pub async fn rows(env: &Env, report: &mut Report) -> Result<()> {
    eprintln!("strata-bench: starting a strata instance with the Python and JS examples...");
    let mut entries = Vec::new();
    for example in &EXAMPLES {
        entries.push((example.component, example.wasm, false));
    }
    let warm_names: Vec<String> = EXAMPLES
        .iter()
        .map(|e| format!("{}-warm", e.component))
        .collect();
    for (example, name) in EXAMPLES.iter().zip(&warm_names) {
        entries.push((name.as_str(), example.wasm, true));
    }
    let manifest = write_manifest(env.dir.path(), "bench-languages.toml", &entries)?;
    let host = env.start_strata(&manifest, Vec::new())?;
    let d = env.args.duration;
    for (example, warm_name) in EXAMPLES.iter().zip(&warm_names) {
        for (path, mode) in [
            (format!("/{}", example.component), "fresh instance"),
            (format!("/{warm_name}"), "warm instances"),
        ] {
            let check = sample(&format!("{}{path}", host.url), None).await;
            row(
                report,
                &format!("{}, {mode}", example.label),
                &format!("GET {path}"),
                env.load(&host.url, &path, d),
                check,
                None,
            )
            .await?;
        }
    }
    report.notes.push(format!(
        "Language rows: the instance serving the Python and JS examples (two components each, fresh and warm) held {:.1} MiB after its rows.",
        mib(host.rss_kib()?)
    ));
    drop(host);

    let reference = cached_start(env).await?;
    let defaults = deploy_and_serve(env, Vec::new(), "defaults").await?;
    let before = deploy_and_serve(
        env,
        vec![
            ("STRATA_COMPILE_IN_PROCESS", "1".to_string()),
            ("STRATA_DECOMMIT_BATCH_SIZE", "64".to_string()),
        ],
        "compile in process, decommit batch 64 (before the bound)",
    )
    .await?;
    for measured in [&defaults, &before] {
        let worst = measured.after_deploy.max(measured.serving_peak);
        let ratio = worst as f64 / reference.max(1) as f64;
        report.notes.push(format!(
            "Python example memory, {}: {:.1} MiB after deploying it, {:.1} MiB at most while serving {SERVING_RATE} req/s for {SERVING_SECONDS} s ({:.1} MiB at the end); {:.2}x the {:.1} MiB of a start from the compile cache (target ≤ {TARGET_RATIO}x: {}).",
            measured.label,
            mib(measured.after_deploy),
            mib(measured.serving_peak),
            mib(measured.serving_end),
            ratio,
            mib(reference),
            if ratio <= TARGET_RATIO { "met" } else { "not met" }
        ));
    }
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// RSS of a host started with the Python example already in the compile
/// cache (the language rows put it there), after one request.
async fn cached_start(env: &Env) -> Result<u64> {
    let manifest = write_manifest(
        env.dir.path(),
        "bench-python-cached.toml",
        &[("py", test_programs::EXAMPLE_HELLO_PYTHON, false)],
    )?;
    let host = env.start_strata(&manifest, Vec::new())?;
    client::get_ok(&format!("{}/py", host.url)).await?;
    host.rss_kib()
}

struct Measured {
    label: &'static str,
    after_deploy: u64,
    serving_peak: u64,
    serving_end: u64,
}

/// A host serving the Rust example as `py`, into which the Python example
/// is deployed with an empty compile cache (so it is compiled), then
/// served at [`SERVING_RATE`].
async fn deploy_and_serve(
    env: &Env,
    settings: Vec<(&'static str, String)>,
    label: &'static str,
) -> Result<Measured> {
    eprintln!("strata-bench: deploying the Python example ({label})...");
    let manifest = write_manifest(
        env.dir.path(),
        "bench-python-deploy.toml",
        &[("py", test_programs::EXAMPLE_HELLO_RUST, false)],
    )?;
    let cache = tempfile::tempdir().context("a private compile cache")?;
    let host = env.start_strata_with_cache(&manifest, settings, cache.path())?;
    let bytes = std::fs::read(test_programs::EXAMPLE_HELLO_PYTHON).context("the Python example")?;
    let url = format!("{}/admin/components/py", host.admin_url);
    let body = Some(("application/wasm", bytes::Bytes::from(bytes)));
    let reply = client::request(hyper::Method::POST, &url, body).await?;
    if reply.status != 201 {
        bail!(
            "deploying the Python example: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    client::get_ok(&format!("{}/py", host.url)).await?;
    let after_deploy = host.rss_kib()?;

    let (stop, stopped) = watch::channel(false);
    let sampler = sample_rss_until(&host, stopped);
    let mut plan = env.load(&host.url, "/py", SERVING_SECONDS);
    plan.rate = Some(SERVING_RATE);
    let load = async {
        let result = crate::load::run_child(&plan).await;
        let _ = stop.send(true);
        result
    };
    let (result, peak) = tokio::join!(load, sampler);
    let result = result.context("serving the Python example at 50 req/s")?;
    if result.failed() > 0 {
        bail!("{} of the 50 req/s requests failed", result.failed());
    }
    Ok(Measured {
        label,
        after_deploy,
        serving_peak: peak?,
        serving_end: host.rss_kib()?,
    })
}

/// The highest RSS seen every 100 ms until `stopped` turns true.
async fn sample_rss_until(host: &Strata, mut stopped: watch::Receiver<bool>) -> Result<u64> {
    let mut peak = host.rss_kib()?;
    while !*stopped.borrow() {
        peak = peak.max(host.rss_kib()?);
        let _ = tokio::time::timeout(Duration::from_millis(100), stopped.changed()).await;
    }
    Ok(peak)
}
