//! A Strata component, scaffolded by `strata new --lang rust`.
//!
//! It answers every request with the `greeting` setting from its manifest
//! entry (read through `strata:host/config`); what it prints goes to the
//! host's log under this component and the request id. `wit/app.wit` is
//! the world it is built against: include a `strata:host/with-*` world for
//! each capability it uses, and grant it in `strata.toml`.

wit_bindgen::generate!({
    world: "app",
    path: "wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use strata::host::config;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        println!("answering {path}");
        let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());

        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"text/plain".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(format!("{greeting} from Rust\n").as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

export!(Component);
