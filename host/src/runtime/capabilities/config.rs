//! `strata:host/config`: the component's own manifest settings.

use crate::runtime::bindings::config as wit;
use crate::runtime::state::HostState;

impl wit::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.config.get(&key).cloned())
    }
}
