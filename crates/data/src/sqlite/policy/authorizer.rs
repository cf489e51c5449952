//! The authorizer callback and the connection-wide limits, set through
//! SQLite's C API.
//!
//! SQLite consults an authorizer only if one is registered on the raw
//! connection, and the attach limit and DEFENSIVE flag are likewise C
//! calls; sqlx exposes none of them, so they are made here.

// Registering the authorizer, setting limits and reading a refusal's
// strings are C calls on the raw handle sqlx lends; this module and
// `statement` are the crate's FFI boundary.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::null_mut;

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use super::rules::decide;
use crate::guard::Mode;

thread_local! {
    /// Why the authorizer last refused something on this thread, so the
    /// refusal reaches the guest with a reason rather than "not authorized".
    static DENIAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(super) fn take_denial() -> Option<String> {
    DENIAL.with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
}

/// The policy each mode's authorizer reads; `static`, so the pointer
/// SQLite keeps outlives every connection.
static READ_ONLY: Mode = Mode::ReadOnly;
static READ_WRITE: Mode = Mode::ReadWrite;

/// # Safety
/// `text` is null or a NUL-terminated string that outlives the call.
pub(super) unsafe fn text<'a>(text: *const c_char) -> Option<&'a str> {
    if text.is_null() {
        return None;
    }
    // SAFETY: non-null, and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(text) }.to_str().ok()
}

/// The callback SQLite calls; must not unwind (nothing here panics).
unsafe extern "C" fn authorize(
    policy: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    // SAFETY: `policy` is the `&'static Mode` passed to
    // sqlite3_set_authorizer in `install`; SQLite hands the argument
    // strings over NUL-terminated and valid for the duration of the call.
    let (mode, arg1, arg2) = unsafe { (*policy.cast::<Mode>(), text(arg1), text(arg2)) };
    match decide(mode, action, arg1, arg2) {
        Ok(()) => ffi::SQLITE_OK,
        Err(reason) => {
            DENIAL.with(|cell| {
                if let Ok(mut slot) = cell.try_borrow_mut() {
                    *slot = Some(reason);
                }
            });
            ffi::SQLITE_DENY
        }
    }
}

/// Applies the connection-wide policy for `mode` (see the module docs).
pub(in crate::sqlite) fn install(
    handle: &mut LockedSqliteHandle<'_>,
    mode: Mode,
) -> Result<(), String> {
    let db = handle.as_raw_handle().as_ptr();
    let policy: &'static Mode = match mode {
        Mode::ReadOnly => &READ_ONLY,
        Mode::ReadWrite => &READ_WRITE,
    };
    // SAFETY: `db` is a live connection that the locked handle reserves for
    // this thread (sqlx's worker makes no call on it meanwhile). The
    // variadic db_config calls pass the (int, int*) the two options take.
    // The authorizer's user data is a `'static`, so it outlives `db`.
    let outcomes = unsafe {
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0);
        [
            ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_DEFENSIVE,
                1 as c_int,
                null_mut::<c_int>(),
            ),
            ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                0 as c_int,
                null_mut::<c_int>(),
            ),
            ffi::sqlite3_set_authorizer(
                db,
                Some(authorize),
                (policy as *const Mode).cast_mut().cast::<c_void>(),
            ),
        ]
    };
    if outcomes.iter().any(|&rc| rc != ffi::SQLITE_OK) {
        return Err(format!(
            "cannot apply the component SQL policy: {outcomes:?}"
        ));
    }
    Ok(())
}

/// Whether the connection is outside any transaction (the authorizer
/// refuses BEGIN, so one left open means something went wrong).
pub(in crate::sqlite) fn is_idle(handle: &mut LockedSqliteHandle<'_>) -> bool {
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: a live connection reserved to this thread by the lock.
    unsafe { ffi::sqlite3_get_autocommit(db) != 0 }
}
