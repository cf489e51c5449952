//! Per-component settings from the manifest, so a component is configured
//! (upstream URL, limits) without being rebuilt.

use crate::bindings::strata::host::config as wit;

/// The value of setting `key`, or `None` when the manifest does not set it.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of a setting the component cannot work without; a missing one
/// is a deployment mistake, reported as a 500 naming the key.
pub fn require(key: &str) -> Result<String, crate::HttpError> {
    get(key).ok_or_else(|| crate::HttpError::internal(format!("setting '{key}' is not configured")))
}
