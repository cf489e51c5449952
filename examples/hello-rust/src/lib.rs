//! Hello from Rust: a Strata component written with the Strata SDK.
//!
//! It answers every request with the `greeting` setting from its manifest
//! entry, logs a line through `strata:host/log` (the host writes it under
//! this component and the request id), and shows what a panic does: a path
//! ending in `/fail` panics, the message reaches the host's log, and the
//! client gets a generic JSON 500 carrying the request id.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p example-hello-rust`.

use strata_sdk::{Handler, Request, Response, config, log};

struct Hello;

impl Handler for Hello {
    fn handle(req: Request) -> Response {
        if req.path.ends_with("/fail") {
            panic!("the example failed on purpose");
        }
        log::info(&format!("answering {}", req.path));
        let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());
        Response::new(200, format!("{greeting} from Rust\n"))
            .with_header("content-type", "text/plain")
    }
}

strata_sdk::export_handler!(Hello);
