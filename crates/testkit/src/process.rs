//! The real `strata` binary in its own process, exactly as deployed:
//! configured only through the environment and files its caller sets on
//! the [`Command`], and ready once it has printed its listening lines
//! (`strata admin listening on URL`, then `strata listening on URL`).
//! Killed when its handle drops, so a failure never leaves hosts behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

/// A running `strata` process.
pub struct StrataProcess {
    child: Child,
    /// The public listener, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The loopback admin listener (absent when an admin token is set).
    pub admin_url: Option<String>,
    /// The file its stderr (its log) goes to.
    pub log: PathBuf,
}

impl StrataProcess {
    /// Spawns `command` with its stderr in the file `log` and waits up to
    /// `startup` for its listening lines; stdout keeps being drained so
    /// the process never blocks on a full pipe.
    pub fn spawn(mut command: Command, log: &Path, startup: Duration) -> Result<Self> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("strata stdout not captured"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut admin = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("strata admin listening on ") {
                    admin = Some(url.trim().to_string());
                } else if let Some(url) = line.strip_prefix("strata listening on ") {
                    let _ = tx.send((url.trim().to_string(), admin.take()));
                }
            }
        });
        match rx.recv_timeout(startup) {
            Ok((url, admin_url)) => Ok(Self {
                child,
                url,
                admin_url,
                log: log.to_path_buf(),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(log).unwrap_or_default();
                bail!("strata did not start; its log ({}):\n{text}", log.display())
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid())
    }

    /// Stops the process as a crash would: no graceful shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop, as a process manager would (SIGTERM).
    pub fn terminate(&self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill")?;
        ensure!(status.success(), "kill -TERM {} failed", self.pid());
        Ok(())
    }

    /// The exit status, if the process ends within `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for StrataProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `VmRSS` of a process, in KiB (from `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).ok_or_else(|| anyhow!("no VmRSS line in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tstrata\nVmPeak:\t  100 kB\nVmRSS:\t   52344 kB\nThreads: 9\n";
        assert_eq!(parse_vm_rss(status), Some(52_344));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }
}
