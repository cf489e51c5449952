//! A component written for any host that offers the standard draft
//! `wasi:keyvalue` interfaces, from their upstream WIT and no Strata SDK:
//! `0.2.0-draft2` (Spin), or `0.2.0-draft` (wasmCloud 1.x) with feature
//! `draft`. Each request runs one operation, named by the path after its
//! first `/kv/` (so it can be routed under any prefix); path segments are
//! percent-decoded, so a test can send any key.
//!
//! | request | operation | answer |
//! |---|---|---|
//! | `GET /kv/get/B/K` | `open(B).get(K)` | `200` value, `404` absent |
//! | `PUT /kv/set/B/K` + body | `set(K, body)` | `200 ok` |
//! | `GET /kv/delete/B/K` | `delete(K)` | `200 ok` |
//! | `GET /kv/exists/B/K` | `exists(K)` | `200 true` / `200 false` |
//! | `GET /kv/list/B` | `list-keys` until no cursor | `200` keys sorted, one per line; header `kv-pages` |
//! | `GET /kv/incr/B/K/D` | `atomics.increment(K, D)` | `200` new value |
//! | `GET /kv/get-many/B/K1,K2` | `batch.get-many` | `200` `K=V` or `K absent` per line |
//! | `PUT /kv/set-many/B` + `K=V` lines | `batch.set-many` | `200 ok` |
//! | `GET /kv/delete-many/B/K1,K2` | `batch.delete-many` | `200 ok` |
//! | `GET /kv/hold/B/N` | opens B N times, keeping every handle | `200 opened N`, or `409` with the refusal |
//! | `GET /kv/cas/B/K/V` (draft2) | `cas.new`, `swap(V)`; on `cas-failed` once more with the new handle | `200 swapped over <old>` |
//! | `GET /kv/cas-race/B/K/V` (draft2) | `cas.new`, then `set(K, intruder)`, then `swap(V)` | `200 cas-failed, current <value>` |
//!
//! A refused operation answers `409` with the WIT error: `access-denied`,
//! `no-such-store` or `other: MESSAGE`.

#[cfg(not(feature = "draft"))]
wit_bindgen::generate!({
    inline: r#"
        package test:keyvalue;

        world keyvalue {
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
            include wasi:http/proxy@0.2.12;
        }
    "#,
    path: "../../../wit",
    generate_all,
});

#[cfg(feature = "draft")]
wit_bindgen::generate!({
    inline: r#"
        package test:keyvalue;

        world keyvalue {
            import wasi:keyvalue/store@0.2.0-draft;
            import wasi:keyvalue/atomics@0.2.0-draft;
            import wasi:keyvalue/batch@0.2.0-draft;
            include wasi:http/proxy@0.2.12;
        }
    "#,
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
// Both drafts sit in Strata's `wit/`, so the bindings name the package
// module by its version.
#[cfg(feature = "draft")]
use wasi::keyvalue0_2_0_draft::{atomics, batch, store};
#[cfg(not(feature = "draft"))]
use wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

struct KeyValue;

/// What one request answers: status, body, extra headers.
type Answer = (u16, String, Vec<(String, String)>);

fn answer(response_out: ResponseOutparam, (status, body, headers): Answer) {
    let fields = Fields::new();
    for (name, value) in headers {
        let _ = fields.append(&name, value.as_bytes());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let Ok(out) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = out.write() {
        for chunk in body.as_bytes().chunks(4096) {
            let _ = stream.blocking_write_and_flush(chunk);
        }
    }
    let _ = OutgoingBody::finish(out, None);
}

fn describe(error: &store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no-such-store".into(),
        store::Error::AccessDenied => "access-denied".into(),
        store::Error::Other(message) => format!("other: {message}"),
    }
}

fn ok(body: impl Into<String>) -> Answer {
    (200, body.into(), Vec::new())
}

fn refused(error: &store::Error) -> Answer {
    (409, describe(error), Vec::new())
}

/// `%XX` escapes decoded; the bytes read as UTF-8 (lossily).
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_body(request: IncomingRequest) -> Vec<u8> {
    let mut body = Vec::new();
    let Ok(incoming) = request.consume() else {
        return body;
    };
    if let Ok(stream) = incoming.stream() {
        while let Ok(chunk) = stream.blocking_read(65536) {
            body.extend_from_slice(&chunk);
        }
    }
    let _ = IncomingBody::finish(incoming);
    body
}

fn run(op: &str, bucket: &str, rest: &[String], body: Vec<u8>) -> Result<Answer, store::Error> {
    if op == "hold" {
        let wanted: usize = rest.first().and_then(|n| n.parse().ok()).unwrap_or(1);
        let mut held = Vec::new();
        for i in 0..wanted {
            match store::open(bucket) {
                Ok(handle) => held.push(handle),
                Err(e) => {
                    return Ok((409, format!("refused at {i}: {}", describe(&e)), Vec::new()));
                }
            }
        }
        return Ok(ok(format!("opened {}", held.len())));
    }
    let handle = store::open(bucket)?;
    let key = rest.first().cloned().unwrap_or_default();
    Ok(match op {
        "get" => match handle.get(&key)? {
            Some(value) => ok(String::from_utf8_lossy(&value)),
            None => (404, "absent".into(), Vec::new()),
        },
        "set" => {
            handle.set(&key, &body)?;
            ok("ok")
        }
        "delete" => {
            handle.delete(&key)?;
            ok("ok")
        }
        "exists" => ok(handle.exists(&key)?.to_string()),
        "list" => {
            let mut keys = Vec::new();
            let mut cursor: Option<Cursor> = None;
            let mut pages = 0;
            loop {
                let page = list_page(&handle, &cursor)?;
                pages += 1;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            keys.sort();
            (
                200,
                keys.join("\n"),
                vec![("kv-pages".into(), pages.to_string())],
            )
        }
        "incr" => {
            let Some(delta) = rest.get(1).and_then(|d| d.parse().ok()) else {
                return Ok((400, "bad delta".into(), Vec::new()));
            };
            ok(atomics::increment(&handle, &key, delta)?.to_string())
        }
        "get-many" => {
            let keys: Vec<String> = key.split(',').map(str::to_string).collect();
            let found = batch::get_many(&handle, &keys)?;
            let lines: Vec<String> = keys
                .iter()
                .zip(found)
                .map(|(key, pair)| match pair {
                    Some((k, v)) => format!("{k}={}", String::from_utf8_lossy(&v)),
                    None => format!("{key} absent"),
                })
                .collect();
            ok(lines.join("\n"))
        }
        "set-many" => {
            let text = String::from_utf8_lossy(&body).into_owned();
            let pairs: Vec<(String, Vec<u8>)> = text
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            batch::set_many(&handle, &pairs)?;
            ok("ok")
        }
        "delete-many" => {
            let keys: Vec<String> = key.split(',').map(str::to_string).collect();
            batch::delete_many(&handle, &keys)?;
            ok("ok")
        }
        #[cfg(not(feature = "draft"))]
        "cas" | "cas-race" => cas(op, &handle, &key, rest.get(1).cloned().unwrap_or_default())?,
        _ => (404, "no such operation".into(), Vec::new()),
    })
}

/// The `list-keys` cursor: a string in draft2, a number in the draft.
#[cfg(not(feature = "draft"))]
type Cursor = String;
#[cfg(feature = "draft")]
type Cursor = u64;

#[cfg(not(feature = "draft"))]
fn list_page(
    bucket: &store::Bucket,
    cursor: &Option<Cursor>,
) -> Result<store::KeyResponse, store::Error> {
    bucket.list_keys(cursor.as_deref())
}

#[cfg(feature = "draft")]
fn list_page(
    bucket: &store::Bucket,
    cursor: &Option<Cursor>,
) -> Result<store::KeyResponse, store::Error> {
    bucket.list_keys(*cursor)
}

/// Draft2's compare-and-swap; `cas-race` writes the key between taking
/// the handle and swapping, so the swap must fail.
#[cfg(not(feature = "draft"))]
fn cas(op: &str, handle: &store::Bucket, key: &str, value: String) -> Result<Answer, store::Error> {
    let cas = atomics::Cas::new(handle, key)?;
    let old = cas.current()?;
    if op == "cas-race" {
        handle.set(key, b"intruder")?;
    }
    let show = |v: Option<Vec<u8>>| {
        v.map_or("nothing".into(), |v| {
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    match atomics::swap(cas, value.as_bytes()) {
        Ok(()) => Ok(ok(format!("swapped over {}", show(old)))),
        Err(atomics::CasError::StoreError(e)) => Err(e),
        Err(atomics::CasError::CasFailed(fresh)) => {
            let current = fresh.current()?;
            Ok(ok(format!("cas-failed, current {}", show(current))))
        }
    }
}

impl Guest for KeyValue {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default().to_string();
        let segments: Vec<String> = path
            .split_once("/kv/")
            .map_or("", |(_, rest)| rest)
            .split('/')
            .map(decode)
            .collect();
        let writes = matches!(request.method(), Method::Put | Method::Post);
        let body = if writes {
            read_body(request)
        } else {
            Vec::new()
        };
        let reply = match segments.as_slice() {
            [op, bucket, rest @ ..] => run(op, bucket, rest, body).unwrap_or_else(|e| refused(&e)),
            _ => (404, "no such path".into(), Vec::new()),
        };
        answer(response_out, reply);
    }
}

export!(KeyValue);
