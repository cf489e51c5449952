//! `strata:host/log` and the standard `wasi:logging/logging`: guest log
//! lines as `tracing` events tagged with the component and version, under
//! one line budget per request whichever interface writes them.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::Instance;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import strata:host/log@0.1.2;",
        imports: { default: async | trappable },
    });
}

mod standard {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import wasi:logging/logging@0.1.0-draft;",
        imports: { default: async | trappable },
    });
}

use bindings::strata::host::log as wit;
use standard::wasi::logging::logging as wasi_logging;

/// Longest guest log message kept; longer ones are cut so a chatty guest
/// cannot flood the host's log pipeline with one line.
const MAX_MESSAGE: usize = 4096;

/// Log lines one request may write; the rest are counted and dropped, so a
/// guest cannot turn the host's log output into its denial of service.
const MAX_LINES_PER_REQUEST: u32 = 1000;

/// Who is logging, so guest log lines are attributable, and how many
/// lines this request has written (they are capped).
pub(crate) struct LogContext {
    component: Arc<str>,
    version: Arc<str>,
    lines: u32,
}

impl LogContext {
    pub(super) fn new(instance: &Instance<'_>) -> Self {
        Self {
            component: instance.component.clone(),
            version: instance.version.clone(),
            lines: 0,
        }
    }
}

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogContext,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<LogContext>>(linker, get)?;
    wasi_logging::add_to_linker::<T, HasSelf<LogContext>>(linker, get)
}

impl wit::Host for LogContext {
    async fn log(&mut self, level: wit::Level, message: String) -> wasmtime::Result<()> {
        self.write(level, message);
        Ok(())
    }
}

impl wasi_logging::Host for LogContext {
    async fn log(
        &mut self,
        level: wasi_logging::Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        use wasi_logging::Level as L;
        let level = match level {
            L::Trace => wit::Level::Trace,
            L::Debug => wit::Level::Debug,
            L::Info => wit::Level::Info,
            L::Warn => wit::Level::Warn,
            L::Error | L::Critical => wit::Level::Error,
        };
        let message = if context.is_empty() {
            message
        } else {
            format!("{context}: {message}")
        };
        self.write(level, message);
        Ok(())
    }
}

impl LogContext {
    /// One guest line, counted against the request's budget, cut and
    /// escaped.
    fn write(&mut self, level: wit::Level, message: String) {
        self.lines += 1;
        if self.lines > MAX_LINES_PER_REQUEST {
            if self.lines == MAX_LINES_PER_REQUEST + 1 {
                tracing::warn!(
                    target: "guest",
                    component = &*self.component,
                    limit = MAX_LINES_PER_REQUEST,
                    "guest log limit reached for this request; dropping further lines"
                );
            }
            return;
        }
        let mut message = message;
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let message = strata_logtext::escape_controls(&message);
        let component = &*self.component;
        let version = &*self.version;
        match level {
            wit::Level::Trace => tracing::trace!(target: "guest", component, version, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "guest", component, version, "{message}"),
            wit::Level::Info => tracing::info!(target: "guest", component, version, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "guest", component, version, "{message}"),
            wit::Level::Error => tracing::error!(target: "guest", component, version, "{message}"),
        }
    }
}
