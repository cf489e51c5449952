//! `GET /openapi.json`: the hand-written description in `openapi.json`,
//! with each host endpoint's access requirement taken from the endpoint
//! table, so the document cannot promise a public endpoint that the host
//! guards or the reverse. Methods answered only to a bearer-token caller
//! (the seed's `GET` clear) are marked deprecated from the table too, so
//! client generators steer callers to the safe method.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::routes::endpoints::ENDPOINTS;

const SOURCE: &str = include_str!("openapi.json");

/// The served document (built once).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| match serde_json::from_str::<Value>(SOURCE) {
        Ok(mut document) => {
            apply_access(&mut document);
            document.to_string()
        }
        // The file is checked by a unit test; should it ever be broken, it
        // is still better served as written than not at all.
        Err(_) => SOURCE.to_string(),
    })
}

/// Sets or removes the bearer-token requirement on every host endpoint's
/// operations, and marks token-only methods deprecated, according to the
/// table.
fn apply_access(document: &mut Value) {
    for endpoint in ENDPOINTS {
        for method in endpoint.methods {
            let operation = document
                .pointer_mut(&format!(
                    "/paths/{}/{}",
                    endpoint.path.replace('~', "~0").replace('/', "~1"),
                    method.as_str().to_ascii_lowercase()
                ))
                .and_then(Value::as_object_mut);
            let Some(operation) = operation else {
                continue;
            };
            if endpoint.is_admin() {
                operation.insert("security".into(), json!([{ "bearerAuth": [] }]));
            } else {
                operation.remove("security");
            }
            if endpoint.needs_token(method) {
                operation.insert("deprecated".into(), json!(true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Value {
        serde_json::from_str(SOURCE).expect("openapi.json is valid JSON")
    }

    #[test]
    fn every_host_endpoint_and_method_is_documented() {
        let document = source();
        for endpoint in ENDPOINTS {
            for method in endpoint.methods {
                let method = method.as_str().to_ascii_lowercase();
                assert!(
                    document["paths"][endpoint.path][&method].is_object(),
                    "openapi.json lacks {method} {}",
                    endpoint.path
                );
            }
        }
    }

    #[test]
    fn token_only_methods_are_deprecated_in_the_source_and_others_are_not() {
        let document = source();
        for endpoint in ENDPOINTS {
            for method in endpoint.methods {
                let operation =
                    &document["paths"][endpoint.path][method.as_str().to_ascii_lowercase()];
                assert_eq!(
                    operation["deprecated"] == json!(true),
                    endpoint.needs_token(method),
                    "{method} {}",
                    endpoint.path
                );
            }
        }
    }

    #[test]
    fn admin_endpoints_require_the_token_and_public_ones_do_not() {
        let document: Value = serde_json::from_str(document()).expect("served document");
        for endpoint in ENDPOINTS {
            for method in endpoint.methods {
                let operation =
                    &document["paths"][endpoint.path][method.as_str().to_ascii_lowercase()];
                assert_eq!(
                    operation.get("security").is_some(),
                    endpoint.is_admin(),
                    "{method} {}",
                    endpoint.path
                );
            }
        }
    }
}
