//! `strata:host/log`: guest log lines as `tracing` events tagged with the
//! component and version.

use crate::runtime::bindings::log as wit;
use crate::runtime::state::HostState;

/// Longest guest log message kept; longer ones are cut so a chatty guest
/// cannot flood the host's log pipeline with one line.
const MAX_MESSAGE: usize = 4096;

/// Log lines one request may write; the rest are counted and dropped, so a
/// guest cannot turn the host's log output into its denial of service.
pub const MAX_LINES_PER_REQUEST: u32 = 1000;

impl wit::Host for HostState {
    async fn log(&mut self, level: wit::Level, message: String) -> wasmtime::Result<()> {
        self.log.lines += 1;
        if self.log.lines > MAX_LINES_PER_REQUEST {
            if self.log.lines == MAX_LINES_PER_REQUEST + 1 {
                tracing::warn!(
                    target: "guest",
                    component = &*self.log.component,
                    limit = MAX_LINES_PER_REQUEST,
                    "guest log limit reached for this request; dropping further lines"
                );
            }
            return Ok(());
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
        let message = crate::runtime::guest_text::escape_controls(&message);
        let component = &*self.log.component;
        let version = &*self.log.version;
        match level {
            wit::Level::Trace => tracing::trace!(target: "guest", component, version, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "guest", component, version, "{message}"),
            wit::Level::Info => tracing::info!(target: "guest", component, version, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "guest", component, version, "{message}"),
            wit::Level::Error => tracing::error!(target: "guest", component, version, "{message}"),
        }
        Ok(())
    }
}
