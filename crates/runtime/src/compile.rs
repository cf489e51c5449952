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
//! engine settings) matches. Anything that goes wrong in the child (it
//! cannot start, it fails, it is killed) only costs the saving: the host
//! then compiles in process, as it does without a cache, and a component
//! that does not compile is refused by that compile with its own message.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
const MAX_STDERR: usize = 4096;

impl CompileWorker {
    /// Compiles `bytes` into the cache at `cache_dir` in a child process.
    /// The error says why the child did not (the caller compiles in
    /// process instead).
    pub(crate) fn compile(
        &self,
        settings: EngineSettings,
        cache_dir: &Path,
        bytes: &[u8],
    ) -> Result<(), String> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args(worker_args(settings, cache_dir))
            // The worker needs nothing of the host's environment, which
            // holds database and Redis credentials.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let written = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(bytes).map_err(|e| e.to_string()),
            None => Err("no pipe to the worker".to_owned()),
        };
        let mut stderr = String::new();
        if let Some(pipe) = child.stderr.take() {
            let _ = pipe.take(MAX_STDERR as u64).read_to_string(&mut stderr);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        written.map_err(|e| format!("sending the component to the worker: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the worker failed ({status}): {}", stderr.trim()))
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
