//! What a component's SQLite connection may do, enforced by SQLite itself.
//!
//! Installed on every component connection when its pool opens it
//! ([`install`]):
//! - an authorizer (`sqlite3_set_authorizer`), which SQLite consults for
//!   every action of every statement it compiles, including the ones it
//!   compiles internally. Both policies admit reads, and the read-write
//!   one also DML and DDL on the component's own tables ([`decide`]).
//!   Both refuse PRAGMA (also the table-valued `pragma_*` functions),
//!   ATTACH and DETACH, transactions and savepoints (an open transaction
//!   would outlive the call), temporary objects (they would outlive the
//!   call on a pooled connection), triggers (they run with the rights of
//!   whoever writes the table next, the host included), virtual tables,
//!   changes to the shape of the tables the host's migrations made, any
//!   use of the migration ledger, and functions that load code
//!   (`load_extension`);
//! - `SQLITE_LIMIT_ATTACHED` = 0, so no database can be attached at all;
//! - `SQLITE_DBCONFIG_DEFENSIVE` (no `writable_schema`, no shadow-table
//!   writes) and extension loading off.
//!
//! VACUUM has no authorizer action of its own, and `VACUUM INTO` works
//! even on a `mode=ro` connection. What it does have: it attaches its
//! target internally when it runs, and SQLite asks the authorizer about
//! that ATTACH (with the target path). Verified against SQLite 3.40 and
//! the 3.46 this binary bundles: with ATTACH refused or the attach limit
//! at 0, neither `VACUUM` nor `VACUUM INTO` runs and no file is created.
//! A read-only statement is also refused before it runs when SQLite says
//! it would write (`sqlite3_stmt_readonly`), and VACUUM is such a statement.
//!
//! Per statement, [`check_statement`]: SQLite compiles one statement of a
//! string at a time, and sqlx runs them all. The host compiles the
//! statement first, on the same connection with the same authorizer, and
//! refuses any tail that holds another statement.

// SQLite's authorizer, limits and statement checks are C calls on the
// raw handle sqlx lends; this module is the crate's one FFI boundary.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::{NonNull, null, null_mut};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use super::super::SqlError;
use super::super::guard::Mode;

/// Tables only the host may use, even to read.
const HOST_ONLY: &[&str] = &["_sqlx_migrations"];

/// Tables the host's migrations made: components use their rows as their
/// grant allows, but never change their shape.
const HOST_SHAPED: &[&str] = &["reports", "_sqlx_migrations"];

/// Functions that reach outside the database. Both are off by default
/// (extension loading is also switched off on every connection); refusing
/// them here keeps it so if a build ever turns them on.
const HOST_FUNCTIONS: &[&str] = &["load_extension", "fts3_tokenizer"];

/// SQLite's own tables. SQLite reads and writes them internally while it
/// compiles DDL, asking the authorizer as it goes; it refuses direct
/// writes to the schema by itself (with DEFENSIVE on, even with
/// `writable_schema`), so the authorizer lets them through.
fn is_sqlite_table(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("sqlite_"))
}

fn named(list: &[&str], name: &str) -> bool {
    list.iter().any(|entry| entry.eq_ignore_ascii_case(name))
}

thread_local! {
    /// Why the authorizer last refused something on this thread, so the
    /// refusal reaches the guest with a reason rather than "not authorized".
    static DENIAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn take_denial() -> Option<String> {
    DENIAL.with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
}

/// The authorizer's verdict on one action: `Err` says why it is refused.
/// `arg1`/`arg2` are as SQLite documents them per action code.
fn decide(mode: Mode, action: c_int, arg1: Option<&str>, arg2: Option<&str>) -> Result<(), String> {
    let write = mode == Mode::ReadWrite;
    let read_only = || "this component's SQL grant is read-only".to_string();
    let host_shaped = |table: Option<&str>| {
        table.filter(|t| named(HOST_SHAPED, t)).map_or(Ok(()), |t| {
            Err(format!(
                "the table {t} belongs to the host; components may not change its shape"
            ))
        })
    };
    match action {
        ffi::SQLITE_FUNCTION => match arg2 {
            Some(function) if named(HOST_FUNCTIONS, function) => {
                Err(format!("the function {function} is not allowed"))
            }
            _ => Ok(()),
        },
        ffi::SQLITE_SELECT | ffi::SQLITE_RECURSIVE => Ok(()),
        ffi::SQLITE_READ => match arg1 {
            Some(table) if named(HOST_ONLY, table) => {
                Err(format!("the table {table} belongs to the host"))
            }
            _ => Ok(()),
        },
        ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE => match arg1 {
            Some(table) if is_sqlite_table(table) => Ok(()),
            Some(table) if named(HOST_ONLY, table) => {
                Err(format!("the table {table} belongs to the host"))
            }
            _ if write => Ok(()),
            _ => Err(read_only()),
        },
        ffi::SQLITE_CREATE_TABLE | ffi::SQLITE_CREATE_VIEW if write => Ok(()),
        ffi::SQLITE_DROP_TABLE | ffi::SQLITE_DROP_VIEW | ffi::SQLITE_ANALYZE if write => {
            host_shaped(arg1)
        }
        ffi::SQLITE_CREATE_INDEX | ffi::SQLITE_DROP_INDEX | ffi::SQLITE_ALTER_TABLE if write => {
            host_shaped(arg2)
        }
        // CREATE INDEX asks for a REINDEX of the new index as it builds it.
        ffi::SQLITE_REINDEX if write => Ok(()),
        ffi::SQLITE_CREATE_TABLE
        | ffi::SQLITE_CREATE_VIEW
        | ffi::SQLITE_DROP_TABLE
        | ffi::SQLITE_DROP_VIEW
        | ffi::SQLITE_ANALYZE
        | ffi::SQLITE_CREATE_INDEX
        | ffi::SQLITE_DROP_INDEX
        | ffi::SQLITE_ALTER_TABLE
        | ffi::SQLITE_REINDEX => Err(read_only()),
        ffi::SQLITE_PRAGMA => Err(format!(
            "PRAGMA {} is not allowed",
            arg1.unwrap_or_default()
        )),
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => {
            Err("ATTACH, DETACH and VACUUM are not allowed".into())
        }
        ffi::SQLITE_TRANSACTION | ffi::SQLITE_SAVEPOINT => {
            Err("transaction control is not allowed; each call runs in its own transaction".into())
        }
        ffi::SQLITE_CREATE_TRIGGER | ffi::SQLITE_DROP_TRIGGER => {
            Err("triggers are not allowed".into())
        }
        ffi::SQLITE_CREATE_TEMP_TABLE
        | ffi::SQLITE_CREATE_TEMP_INDEX
        | ffi::SQLITE_CREATE_TEMP_TRIGGER
        | ffi::SQLITE_CREATE_TEMP_VIEW
        | ffi::SQLITE_DROP_TEMP_TABLE
        | ffi::SQLITE_DROP_TEMP_INDEX
        | ffi::SQLITE_DROP_TEMP_TRIGGER
        | ffi::SQLITE_DROP_TEMP_VIEW => Err("temporary objects are not allowed".into()),
        ffi::SQLITE_CREATE_VTABLE | ffi::SQLITE_DROP_VTABLE => {
            Err("virtual tables are not allowed".into())
        }
        other => Err(format!("SQLite action {other} is not allowed")),
    }
}

/// The policy each mode's authorizer reads; `static`, so the pointer
/// SQLite keeps outlives every connection.
static READ_ONLY: Mode = Mode::ReadOnly;
static READ_WRITE: Mode = Mode::ReadWrite;

/// # Safety
/// `text` is null or a NUL-terminated string that outlives the call.
unsafe fn text<'a>(text: *const c_char) -> Option<&'a str> {
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
pub(super) fn install(handle: &mut LockedSqliteHandle<'_>, mode: Mode) -> Result<(), String> {
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
pub(super) fn is_idle(handle: &mut LockedSqliteHandle<'_>) -> bool {
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: a live connection reserved to this thread by the lock.
    unsafe { ffi::sqlite3_get_autocommit(db) != 0 }
}

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
pub(super) fn check_statement(
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
        .map_err(|(rc, message)| super::engine_error(rc, take_denial().unwrap_or(message)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_both_policies_but_the_ledger_does_not() {
        for mode in [Mode::ReadOnly, Mode::ReadWrite] {
            assert!(decide(mode, ffi::SQLITE_READ, Some("reports"), Some("id")).is_ok());
            assert!(decide(mode, ffi::SQLITE_SELECT, None, None).is_ok());
            assert!(decide(mode, ffi::SQLITE_READ, Some("_sqlx_migrations"), None).is_err());
        }
    }

    #[test]
    fn functions_that_reach_outside_the_database_are_refused() {
        for mode in [Mode::ReadOnly, Mode::ReadWrite] {
            assert!(decide(mode, ffi::SQLITE_FUNCTION, None, Some("lower")).is_ok());
            assert!(decide(mode, ffi::SQLITE_FUNCTION, None, Some("LOAD_EXTENSION")).is_err());
        }
    }

    #[test]
    fn only_the_read_write_policy_writes_rows() {
        assert!(decide(Mode::ReadOnly, ffi::SQLITE_DELETE, Some("reports"), None).is_err());
        assert!(decide(Mode::ReadWrite, ffi::SQLITE_DELETE, Some("reports"), None).is_ok());
        assert!(
            decide(
                Mode::ReadWrite,
                ffi::SQLITE_UPDATE,
                Some("_sqlx_migrations"),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn the_host_tables_keep_their_shape() {
        assert!(
            decide(
                Mode::ReadWrite,
                ffi::SQLITE_DROP_TABLE,
                Some("REPORTS"),
                None
            )
            .is_err()
        );
        assert!(
            decide(
                Mode::ReadWrite,
                ffi::SQLITE_ALTER_TABLE,
                Some("main"),
                Some("reports")
            )
            .is_err()
        );
        assert!(
            decide(
                Mode::ReadWrite,
                ffi::SQLITE_CREATE_INDEX,
                Some("i"),
                Some("reports")
            )
            .is_err()
        );
        assert!(decide(Mode::ReadWrite, ffi::SQLITE_DROP_TABLE, Some("mine"), None).is_ok());
    }

    #[test]
    fn no_policy_admits_pragma_attach_transactions_temp_objects_or_triggers() {
        for mode in [Mode::ReadOnly, Mode::ReadWrite] {
            for action in [
                ffi::SQLITE_PRAGMA,
                ffi::SQLITE_ATTACH,
                ffi::SQLITE_DETACH,
                ffi::SQLITE_TRANSACTION,
                ffi::SQLITE_SAVEPOINT,
                ffi::SQLITE_CREATE_TEMP_TABLE,
                ffi::SQLITE_CREATE_TRIGGER,
                ffi::SQLITE_CREATE_VTABLE,
            ] {
                assert!(
                    decide(mode, action, Some("x"), Some("y")).is_err(),
                    "{action}"
                );
            }
        }
    }
}
