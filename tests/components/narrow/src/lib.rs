//! A component built the way `wit/host.wit` tells authors of any language
//! to: a world of its own that includes `strata:host/proxy` and only the
//! capability worlds it uses (`with-config`), so it imports
//! `strata:host/config` and no other Strata interface and deploys without
//! cache, SQL or outbound grants. Every answer is `200` with the value of
//! the `greeting` setting (empty when unset).

wit_bindgen::generate!({
    inline: r#"
        package test:narrow;

        world narrow {
            include strata:host/proxy@0.1.2;
            include strata:host/with-config@0.1.2;
        }
    "#,
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use strata::host::config;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Narrow;

impl Guest for Narrow {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let greeting = config::get("greeting").unwrap_or_default();
        let response = OutgoingResponse::new(Fields::new());
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(greeting.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

export!(Narrow);
