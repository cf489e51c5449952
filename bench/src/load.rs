//! The load generator: `strata-bench load ...`, and how the orchestrator
//! runs it.
//!
//! It always runs as a child process of the orchestrator, never inside it:
//! the servers under test that live in the orchestrator (hyper ceiling, moka
//! baseline, simulator) must not share a tokio runtime, scheduler queue or
//! allocator arenas with the client measuring them. The child prints one
//! JSON line ([`LoadResult`]) and exits.
//!
//! Each connection is a task on a keep-alive HTTP/1.1 connection issuing
//! requests back to back (closed loop, like `wrk`), timing each from send to
//! the last body byte. Histograms are per task and merged at the end, so the
//! hot path takes no locks.
//!
//! With `--rate` the load is open loop instead: each connection sends on a
//! fixed schedule (its share of the rate), and each request is timed from
//! its *intended* send time, so a stalled server is charged for the
//! requests that queued up behind it (no coordinated omission).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HOST;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::client::split_url;
use crate::histogram::Histogram;
use crate::zipf::{XorShift64, Zipf};

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How each request picks its path from the path list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pick {
    /// Always the first path.
    Fixed,
    /// Each path once, in order, shared by all connections; the run ends
    /// early when the list is used up (every request a distinct key).
    Sequence,
    /// Zipf-distributed over the list (first path most popular).
    Zipf,
}

/// What one load run does. The same struct is the child's command line and
/// the orchestrator's plan, so the two cannot drift apart.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server under test, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub url: String,
    /// Request path (repeatable); see also `--paths-file`.
    #[arg(long = "path")]
    pub paths: Vec<String>,
    /// File with one request path per line, appended to `--path`.
    #[arg(long)]
    pub paths_file: Option<PathBuf>,
    /// How requests choose among the paths.
    #[arg(long, value_enum, default_value_t = Pick::Fixed)]
    pub pick: Pick,
    /// Zipf exponent for `--pick zipf`.
    #[arg(long, default_value_t = 1.0)]
    pub zipf_s: f64,
    /// PRNG seed for `--pick zipf` (each connection derives its own).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds to keep issuing requests.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Runtime worker threads of the generator (1 = single-threaded, like
    /// `wrk -t1`, leaving the other core to the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Response header whose values are tallied (e.g. `x-strata-cache`).
    #[arg(long)]
    pub count_header: Option<String>,
    /// Instead of a timed run: open every connection first, then send one
    /// request on each at the same instant (a cold-key stampede).
    #[arg(long)]
    pub burst: bool,
    /// Open loop at this many requests/s in total (each connection sends
    /// its share on a fixed schedule; latency counts from the intended send
    /// time). Without it, requests go back to back (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
}

impl LoadArgs {
    /// A timed closed-loop run against one path.
    pub fn fixed(url: &str, path: &str, duration: f64, connections: usize) -> Self {
        Self {
            url: url.to_string(),
            paths: vec![path.to_string()],
            paths_file: None,
            pick: Pick::Fixed,
            zipf_s: 1.0,
            seed: 1,
            duration,
            connections,
            threads: 1,
            count_header: None,
            burst: false,
            rate: None,
        }
    }

    /// Tallies the values of `header` in the result.
    pub fn counting(mut self, header: &str) -> Self {
        self.count_header = Some(header.to_string());
        self
    }

    /// The child's command line (after the `load` subcommand).
    fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--url".into(),
            self.url.clone(),
            "--pick".into(),
            match self.pick {
                Pick::Fixed => "fixed",
                Pick::Sequence => "sequence",
                Pick::Zipf => "zipf",
            }
            .into(),
            "--zipf-s".into(),
            self.zipf_s.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--duration".into(),
            self.duration.to_string(),
            "--connections".into(),
            self.connections.to_string(),
            "--threads".into(),
            self.threads.to_string(),
        ];
        for path in &self.paths {
            args.push("--path".into());
            args.push(path.clone());
        }
        if let Some(file) = &self.paths_file {
            args.push("--paths-file".into());
            args.push(file.display().to_string());
        }
        if let Some(header) = &self.count_header {
            args.push("--count-header".into());
            args.push(header.clone());
        }
        if self.burst {
            args.push("--burst".into());
        }
        if let Some(rate) = self.rate {
            args.push("--rate".into());
            args.push(rate.to_string());
        }
        args
    }
}

/// What a load run measured; the child's one line of output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    /// Responses received (any status).
    pub requests: u64,
    /// Requests that got no response (connect, I/O, timeout).
    pub errors: u64,
    /// Wall-clock seconds from the first request to the last response.
    pub elapsed_s: f64,
    pub rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Responses per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Responses per value of `--count-header` (`(none)` when absent).
    pub header_counts: BTreeMap<String, u64>,
    /// The first transport error, for diagnosis.
    pub first_error: Option<String>,
}

impl LoadResult {
    /// Responses with a status outside 2xx plus transport errors.
    pub fn failed(&self) -> u64 {
        self.errors
            + self
                .statuses
                .iter()
                .filter(|(status, _)| !(200..300).contains(*status))
                .map(|(_, n)| n)
                .sum::<u64>()
    }

    /// How many responses carried `value` in the counted header.
    pub fn header_count(&self, value: &str) -> u64 {
        self.header_counts.get(value).copied().unwrap_or(0)
    }
}

/// Runs the generator in a child process and returns what it measured.
pub async fn run_child(args: &LoadArgs) -> Result<LoadResult> {
    let child = spawn_child(args)?;
    wait_child(child).await
}

/// Starts the generator in a child process (for runs that need the
/// orchestrator to act while the load is on).
pub fn spawn_child(args: &LoadArgs) -> Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("locating this executable")?;
    tokio::process::Command::new(exe)
        .arg("load")
        .args(args.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the load generator")
}

/// Waits for a generator child and parses its result line.
pub async fn wait_child(child: tokio::process::Child) -> Result<LoadResult> {
    let output = child
        .wait_with_output()
        .await
        .context("waiting for the load generator")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("load generator failed ({}): {stdout}", output.status);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("load generator printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("load generator output: {line}"))
}

/// The `load` subcommand: runs the load and prints one JSON line.
pub fn main(args: LoadArgs) -> Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let result = runtime.block_on(generate(args))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Chooses the path of each request.
enum Picker {
    Fixed(String),
    Sequence(AtomicUsize),
    Zipf(Zipf),
}

struct Shared {
    authority: String,
    paths: Vec<String>,
    picker: Picker,
    count_header: Option<String>,
    deadline: Instant,
    burst: Option<Barrier>,
    seed: u64,
    started: Instant,
    /// Open loop: time between two sends of one connection.
    interval: Option<Duration>,
    connections: usize,
}

impl Shared {
    fn next_path(&self, rng: &mut XorShift64) -> Option<&str> {
        match &self.picker {
            Picker::Fixed(path) => Some(path),
            Picker::Sequence(next) => self
                .paths
                .get(next.fetch_add(1, Ordering::Relaxed))
                .map(String::as_str),
            Picker::Zipf(zipf) => Some(&self.paths[zipf.sample(rng)]),
        }
    }
}

/// One connection task's tallies.
#[derive(Default)]
struct Tally {
    histogram: Histogram,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    headers: Vec<(String, u64)>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    fn header(&mut self, value: &str) {
        match self.headers.iter_mut().find(|(v, _)| v == value) {
            Some((_, n)) => *n += 1,
            None => self.headers.push((value.to_string(), 1)),
        }
    }
}

async fn generate(args: LoadArgs) -> Result<LoadResult> {
    let (authority, base_path) = split_url(&args.url)?;
    let base_path = base_path.trim_end_matches('/').to_string();
    let mut paths = args.paths.clone();
    if let Some(file) = &args.paths_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if paths.is_empty() {
        bail!("no request paths (use --path or --paths-file)");
    }
    let paths: Vec<String> = paths.iter().map(|p| format!("{base_path}{p}")).collect();
    let picker = match args.pick {
        Pick::Fixed => Picker::Fixed(paths[0].clone()),
        Pick::Sequence => Picker::Sequence(AtomicUsize::new(0)),
        Pick::Zipf => Picker::Zipf(Zipf::new(paths.len(), args.zipf_s)),
    };
    let connections = args.connections.max(1);
    let interval = match args.rate {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            bail!("--rate must be a positive number of requests/s, got {rate}")
        }
        Some(rate) => Some(Duration::from_secs_f64(connections as f64 / rate)),
        None => None,
    };
    let started = Instant::now();
    let shared = Arc::new(Shared {
        authority,
        paths,
        picker,
        count_header: args.count_header.clone(),
        deadline: started + Duration::from_secs_f64(args.duration.max(0.0)),
        burst: args.burst.then(|| Barrier::new(connections)),
        seed: args.seed,
        started,
        interval,
        connections,
    });
    let tasks: Vec<_> = (0..connections)
        .map(|index| tokio::spawn(connection_task(shared.clone(), index as u64)))
        .collect();
    let mut histogram = Histogram::default();
    let mut result = LoadResult::default();
    for task in tasks {
        let tally = task.await.context("connection task panicked")?;
        histogram.merge(&tally.histogram);
        result.errors += tally.errors;
        for (status, n) in tally.statuses {
            *result.statuses.entry(status).or_default() += n;
        }
        for (value, n) in tally.headers {
            *result.header_counts.entry(value).or_default() += n;
        }
        if result.first_error.is_none() {
            result.first_error = tally.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let us = |ns: u64| ns as f64 / 1_000.0;
    result.requests = histogram.count();
    result.elapsed_s = elapsed;
    result.rps = if elapsed > 0.0 {
        result.requests as f64 / elapsed
    } else {
        0.0
    };
    result.p50_us = us(histogram.quantile(0.50));
    result.p90_us = us(histogram.quantile(0.90));
    result.p99_us = us(histogram.quantile(0.99));
    result.max_us = us(histogram.max());
    Ok(result)
}

async fn connect(authority: &str) -> Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn connection_task(shared: Arc<Shared>, index: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = XorShift64::new(shared.seed.wrapping_mul(1_000_003).wrapping_add(index));
    let mut sender = None;

    if let Some(barrier) = &shared.burst {
        // Connect first so the stampede measures the server, not the
        // handshakes; then release every request together.
        let connected = connect(&shared.authority).await;
        barrier.wait().await;
        match connected {
            Ok(s) => sender = Some(s),
            Err(err) => {
                tally.error(format!("connect: {err}"));
                return tally;
            }
        }
        if let Some(path) = shared.next_path(&mut rng).map(String::from) {
            one_request(&shared, &mut sender, &path, None, &mut tally).await;
        }
        return tally;
    }

    if let Some(interval) = shared.interval {
        return open_loop(&shared, index, interval, rng, tally).await;
    }

    while Instant::now() < shared.deadline {
        if sender.is_none() {
            match connect(&shared.authority).await {
                Ok(s) => sender = Some(s),
                Err(err) => {
                    tally.error(format!("connect: {err}"));
                    // Do not spin on a refused port.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(path) = shared.next_path(&mut rng).map(String::from) else {
            break;
        };
        one_request(&shared, &mut sender, &path, None, &mut tally).await;
    }
    tally
}

/// One connection of an open-loop run: request `k` is due at
/// `started + phase + k * interval` (connections are staggered across one
/// interval). A request held up by the previous one (the server was slow)
/// is sent at once and timed from when it was due, so the backlog shows in
/// the latencies. If the connection was idle when the request fell due, it
/// is timed from its actual send: the lateness of the generator's own timer
/// (tokio's wheel ticks in milliseconds) is not the server's.
async fn open_loop(
    shared: &Shared,
    index: u64,
    interval: Duration,
    mut rng: XorShift64,
    mut tally: Tally,
) -> Tally {
    let phase = interval.mul_f64(index as f64 / shared.connections as f64);
    let mut sender = None;
    // When the previous request on this connection completed.
    let mut free_at = shared.started;
    for k in 0u32.. {
        let due = shared.started + phase + interval * k;
        if due >= shared.deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        if sender.is_none() {
            match connect(&shared.authority).await {
                Ok(s) => sender = Some(s),
                Err(err) => {
                    // This send is lost; the schedule goes on.
                    tally.error(format!("connect: {err}"));
                    continue;
                }
            }
        }
        let Some(path) = shared.next_path(&mut rng).map(String::from) else {
            break;
        };
        let start = if free_at > due { due } else { Instant::now() };
        one_request(shared, &mut sender, &path, Some(start), &mut tally).await;
        free_at = Instant::now();
    }
    tally
}

/// Sends one request on `sender`, recording the outcome; drops the
/// connection on any transport error so the next request reconnects.
async fn one_request(
    shared: &Shared,
    sender: &mut Option<SendRequest<Empty<Bytes>>>,
    path: &str,
    due: Option<Instant>,
    tally: &mut Tally,
) {
    let Some(conn) = sender.as_mut() else {
        return;
    };
    let request = match Request::get(path)
        .header(HOST, shared.authority.as_str())
        .body(Empty::<Bytes>::new())
    {
        Ok(r) => r,
        Err(err) => {
            tally.error(format!("building request for {path}: {err}"));
            return;
        }
    };
    // Open loop: from when the request should have gone out (see
    // `open_loop`).
    let started = due.unwrap_or_else(Instant::now);
    let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
        conn.ready().await?;
        let response = conn.send_request(request).await?;
        let (parts, body) = response.into_parts();
        body.collect().await?;
        Ok::<_, hyper::Error>(parts)
    })
    .await;
    match outcome {
        Ok(Ok(parts)) => {
            tally
                .histogram
                .record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
            *tally.statuses.entry(parts.status.as_u16()).or_default() += 1;
            if let Some(name) = &shared.count_header {
                let value = parts
                    .headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(none)");
                tally.header(value);
            }
        }
        Ok(Err(err)) => {
            tally.error(format!("{path}: {err}"));
            *sender = None;
        }
        Err(_) => {
            tally.error(format!("{path}: no answer within {REQUEST_TIMEOUT:?}"));
            *sender = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_counts_transport_errors_and_non_2xx() {
        let mut result = LoadResult {
            errors: 2,
            ..LoadResult::default()
        };
        result.statuses.insert(200, 100);
        result.statuses.insert(204, 1);
        result.statuses.insert(502, 3);
        assert_eq!(result.failed(), 5);
    }

    #[test]
    fn command_line_round_trips_through_clap() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            load: LoadArgs,
        }
        let mut plan = LoadArgs::fixed("http://127.0.0.1:1", "/a", 2.5, 7).counting("x-h");
        plan.pick = Pick::Zipf;
        plan.paths.push("/b".into());
        plan.burst = true;
        plan.rate = Some(1234.5);
        let parsed =
            Wrapper::try_parse_from(std::iter::once("load".to_string()).chain(plan.to_args()))
                .map(|w| w.load);
        let parsed = parsed.expect("arguments parse");
        assert_eq!(parsed.url, plan.url);
        assert_eq!(parsed.paths, plan.paths);
        assert_eq!(parsed.pick, Pick::Zipf);
        assert_eq!(parsed.duration, 2.5);
        assert_eq!(parsed.connections, 7);
        assert_eq!(parsed.count_header.as_deref(), Some("x-h"));
        assert!(parsed.burst);
        assert_eq!(parsed.rate, Some(1234.5));
    }
}
