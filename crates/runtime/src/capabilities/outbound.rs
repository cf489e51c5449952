//! `strata:host/outbound`: HTTP through the host's policed client.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

use strata_upstream::{FetchError, Outbound, OutboundRequest};

use super::{Grants, Instance, Services};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import strata:host/outbound@0.1.2;",
        imports: { default: async | trappable },
        trappable_error_type: {
            "strata:host/outbound.fetch-error" => strata_upstream::FetchError,
        },
    });
}

use bindings::strata::host::outbound as wit;

/// Outbound HTTP limited to the component's allowed hosts. The component's
/// name keys its breakers and counters, so no component can trip another's.
pub(crate) struct OutboundContext {
    client: Arc<Outbound>,
    component: Arc<str>,
    grants: Arc<Grants>,
}

impl OutboundContext {
    pub(super) fn new(services: &Services, instance: &Instance<'_>) -> Self {
        Self {
            client: services.outbound.clone(),
            component: instance.component.clone(),
            grants: instance.grants.clone(),
        }
    }
}

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut OutboundContext,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<OutboundContext>>(linker, get)
}

impl OutboundContext {
    async fn call(&self, req: wit::Request) -> Result<wit::Response, FetchError> {
        let request = OutboundRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout: req
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        };
        let response = self
            .client
            .fetch(&self.component, &self.grants.outbound, request)
            .await?;
        Ok(wit::Response {
            status: response.status,
            headers: response.headers,
            body: response.body.to_vec(),
        })
    }
}

impl wit::Host for OutboundContext {
    async fn fetch(&mut self, req: wit::Request) -> Result<wit::Response, FetchError> {
        self.call(req).await
    }

    async fn send(
        &mut self,
        req: wit::Request,
    ) -> wasmtime::Result<Result<wit::Response, wit::SendError>> {
        Ok(match self.call(req).await {
            Ok(response) => Ok(response),
            Err(FetchError::RateLimited(wait)) => {
                Err(wit::SendError::RateLimited(retry_after_secs(wait)))
            }
            Err(error) => Err(wit::SendError::Fetch(self.convert_fetch_error(error)?)),
        })
    }

    /// Every fetch failure is the guest's to handle; none traps.
    fn convert_fetch_error(&mut self, error: FetchError) -> wasmtime::Result<wit::FetchError> {
        Ok(match error {
            FetchError::Denied(host) => wit::FetchError::Denied(host),
            FetchError::InvalidRequest(m) => wit::FetchError::InvalidRequest(m),
            FetchError::Timeout => wit::FetchError::Timeout,
            FetchError::CircuitOpen(host) => wit::FetchError::CircuitOpen(host),
            FetchError::TooLarge(n) => wit::FetchError::TooLarge(n),
            FetchError::Transport(m) => wit::FetchError::Transport(m),
            // `fetch` predates budgets; its callers know an open breaker as
            // "nothing was sent, come back later", which is what this is.
            spent @ FetchError::RateLimited(_) => wit::FetchError::CircuitOpen(spent.to_string()),
        })
    }
}

/// Whole seconds a guest should wait, rounded up and at least 1, as
/// `Retry-After` wants them.
fn retry_after_secs(wait: Duration) -> u32 {
    let millis = wait.as_millis().max(1);
    u32::try_from(millis.div_ceil(1000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::MAX), u32::MAX);
    }
}
