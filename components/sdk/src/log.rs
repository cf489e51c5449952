//! Logging into the host's `tracing` output, which tags each line with the
//! component and request, so guests need no logger of their own.

use crate::bindings::strata::host::log as wit;

pub use wit::Level;

pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

pub fn trace(message: &str) {
    log(Level::Trace, message);
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
