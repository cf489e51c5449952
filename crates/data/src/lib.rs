//! The database: Postgres when `DATABASE_URL` is set, an embedded SQLite
//! file otherwise, both migrated at start with the same schema.
//!
//! Who may do what is enforced by the database engine, never by reading
//! the statement: each kind of caller has its own pool, so no session
//! state, mode or setting crosses from one kind to another.
//!
//! | pool | used by | what the engine enforces |
//! |---|---|---|
//! | host | the host itself: deployment log, component blobs, report publishing ([`Database::host_query`]) | nothing beyond the host's own login |
//! | read-only | components granted `sql = "read-only"` | Postgres: a login role with `SELECT` only, in a `READ ONLY` transaction; SQLite: a `mode=ro` + `query_only` connection with an authorizer that admits reads only |
//! | read-write | components granted `sql = "read-write"` | Postgres: a login role with DML on the app tables and `CREATE` in `public`; SQLite: an authorizer that admits DML and DDL on the component's own tables |
//!
//! Host state lives where component SQL cannot reach it: the `strata`
//! schema on Postgres (the component roles have no rights on it), a
//! separate file on SQLite (`<name>.host.<ext>` beside the app file; the
//! component connections can never ATTACH it). See [`postgres`] and
//! [`sqlite`] for the details of each engine.
//!
//! The rule for component tables: every component with an SQL grant sees
//! the same app tables, Postgres schema `public` and the SQLite app file;
//! name them unqualified. The tables the host's migrations made there
//! (`reports`) may be read, and written under a read-write grant, but not
//! altered, dropped, indexed or given triggers. A read-write component may
//! create tables (indexes, views) of its own, which read-only components
//! can then read; on Postgres the read-write role owns them. `strata` (the
//! host's schema or file), `_sqlx_migrations` (the migration ledger) and
//! `sqlite_*` are never a component's.
//!
//! Component statements go through [`Database::query`] and
//! [`Database::execute`]: parameters are bound (never spliced), a call
//! runs exactly one statement (Postgres' extended protocol refuses more;
//! on SQLite the host prepares the statement and refuses any tail), rows
//! are capped, and every statement stops at the earlier of its request's
//! deadline and the host-wide statement timeout.

#![warn(missing_docs)]

#[macro_use]
mod macros;

mod component;
mod database;
mod error;
mod guard;
mod postgres;
pub mod reports;
mod settings;
mod sqlite;
mod value;

pub use component::Caller;
pub use database::Database;
pub use error::{OpenError, SqlError};
pub use guard::SqlGrant;
pub use postgres::component_role_names;
pub use settings::PoolSettings;
pub use value::{RowSet, SqlValue};
