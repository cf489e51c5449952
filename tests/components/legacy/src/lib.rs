//! A component built against `strata:host@0.1.0` as it was released (the
//! frozen copy in `wit/`), without the SDK: whatever the host's contract
//! has gained since, a component built before must keep linking and
//! working. It answers every request with what `get-or-lease` says about
//! the key `legacy:probe` (computing and filling it on a miss).

wit_bindgen::generate!({
    world: "strata:host/handler",
    path: "wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use strata::host::cache::{self, Lookup};
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const KEY: &str = "legacy:probe";

struct Legacy;

impl Guest for Legacy {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let text = match cache::get_or_lease(KEY) {
            Ok(Lookup::Hit(entry)) => format!("hit {}", String::from_utf8_lossy(&entry.value)),
            Ok(Lookup::Compute(lease)) => match lease.fill(b"computed-by-0.1.0", None) {
                Ok(()) => "computed".to_string(),
                Err(err) => format!("fill failed: {err:?}"),
            },
            Err(err) => format!("refused: {err:?}"),
        };
        respond(response_out, &text);
    }
}

/// Sends `text` as a 200 response; a failure to do so leaves the host to
/// answer 500, which is all a component could do about it anyway.
fn respond(out: ResponseOutparam, text: &str) {
    let response = OutgoingResponse::new(Fields::new());
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        let _ = stream.blocking_write_and_flush(text.as_bytes());
    }
    let _ = OutgoingBody::finish(body, None);
}

export!(Legacy);
