//! Bridges `wasi:http/incoming-handler` to the [`Handler`] trait.

use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::{Request, Response, log};

/// Largest request body a handler is given. Handlers receive bodies whole, so
/// the bound keeps one request from exhausting the instance's memory; larger
/// bodies are answered with 413 before the handler runs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much to ask the input stream for at once.
const READ_CHUNK: u64 = 64 * 1024;

/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;

/// A component's request handler.
///
/// An associated function rather than a method: a component instance serves
/// one request and keeps no state between requests, so there is no `self`
/// worth having.
pub trait Handler {
    fn handle(req: Request) -> Response;
}

/// Exports `$handler` (a type implementing [`Handler`]) as the component's
/// `wasi:http/incoming-handler`.
///
/// Use it once, at the root of a `cdylib` component crate. It expands to a
/// hidden type implementing the generated `Guest` trait and to wit-bindgen's
/// own export macro, pointed at this crate's bindings with `with_types_in`, so
/// the component needs no direct `wit-bindgen` dependency.
#[macro_export]
macro_rules! export_handler {
    ($handler:ty) => {
        const _: () = {
            struct __StrataIncomingHandler;

            impl $crate::bindings::exports::wasi::http::incoming_handler::Guest
                for __StrataIncomingHandler
            {
                fn handle(
                    request: $crate::bindings::wasi::http::types::IncomingRequest,
                    response_out: $crate::bindings::wasi::http::types::ResponseOutparam,
                ) {
                    $crate::__private::serve::<$handler>(request, response_out);
                }
            }

            $crate::bindings::export!(
                __StrataIncomingHandler with_types_in $crate::bindings
            );
        };
    };
}

/// Reads `request`, runs `H`, and writes its response to `response_out`.
/// Public only for [`export_handler!`].
pub fn serve<H: Handler>(request: IncomingRequest, response_out: ResponseOutparam) {
    let response = match read_request(request) {
        Ok(req) => H::handle(req),
        Err(rejection) => rejection,
    };
    write_response(response, response_out);
}

/// Converts the WASI request into a [`Request`], or the response to send
/// instead when the body cannot be read or is too large.
fn read_request(request: IncomingRequest) -> Result<Request, Response> {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".to_string(),
        Method::Post => "POST".to_string(),
        Method::Put => "PUT".to_string(),
        Method::Delete => "DELETE".to_string(),
        Method::Connect => "CONNECT".to_string(),
        Method::Options => "OPTIONS".to_string(),
        Method::Trace => "TRACE".to_string(),
        Method::Patch => "PATCH".to_string(),
        Method::Other(other) => other.to_ascii_uppercase(),
    };
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_string());
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (path_with_query, None),
    };
    let headers: Vec<(String, String)> = {
        // The headers resource is a child of the request; scope it so it is
        // dropped before the request is.
        let fields = request.headers();
        fields
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect()
    };

    let declared_len = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }

    let body = read_body(&request)?;
    Ok(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let incoming = request
        .consume()
        .map_err(|()| Response::error(500, "request body was already consumed"))?;
    let mut body = Vec::new();
    {
        // The stream is a child of the body and must go before `finish`.
        let stream = incoming
            .stream()
            .map_err(|()| Response::error(500, "request body stream unavailable"))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(err)) => {
                    return Err(Response::error(
                        400,
                        &format!("failed to read request body: {}", err.to_debug_string()),
                    ));
                }
            }
        }
    }
    // Trailers are not part of the handler API; dropping the future ignores
    // them.
    drop(IncomingBody::finish(incoming));
    Ok(body)
}

fn too_large() -> Response {
    Response::error(413, &format!("request body exceeds {MAX_BODY_BYTES} bytes"))
}

/// Sends `response`. Failures here cannot be reported to the client any more
/// (the status line may already be out), so they are logged.
fn write_response(response: Response, response_out: ResponseOutparam) {
    let fields = Fields::new();
    for (name, value) in &response.headers {
        // The body is written in full below, so the SDK owns the length.
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if let Err(err) = fields.append(name, value.as_bytes()) {
            log::warn(&format!("dropping invalid response header {name:?}: {err}"));
        }
    }
    if let Err(err) = fields.append("content-length", response.body.len().to_string().as_bytes()) {
        log::warn(&format!("could not set content-length: {err}"));
    }

    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(response.status).is_err() {
        log::error(&format!(
            "handler returned invalid status {}; sending 500",
            response.status
        ));
        // 500 is always a valid status code.
        let _ = outgoing.set_status_code(500);
    }
    let Ok(body) = outgoing.body() else {
        ResponseOutparam::set(
            response_out,
            Err(ErrorCode::InternalError(Some(
                "response body unavailable".to_string(),
            ))),
        );
        return;
    };
    ResponseOutparam::set(response_out, Ok(outgoing));

    {
        let Ok(stream) = body.write() else {
            log::error("response body stream unavailable");
            return;
        };
        for chunk in response.body.chunks(WRITE_CHUNK) {
            if let Err(err) = stream.blocking_write_and_flush(chunk) {
                log::warn(&format!("client went away while writing response: {err}"));
                return;
            }
        }
    }
    if let Err(err) = OutgoingBody::finish(body, None) {
        log::warn(&format!("failed to finish response body: {err}"));
    }
}
