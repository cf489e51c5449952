//! The test-only components, ready to load: `build.rs` compiles the crates
//! in `tests/components` for `wasm32-wasip2` whenever they (or the SDK and
//! WIT they build on) change, and this crate exposes where the artifacts
//! are. Depending on it is all a test or the benchmark needs to do: cargo
//! orders the build, so nothing builds components at run time.
//!
//! | constant | component |
//! |---|---|
//! | [`ECHO_V1`], [`ECHO_V2`] | `echo`, built with `ECHO_VERSION=v1` / `v2`: answers with its version, for hot-deploy tests |
//! | [`HOSTILE`] | `hostile`: misbehaves on demand (traps, loops, floods, refused capabilities) |
//! | [`BADINIT`] | `badinit`: traps in its constructors, before any handler code runs |
//! | [`BADINIT_FIRST_CALL`] | `badinit` with `first-call-trap`: instantiates, then traps on the first call |
//! | [`STANDARD`] | `standard`: `wasi:config/store` and `wasi:logging/logging` from the upstream WIT, no Strata SDK |
//! | [`NARROW`] | `narrow`: built against a world of `strata:host/proxy` + `strata:host/with-config`, importing only `strata:host/config` |
//! | [`KEYVALUE`] | `keyvalue`: `wasi:keyvalue` store, atomics and batch at `0.2.0-draft2` (Spin's) from the upstream WIT, no Strata SDK |
//! | [`KEYVALUE_DRAFT`] | `keyvalue` with feature `draft`: the same against `0.2.0-draft` (wasmCloud's) |
//! | [`WRONGWORLD`] | `wrongworld`: a valid component that exports no `wasi:http/incoming-handler` |

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

#[cfg(test)]
mod tests {
    #[test]
    fn every_program_is_a_component() {
        for path in super::ALL {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                &bytes[..8],
                b"\0asm\x0d\0\x01\0",
                "{path} is not a component"
            );
        }
    }
}
