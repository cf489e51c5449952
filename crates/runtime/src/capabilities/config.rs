//! `strata:host/config` and the standard `wasi:config/store`: the
//! component's own manifest settings, through either interface.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::{Grants, Instance};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import strata:host/config@0.1.2;",
        imports: { default: async | trappable },
    });
}

mod standard {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import wasi:config/store@0.2.0-draft;",
        imports: { default: async | trappable },
    });
}

use bindings::strata::host::config as wit;
use standard::wasi::config::store;

/// The settings of the component this instance runs.
pub(crate) struct ConfigContext {
    grants: Arc<Grants>,
}

impl ConfigContext {
    pub(super) fn new(instance: &Instance<'_>) -> Self {
        Self {
            grants: instance.grants.clone(),
        }
    }
}

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ConfigContext,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<ConfigContext>>(linker, get)?;
    store::add_to_linker::<T, HasSelf<ConfigContext>>(linker, get)
}

impl wit::Host for ConfigContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.grants.config.get(&key).cloned())
    }
}

impl store::Host for ConfigContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        Ok(Ok(self.grants.config.get(&key).cloned()))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        Ok(Ok(self
            .grants
            .config
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()))
    }
}
