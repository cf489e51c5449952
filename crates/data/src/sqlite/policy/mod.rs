//! What a component's SQLite connection may do, enforced by SQLite itself.
//!
//! Installed on every component connection when its pool opens it
//! ([`install`]):
//! - an authorizer (`sqlite3_set_authorizer`), which SQLite consults for
//!   every action of every statement it compiles, including the ones it
//!   compiles internally. Both policies admit reads, and the read-write
//!   one also DML and DDL on the component's own tables ([`rules::decide`]).
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
//!
//! The rules themselves are plain Rust ([`rules`]); only the two places
//! that hand them to SQLite through its C API ([`authorizer`],
//! [`statement`]) may use `unsafe`.

mod authorizer;
mod rules;
mod statement;

pub(in crate::sqlite) use authorizer::{install, is_idle};
pub(in crate::sqlite) use statement::check_statement;
