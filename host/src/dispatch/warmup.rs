//! Warm-up: each component's declared paths are requested once after it
//! loads, so caches such as the latest report are primed before traffic
//! arrives instead of by the first unlucky client.

use std::sync::Arc;

use http_body_util::BodyExt;
use strata_runtime::LoadedComponent;

use super::Dispatcher;

impl Dispatcher {
    /// Requests each deployed component's warm-up paths once.
    pub async fn warm_up(&self) {
        self.warm_up_components(&self.current().registry.all())
            .await;
    }

    /// Requests the warm-up paths of `components` once (after start, or
    /// after a deploy brought them in).
    pub async fn warm_up_components(&self, components: &[Arc<LoadedComponent>]) {
        for component in components {
            for path in &component.warmup {
                let request = hyper::Request::builder()
                    .method(hyper::Method::GET)
                    .uri(path.as_str())
                    .header(hyper::header::HOST, "localhost")
                    .body(crate::body::empty());
                let Ok(request) = request else {
                    tracing::warn!(component = &*component.name, path, "invalid warm-up path");
                    continue;
                };
                match self.dispatch(request).await {
                    Ok(response) => {
                        let status = response.status();
                        // Drain the body so the guest finishes and its
                        // cache writes complete.
                        let _ = response.into_body().collect().await;
                        tracing::info!(component = &*component.name, path, %status, "warm-up request done");
                    }
                    Err(e) => {
                        tracing::warn!(component = &*component.name, path, error = %e, "warm-up request failed")
                    }
                }
            }
        }
    }
}
