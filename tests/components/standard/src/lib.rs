//! A component written for any host that offers the standard draft
//! interfaces: `wasi:config/store` and `wasi:logging/logging` from their
//! upstream WIT, plus `wasi:http/proxy`, and no Strata SDK or `strata:host`
//! import.
//!
//! | path | answer |
//! |---|---|
//! | `/std/config/KEY` | `200` with the value of KEY, `404` when it is not set |
//! | `/std/config-all` | `200` with every `key=value`, one per line, sorted |
//! | `/std/log` | writes `standard says hello` through `wasi:logging` (context `std`), `200` |

wit_bindgen::generate!({
    inline: r#"
        package test:standard;

        world standard {
            import wasi:config/store@0.2.0-draft;
            import wasi:logging/logging@0.1.0-draft;
            include wasi:http/proxy@0.2.12;
        }
    "#,
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::config::store;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::logging::logging::{self, Level};

struct Standard;

fn answer(response_out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let Ok(out) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = out.write() {
        let _ = stream.blocking_write_and_flush(body.as_bytes());
    }
    let _ = OutgoingBody::finish(out, None);
}

impl Guest for Standard {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        if let Some(key) = path.strip_prefix("/std/config/") {
            match store::get(key) {
                Ok(Some(value)) => answer(response_out, 200, &value),
                Ok(None) => answer(response_out, 404, "not set"),
                Err(e) => answer(response_out, 500, &format!("{e:?}")),
            }
        } else if path == "/std/config-all" {
            match store::get_all() {
                Ok(mut all) => {
                    all.sort();
                    let lines: Vec<String> = all
                        .iter()
                        .map(|(key, value)| format!("{key}={value}"))
                        .collect();
                    answer(response_out, 200, &lines.join("\n"));
                }
                Err(e) => answer(response_out, 500, &format!("{e:?}")),
            }
        } else if path == "/std/log" {
            logging::log(Level::Info, "std", "standard says hello");
            answer(response_out, 200, "logged");
        } else {
            answer(response_out, 404, "no such path");
        }
    }
}

export!(Standard);
