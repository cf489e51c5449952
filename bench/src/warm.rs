//! The warm tier's rows: a second strata instance on the same Redis and
//! upstream whose dashboard, echo and plain hello components are
//! `instances = "warm"`, measured like the fresh rows, with issue #16's
//! targets checked against the ceiling and baseline of the same run.

use anyhow::{Context, Result};

use crate::client;
use crate::report::{Report, percent};
use crate::rows::{self, CACHE_HEADER, ECHO_HEADER, row, sample};
use crate::run::Env;
use crate::servers;
use crate::strata::{self, Strata};

const DASHBOARD_L1_WARM: &str = "dashboard component, L1 hit (warm instances)";
const DASHBOARD_L1_WARM_HALF: &str =
    "dashboard component, L1 hit (warm instances), 50% of peak (open loop)";
const ECHO_WARM: &str = "echo component (warm instances)";

/// Warm dashboard L1 hit, as a share of the hyper hello ceiling.
const CEILING_TARGET: f64 = 0.40;
/// Warm dashboard L1 hit, as a share of the native moka baseline.
const BASELINE_TARGET: f64 = 0.60;

/// Starts the warm instance.
pub fn start(env: &Env) -> Result<Strata> {
    eprintln!("strata-bench: starting a strata instance with warm components...");
    let manifest =
        strata::write_warm_manifest(env.dir.path(), std::path::Path::new(test_programs::ECHO_V1))?;
    env.start_strata(&manifest, Vec::new())
}

/// The warm rows, and their targets as notes (met / not met).
pub async fn rows(env: &Env, warm: &Strata, report: &mut Report) -> Result<()> {
    let d = env.args.duration;
    let hit_l1 = Some((CACHE_HEADER, "hit-l1"));
    let dashboard_url = format!("{}{}", warm.url, servers::DASHBOARD_PATH);
    // The main instance wrote the dashboard to Redis; the first read here
    // promotes it into this instance's L1.
    client::get_ok(&dashboard_url)
        .await
        .context("warming the warm instance's dashboard")?;
    let check = sample(&dashboard_url, hit_l1).await;
    let peak = row(
        report,
        DASHBOARD_L1_WARM,
        "GET /api/crypto/dashboard-summary",
        env.load(&warm.url, servers::DASHBOARD_PATH, d)
            .counting(CACHE_HEADER),
        check,
        hit_l1,
    )
    .await?;
    rows::dashboard_l1_half_peak(env, report, &warm.url, DASHBOARD_L1_WARM_HALF, peak.rps).await?;

    let hit_echo = Some((ECHO_HEADER, "v1"));
    let check = sample(&format!("{}/hello", warm.url), hit_echo).await;
    let echo = row(
        report,
        ECHO_WARM,
        "GET /hello",
        env.load(&warm.url, "/hello", d).counting(ECHO_HEADER),
        check,
        hit_echo,
    )
    .await?;

    let rps = |name: &str| {
        report
            .rows
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.result.rps)
    };
    let share = |target: f64, of: Option<f64>, what: &str| match of {
        Some(whole) if whole > 0.0 => {
            let ratio = peak.rps / whole;
            format!(
                "{} of {what} (target ≥ {:.0}%: {})",
                percent(peak.rps, whole),
                target * 100.0,
                if ratio >= target { "met" } else { "not met" }
            )
        }
        _ => format!("{what} not measured"),
    };
    report.notes.push(format!(
        "Warm tier: the dashboard L1 hit serves {}, and {}.",
        share(CEILING_TARGET, rps(rows::CEILING), "hyper hello"),
        share(BASELINE_TARGET, rps(rows::BASELINE), "the native baseline"),
    ));
    if let (Some(fresh_dashboard), Some(fresh_echo)) = (rps(rows::DASHBOARD_L1), rps(rows::ECHO)) {
        report.notes.push(format!(
            "Warm over fresh in the same run: dashboard L1 hit {:.2}x, echo {:.2}x.",
            peak.rps / fresh_dashboard.max(f64::MIN_POSITIVE),
            echo.rps / fresh_echo.max(f64::MIN_POSITIVE),
        ));
    }
    let instances = warm_instance_counts(warm).await;
    report.notes.push(format!(
        "Warm instance {instances} (from the warm instance's /metrics after its rows)."
    ));
    Ok(())
}

/// "started N, reused M" for the warm echo component, the check that the
/// rows measured reuse at all.
async fn warm_instance_counts(warm: &Strata) -> String {
    let Ok(reply) = client::get(&format!("{}/metrics", warm.url)).await else {
        return "counts unavailable".into();
    };
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let value = |series: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let started = value("strata_instances_started_total{component=\"echo\",instances=\"warm\"}");
    let reused = value("strata_instances_reused_total{component=\"echo\",instances=\"warm\"}");
    format!(
        "counts for echo: {} started, {} requests on a reused instance",
        crate::report::thousands(started),
        crate::report::thousands(reused)
    )
}
