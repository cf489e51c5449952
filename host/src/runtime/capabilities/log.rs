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

/// The message with control characters written as escapes (`\n`, `\u{1b}`),
/// so a guest cannot start a forged line in a plain-text log or drive the
/// operator's terminal; JSON logs escape them again, harmlessly.
fn escape_controls(message: &str) -> std::borrow::Cow<'_, str> {
    if !message.chars().any(char::is_control) {
        return message.into();
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

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
        let message = escape_controls(&message);
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

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn a_guest_cannot_start_a_new_log_line() {
        let forged = "ok\n2026-01-01T00:00:00Z  INFO strata: admin token accepted\r\u{1b}[2J";
        let escaped = escape_controls(forged);
        assert!(!escaped.contains(['\n', '\r', '\u{1b}']), "{escaped}");
        assert!(escaped.starts_with("ok\\n2026"), "{escaped}");
    }

    #[test]
    fn ordinary_text_is_kept_as_is() {
        assert_eq!(escape_controls("prix: 42 € — ok"), "prix: 42 € — ok");
    }
}
