//! The authorizer's rules, apart from the C callback that applies them.
//!
//! What a grant admits is the security-relevant decision; kept as a plain
//! function of (mode, action, names) it can be read, and tested, without
//! a connection or any `unsafe`.

use std::ffi::c_int;

use libsqlite3_sys as ffi;

use crate::guard::Mode;

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

/// The authorizer's verdict on one action: `Err` says why it is refused.
/// `arg1`/`arg2` are as SQLite documents them per action code.
pub(super) fn decide(
    mode: Mode,
    action: c_int,
    arg1: Option<&str>,
    arg2: Option<&str>,
) -> Result<(), String> {
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
