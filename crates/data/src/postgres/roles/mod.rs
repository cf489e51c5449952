//! The two login roles component SQL runs as, one pair per database.
//!
//! Roles are cluster-wide and a database name is unique in its cluster, so
//! each database gets its own pair: `<database>_strata_ro` and
//! `<database>_strata_rw` ([`component_role_names`]). Several instances
//! sharing one database share the pair; several installations sharing one
//! server never collide.
//!
//! What the roles may do (re-asserted at every start):
//! - both: `CONNECT` on the database, `USAGE` on schema `public`;
//! - read-only: `SELECT` on the app tables ([`grants::APP_TABLES`]) and, through
//!   default privileges, on every table the read-write role creates;
//! - read-write: `SELECT, INSERT, UPDATE, DELETE` on the app tables and
//!   their sequences, and `CREATE` on `public`: a read-write component may
//!   create tables of its own, which it then owns (and may alter or drop);
//! - neither: anything in schema `strata` (host state, including the
//!   passwords below), the migration ledger `public._sqlx_migrations`, the
//!   app tables' shape (only their owner, the host, may alter them or put
//!   triggers on them), superuser-only functions (`pg_read_file`,
//!   `COPY ... TO PROGRAM`) and other roles' rights. Both are `NOINHERIT`
//!   and members of no role, so there is no role to `SET ROLE` to.
//!
//! Passwords are generated once, by the first instance to start
//! (`gen_random_uuid`, the server's strong random source), and kept in
//! `strata.component_roles`, which only the host's user can read. Every
//! start re-sets them and clears any setting a component gave its role
//! (`ALTER ROLE CURRENT_USER SET ...`), so a read-write component that
//! changes its own password or settings is undone by the next start.
//!
//! Provisioning needs the host's user to be a superuser or to have
//! `CREATEROLE`. It runs in one transaction under an advisory lock, so
//! instances starting together do not race. A role of the same name that
//! strata did not make (it marks its own with a comment) or that has
//! gained privileges is never taken over: start fails instead.

mod grants;
mod names;
mod provision;

pub use names::component_role_names;
pub(super) use provision::{Login, provision};
