//! A guest's stdout and stderr, into the host's log.
//!
//! What a guest prints (a Python `print()`, an uncaught exception's
//! traceback, a Rust panic message) is often the only account of why it
//! failed, so it is kept, on the operator's side only: each line becomes a
//! `guest` log event tagged with the component, the request id and the
//! stream, and never part of a response. The text is the guest's, so it is
//! escaped (`strata_logtext`): it can neither forge a log line nor drive a
//! terminal. And it is bounded, so a guest printing in a loop cannot make
//! the log its denial of service: a line is cut at `MAX_LINE_CHARS`, a
//! request logs at most `MAX_LINES` lines and `MAX_BYTES` bytes (then
//! one note says the rest was dropped), and the host holds at most one
//! unfinished line per stream. Writes past the budget still succeed: a
//! guest must not fail because the host stopped listening.
//!
//! The streams belong to the instance (a guest's libc opens them once and
//! keeps them), the account to the request: [`GuestOutput::begin`] starts
//! a new request's account on a reused warm instance, and
//! [`GuestOutput::finish`] logs an unfinished last line when a request
//! ends (dropping the store does too, for a request that was cut off).

mod account;
mod pipe;

use std::sync::{Arc, Mutex};

pub(crate) use account::Stream;
use account::{Account, Entry, MAX_BYTES, MAX_LINES};
pub(crate) use pipe::Pipe;

/// The id the host gave a request, carried in the request's extensions so
/// that what the guest prints is logged under the id its client is shown.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Who is printing: the tags of every line logged.
pub(crate) struct Source {
    pub component: Arc<str>,
    pub version: Arc<str>,
    /// `None` outside a client request (the instantiation check at deploy).
    pub request_id: Option<Arc<str>>,
}

/// The account and whom it is for; logs what is left when dropped with
/// its store.
struct Shared {
    source: Source,
    account: Account,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let source = &self.source;
        self.account.finish(&mut |entry| to_log(source, entry));
    }
}

/// One instance's stdout and stderr; clones share them.
#[derive(Clone)]
pub(crate) struct GuestOutput(Arc<Mutex<Shared>>);

impl GuestOutput {
    pub(crate) fn new(source: Source) -> Self {
        Self(Arc::new(Mutex::new(Shared {
            source,
            account: Account::new(),
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `source`'s request with a fresh budget, logging what the
    /// previous one left unfinished under the previous id.
    pub(crate) fn begin(&self, source: Source) {
        self.finish();
        let mut shared = self.lock();
        shared.source = source;
        shared.account = Account::new();
    }

    /// Logs the current request's unfinished lines.
    pub(crate) fn finish(&self) {
        let mut guard = self.lock();
        let shared = &mut *guard;
        let source = &shared.source;
        shared.account.finish(&mut |entry| to_log(source, entry));
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut guard = self.lock();
        let shared = &mut *guard;
        let source = &shared.source;
        shared
            .account
            .write(stream, bytes, &mut |entry| to_log(source, entry));
    }

    /// The `wasi:cli` stream for `stream`, for the instance's `WasiCtx`.
    pub(crate) fn stream(&self, stream: Stream) -> Pipe {
        Pipe {
            output: self.clone(),
            stream,
        }
    }
}

fn to_log(source: &Source, entry: Entry) {
    let component = &*source.component;
    let version = &*source.version;
    let request_id = source.request_id.as_deref();
    match entry {
        Entry::Line {
            stream: Stream::Stdout,
            text,
        } => {
            tracing::info!(target: "guest", component, version, request_id, stream = "stdout", "{text}")
        }
        Entry::Line {
            stream: Stream::Stderr,
            text,
        } => {
            tracing::warn!(target: "guest", component, version, request_id, stream = "stderr", "{text}")
        }
        Entry::Truncated => tracing::warn!(
            target: "guest",
            component,
            version,
            request_id,
            max_lines = MAX_LINES,
            max_bytes = MAX_BYTES,
            "guest output truncated: this request's budget is spent, the rest of its stdout and stderr is dropped"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_on_the_same_streams_gets_a_fresh_budget() {
        let output = GuestOutput::new(source(None));
        let pipe = output.stream(Stream::Stdout);
        output.write(Stream::Stdout, &b"x\n".repeat(MAX_LINES * 2));
        assert!(output.lock().account.truncated);
        output.begin(source(Some("next")));
        assert!(!output.lock().account.truncated);
        assert_eq!(output.lock().account.lines, 0);
        drop(pipe);
    }

    fn source(request_id: Option<&str>) -> Source {
        Source {
            component: "c".into(),
            version: "v".into(),
            request_id: request_id.map(Into::into),
        }
    }
}
