//! Compiling large components in a worker process.
//!
//! Cranelift's working memory for an 18 MB component (a Python one) is
//! hundreds of MiB spread over the compiler threads' malloc arenas, and
//! the allocator keeps most of it after the compile: a host that deployed
//! one stayed at 450 MB resident where a restart that loaded the same
//! component from the compile cache needed 64 MB. So a component of at
//! least [`CompileWorker::min_bytes`] is compiled by a short-lived child
//! process (this same binary, built with the same wasmtime) into the
//! compile cache, and the host then loads the result from the cache, as a
//! restart would. The child's memory goes back to the system when it
//! exits.
//!
//! The child builds its engine from the same [`EngineSettings`] with the
//! same function as the host, so the cache key (bytes, wasmtime version,
//! engine settings) matches; the engine sets every option wasmtime would
//! otherwise read from the environment, which the child does not inherit.
//! The host starts `/proc/self/exe`, the very binary it runs, even after a
//! package upgrade replaced the file. If the child cannot start or fails,
//! the host compiles in process, as it does without a cache, and a
//! component that does not compile is refused by that compile with its own
//! message; if the child is killed (out of memory) or runs past its
//! deadline, the component is refused, since the host would fare no
//! better.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use crate::engine::{EngineSettings, build_engine};
use crate::error::RuntimeError;

/// How the host starts a compile worker.
#[derive(Debug, Clone)]
pub struct CompileWorker {
    /// The program (the host's own binary).
    pub program: PathBuf,
    /// Arguments selecting the worker mode, before the engine settings
    /// [`worker_args`] appends.
    pub args: Vec<OsString>,
    /// Smallest component compiled out of process; smaller ones compile
    /// in milliseconds and leave little behind.
    pub min_bytes: usize,
}

/// Largest worker stderr kept for the log.
const MAX_STDERR: u64 = 4096;
/// Longest a worker may compile; a compile that takes longer is killed
/// and the component refused, rather than compiled again in the host.
const WORKER_DEADLINE: Duration = Duration::from_secs(600);
/// Variables the worker keeps from the host's environment: how to load
/// the binary and how many compiler threads to use, nothing else.
const KEPT_VARIABLES: [&str; 2] = ["LD_LIBRARY_PATH", "RAYON_NUM_THREADS"];

/// Why a worker did not compile a component.
#[derive(Debug)]
pub(crate) enum WorkerError {
    /// It could not be started or fed, or it failed: the host compiles in
    /// process (and reports the compiler's own error if there is one).
    Unavailable(String),
    /// It was killed (out of memory, by a signal) or ran past its
    /// deadline: compiling the same bytes in the host would do the same to
    /// the host, so the component is refused.
    Killed(String),
}

impl CompileWorker {
    /// Compiles `bytes` into the cache at `cache_dir` in a child process.
    pub(crate) fn compile(
        &self,
        settings: EngineSettings,
        cache_dir: &Path,
        bytes: &[u8],
    ) -> Result<(), WorkerError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .args(worker_args(settings, cache_dir))
            // The worker needs nothing of the host's environment, which
            // holds database and Redis credentials.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in KEPT_VARIABLES {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child = command.spawn().map_err(|e| {
            WorkerError::Unavailable(format!("cannot start {}: {e}", self.program.display()))
        })?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        // Feeding the component and reading the worker's messages run
        // beside the wait, so the deadline holds even against a worker
        // that stops reading or never exits: killing it ends both.
        let (written, stderr, status) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || match stdin {
                Some(mut stdin) => stdin.write_all(bytes).map_err(|e| e.to_string()),
                None => Err("no pipe to the worker".to_owned()),
            });
            let reader = scope.spawn(move || {
                let mut text = Vec::new();
                if let Some(pipe) = stderr {
                    let _ = pipe.take(MAX_STDERR).read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).trim().to_owned()
            });
            let status = wait_until(&mut child, Instant::now() + WORKER_DEADLINE);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err("the writer thread panicked".to_owned()));
            let stderr = reader.join().unwrap_or_default();
            (written, stderr, status)
        });
        let status = status?;
        match status.code() {
            Some(0) => written.map_err(|e| {
                WorkerError::Unavailable(format!("sending the component to the worker: {e}"))
            }),
            Some(code) => Err(WorkerError::Unavailable(format!(
                "the worker failed (exit {code}): {stderr}"
            ))),
            None => Err(WorkerError::Killed(format!(
                "the compile worker was killed ({status}), most likely for running out of memory: {stderr}"
            ))),
        }
    }
}

/// Waits for `child` until `deadline`, killing it then.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<ExitStatus, WorkerError> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(WorkerError::Killed(format!(
                    "compiling took longer than {} s",
                    WORKER_DEADLINE.as_secs()
                )));
            }
            Err(e) => {
                return Err(WorkerError::Unavailable(format!(
                    "waiting for the worker: {e}"
                )));
            }
        }
    }
}

/// The engine settings and cache folder, as the worker's arguments.
fn worker_args(settings: EngineSettings, cache_dir: &Path) -> Vec<OsString> {
    vec![
        settings.max_instances.to_string().into(),
        settings.instance_memory_bytes.to_string().into(),
        settings.decommit_batch_size.to_string().into(),
        cache_dir.as_os_str().to_owned(),
    ]
}

/// Most bytes the worker reads: far above any component a host accepts,
/// a bound only so a stray writer cannot fill its memory.
const MAX_INPUT: u64 = 1 << 30;

/// The worker's side: reads the engine settings and cache folder from
/// `args` (as [`CompileWorker`] passes them) and the component from
/// `input`, and compiles it into the cache.
pub fn compile_into_cache(
    args: &[OsString],
    input: impl std::io::Read,
) -> Result<(), RuntimeError> {
    let (settings, cache_dir) = parse_worker_args(args)?;
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT)
        .read_to_end(&mut bytes)
        .map_err(|e| RuntimeError::Engine(format!("compile worker: reading the component: {e}")))?;
    let engine = build_engine(settings, Some(&cache_dir))?;
    Component::new(&engine, &bytes)
        .map(drop)
        .map_err(|e| RuntimeError::Compile(crate::describe(&e)))
}

fn parse_worker_args(args: &[OsString]) -> Result<(EngineSettings, PathBuf), RuntimeError> {
    let bad = |what: &str| RuntimeError::Engine(format!("compile worker: {what}"));
    let [max_instances, memory, batch, cache_dir] = args else {
        return Err(bad("expected 4 arguments"));
    };
    let number = |value: &OsString, what: &str| {
        value
            .to_str()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| bad(&format!("{what} is not a number")))
    };
    let settings = EngineSettings {
        max_instances: u32::try_from(number(max_instances, "max instances")?)
            .map_err(|_| bad("max instances is too large"))?,
        instance_memory_bytes: number(memory, "instance memory")?,
        decommit_batch_size: usize::try_from(number(batch, "decommit batch")?)
            .map_err(|_| bad("decommit batch is too large"))?,
    };
    Ok((settings, PathBuf::from(cache_dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_reads_back_the_settings_the_host_passes() {
        let settings = EngineSettings {
            max_instances: 7,
            instance_memory_bytes: 3 << 20,
            decommit_batch_size: 5,
        };
        let args = worker_args(settings, Path::new("/cache"));
        let (read, dir) = parse_worker_args(&args).expect("parsed");
        assert_eq!(
            (
                read.max_instances,
                read.instance_memory_bytes,
                read.decommit_batch_size
            ),
            (7, 3 << 20, 5)
        );
        assert_eq!(dir, Path::new("/cache"));
    }

    #[test]
    fn the_worker_refuses_arguments_it_did_not_write() {
        let args: Vec<OsString> = ["7", "x", "5", "/cache"].map(OsString::from).into();
        assert!(parse_worker_args(&args).is_err());
        assert!(parse_worker_args(&args[..3]).is_err());
    }
}
