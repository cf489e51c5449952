//! Compiling a component's statement first, to refuse a second one.
//!
//! SQLite compiles one statement of a string at a time and sqlx runs them
//! all, so "one statement per call" can only be enforced by compiling the
//! first statement on the same connection, under the same authorizer, and
//! looking at what is left; that takes `sqlite3_prepare_v2` directly.

// Preparing, inspecting and finalizing statements are C calls on the raw
// handle sqlx lends; this module and `authorizer` are the crate's FFI
// boundary.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int};
use std::ptr::{NonNull, null, null_mut};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use super::authorizer::{take_denial, text};
use crate::SqlError;
use crate::guard::Mode;
use crate::sqlite::error::engine_error;

/// A compiled statement, finalized on drop.
struct Compiled(NonNull<ffi::sqlite3_stmt>);

impl Drop for Compiled {
    fn drop(&mut self) {
        // SAFETY: the statement came from sqlite3_prepare_v2 and is
        // finalized exactly once, here.
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

/// Compiles the first statement of `sql`: the statement (none when `sql`
/// holds only comments and whitespace) and the bytes it consumed, or the
/// engine's error code and message.
fn compile(
    db: *mut ffi::sqlite3,
    sql: &[u8],
) -> Result<(Option<Compiled>, usize), (c_int, String)> {
    let len = c_int::try_from(sql.len())
        .map_err(|_| (ffi::SQLITE_TOOBIG, "the statement is too long".into()))?;
    let start = sql.as_ptr().cast::<c_char>();
    let mut stmt = null_mut();
    let mut tail = null();
    // SAFETY: `db` is a live connection reserved to this thread; `start`
    // and `len` describe a live buffer without NUL bytes (checked by the
    // caller), which SQLite only reads; the out-pointers are valid.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db, start, len, &mut stmt, &mut tail) };
    let compiled = NonNull::new(stmt).map(Compiled);
    if rc != ffi::SQLITE_OK {
        // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by
        // the connection, valid until its next call; copied at once.
        let message = unsafe { text(ffi::sqlite3_errmsg(db)) }
            .unwrap_or("error")
            .to_string();
        return Err((rc, message));
    }
    // SAFETY: on success SQLite sets `tail` inside `sql` (or to its end).
    let used = usize::try_from(unsafe { tail.offset_from(start) }).unwrap_or(sql.len());
    Ok((compiled, used.min(sql.len())))
}

/// Refuses a statement the engine would not let `mode` run, or any second
/// statement after it: see the module documentation.
pub(in crate::sqlite) fn check_statement(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    mode: Mode,
) -> Result<(), SqlError> {
    if sql.contains('\0') {
        // SQLite stops reading at a NUL, and sqlx would then spin on it.
        return Err(SqlError::Invalid(
            "a statement may not contain NUL characters".into(),
        ));
    }
    let db = handle.as_raw_handle().as_ptr();
    take_denial();
    let (first, used) = compile(db, sql.as_bytes())
        .map_err(|(rc, message)| engine_error(rc, take_denial().unwrap_or(message)))?;
    let Some(first) = first else {
        return Err(SqlError::Invalid("the statement is empty".into()));
    };
    // SAFETY: a valid compiled statement, alive until `first` drops.
    if mode == Mode::ReadOnly && unsafe { ffi::sqlite3_stmt_readonly(first.0.as_ptr()) } == 0 {
        return Err(SqlError::Denied(
            "this component's SQL grant is read-only and the statement would write".into(),
        ));
    }
    let mut rest = &sql.as_bytes()[used..];
    while !rest.iter().all(u8::is_ascii_whitespace) {
        match compile(db, rest) {
            Ok((None, used)) if used > 0 => rest = &rest[used..],
            Ok((None, _)) => break,
            Ok((Some(_), _)) | Err(_) => {
                take_denial();
                return Err(SqlError::Invalid(
                    "only one statement per call is allowed".into(),
                ));
            }
        }
    }
    Ok(())
}
