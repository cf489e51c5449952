//! The results as Markdown: a machine description, the side-by-side table
//! with ratios to the ceiling and the native baseline, the workload
//! outcomes, and memory/overhead figures.
//!
//! Absolute numbers on a shared 2-core machine are noisy; the ratios
//! between rows measured in the same run are the point, so the report puts
//! them next to each other and says what machine and commit produced them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::load::LoadResult;

/// Whether a row served what it claims to measure.
#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub text: String,
}

impl Check {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }

    pub fn warn(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }
}

/// One line of the side-by-side table.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    /// Method and path (or what stands in for it).
    pub target: String,
    pub result: LoadResult,
    pub connections: usize,
    pub check: Check,
}

/// One workload outcome (free-form: each workload has its own figures).
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    /// `None`: skipped (the text says why).
    pub result: Option<LoadResult>,
    pub outcome: String,
    pub check: Check,
}

/// Everything that goes into the report.
#[derive(Debug, Default)]
pub struct Report {
    pub machine: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub workloads: Vec<Workload>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Describes this machine and the code being measured.
pub fn machine_description(root: &Path) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or_else(
            || "unknown".to_string(),
            |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        );
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = command_line("uname", &["-r"], root).unwrap_or_else(|| "unknown".into());
    let mut commit = command_line("git", &["rev-parse", "--short", "HEAD"], root)
        .unwrap_or_else(|| "unknown".into());
    if command_line(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        root,
    )
    .is_some_and(|s| !s.is_empty())
    {
        commit.push_str(" (with uncommitted changes)");
    }
    vec![
        ("CPUs (nproc)".into(), cpus.to_string()),
        ("CPU model".into(), model),
        ("memory".into(), memory),
        ("kernel".into(), kernel),
        ("strata commit".into(), commit),
    ]
}

/// A command's trimmed stdout, if it ran and succeeded.
fn command_line(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as `850 µs` or `12.3 ms`.
pub fn latency(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 100_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.0} ms", us / 1_000.0)
    }
}

/// `part / whole` as a percentage, or `–` when undefined.
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 && part.is_finite() {
        let p = 100.0 * part / whole;
        if p < 10.0 {
            format!("{p:.2}%")
        } else {
            format!("{p:.1}%")
        }
    } else {
        "–".into()
    }
}

impl Report {
    /// Requests/s of the first row named `name`.
    fn rps_of(&self, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.result.rps)
    }

    /// Renders the report; `ceiling` and `baseline` name the rows the
    /// ratios are taken against.
    pub fn to_markdown(&self, ceiling: &str, baseline: &str) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Strata benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo run --release -p strata-bench`. Every row ran in the same \
             invocation on loopback, with the load generator in a separate process. \
             Absolute figures on a small shared machine are noisy; compare the ratios.\n"
        );
        let _ = writeln!(md, "## Machine\n");
        for (name, value) in self.machine.iter().chain(&self.settings) {
            let _ = writeln!(md, "- {name}: {value}");
        }

        let ceiling_rps = self.rps_of(ceiling).unwrap_or(0.0);
        let baseline_rps = self.rps_of(baseline).unwrap_or(0.0);
        let _ = writeln!(md, "\n## Side by side\n");
        let _ = writeln!(
            md,
            "| row | request | conns | req/s | p50 | p99 | failed | vs ceiling | vs native baseline | check |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.rows {
            let r = &row.result;
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {}{} |",
                row.name,
                row.target,
                row.connections,
                thousands(r.rps),
                latency(r.p50_us),
                latency(r.p99_us),
                r.failed(),
                percent(r.rps, ceiling_rps),
                percent(r.rps, baseline_rps),
                if row.check.ok { "" } else { "⚠ " },
                row.check.text,
            );
        }

        let _ = writeln!(md, "\n## Workloads\n");
        let _ = writeln!(
            md,
            "| workload | requests | req/s | p50 | p99 | failed | outcome | check |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---|---|");
        for w in &self.workloads {
            match &w.result {
                Some(r) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {}{} |",
                        w.name,
                        thousands(r.requests as f64),
                        thousands(r.rps),
                        latency(r.p50_us),
                        latency(r.p99_us),
                        r.failed(),
                        w.outcome,
                        if w.check.ok { "" } else { "⚠ " },
                        w.check.text,
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | – | – | – | – | – | {} | {} |",
                        w.name, w.outcome, w.check.text
                    );
                }
            }
        }

        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Instantiation and memory\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(md, "\n## Warnings\n");
            for warning in &self.warnings {
                let _ = writeln!(md, "- ⚠ {warning}");
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(latency(850.2), "850 µs");
        assert_eq!(latency(12_345.0), "12.35 ms");
        assert_eq!(latency(201_000.0), "201 ms");
        assert_eq!(percent(1.0, 4.0), "25.0%");
        assert_eq!(percent(1.0, 200.0), "0.50%");
        assert_eq!(percent(1.0, 0.0), "–");
    }

    #[test]
    fn table_has_ratios_against_ceiling_and_baseline() {
        let result = |rps: f64| LoadResult {
            rps,
            requests: 10,
            ..LoadResult::default()
        };
        let row = |name: &str, rps: f64| Row {
            name: name.into(),
            target: "GET /".into(),
            result: result(rps),
            connections: 32,
            check: Check::ok("200"),
        };
        let report = Report {
            rows: vec![
                row("ceiling", 100_000.0),
                row("baseline", 50_000.0),
                row("x", 5_000.0),
            ],
            ..Report::default()
        };
        let md = report.to_markdown("ceiling", "baseline");
        let x = md
            .lines()
            .find(|l| l.starts_with("| x "))
            .unwrap_or_default();
        assert!(x.contains("| 5.00% | 10.0% |"), "{x}");
    }
}
