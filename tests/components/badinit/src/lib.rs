//! A handler that traps before any handler code runs, for the host's "bad
//! component" tests. Two builds of this source:
//!
//! - default (`badinit.wasm`): the core module exports `_initialize`, which
//!   panics. `wit-component` (run by `wasm-component-ld`) calls a module's
//!   `_initialize` from the component's start function, so
//!   **instantiation itself traps**; no export is ever reached.
//! - feature `first-call-trap` (`badinit-first-call.wasm`): no
//!   `_initialize`; only the `.init_array` constructor below, which
//!   `wasm-ld` folds into `__wasm_call_ctors`. Rust on wasip2 does not run
//!   that at instantiation: wit-bindgen's export wrapper calls it
//!   (`run_ctors_once`) at the start of the first export call, so
//!   **instantiation succeeds and the first `handle` call traps**.
//!
//! In both, the handler is well behaved, so any failure is the
//! initialisation's. The traps exist only on wasm32: `cargo test
//! --workspace` also builds this crate natively, where a constructor that
//! panics would abort the test harness before it starts.

use strata_sdk::{Handler, Request, Response};

/// A constructor; it must never return normally.
#[cfg(target_arch = "wasm32")]
extern "C" fn init() {
    panic!("deliberate trap in a constructor (test-badinit)");
}

/// Registers [`init`] as a constructor. `#[used]` keeps it through the
/// optimiser, and the section name is what makes the linker call it.
#[cfg(target_arch = "wasm32")]
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

/// Exported under the name `wit-component` looks for: a core module that
/// exports `_initialize` gets it called from the component's start, i.e.
/// during instantiation, before any export is reachable.
#[cfg(all(target_arch = "wasm32", not(feature = "first-call-trap")))]
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    panic!("deliberate trap in _initialize (test-badinit)");
}

struct BadInit;

impl Handler for BadInit {
    fn handle(_req: Request) -> Response {
        Response::json(200, &serde_json::json!({ "reached": "handler" }))
    }
}

strata_sdk::export_handler!(BadInit);
