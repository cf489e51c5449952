//! The plainest `wasi:http/proxy` component: a small JSON body for every
//! request, built against the upstream WASI WIT only (no Strata SDK, no
//! `strata:host` import). Any wasi:http host serves it as it is, which is
//! what makes it the benchmark's common ground with `wasmtime serve`.

wit_bindgen::generate!({
    world: "wasi:http/proxy@0.2.12",
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = br#"{"hello":"world"}"#;

struct Hello;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::new();
        // A header the component chose, so a client can tell its answer
        // from a host's error page.
        let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(BODY);
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

export!(Hello);
