//! Making sure the component roles exist, are ours, and can log in.
//!
//! Several instances may start at once against one database, and a role of
//! the same name might have been made by someone else; provisioning runs
//! serialized under an advisory lock and refuses to take over a role it
//! did not make, rather than hand a component someone else's rights.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};
use thiserror::Error;

use super::grants::{grant, run_formatted};
use super::names::component_role_names;

/// Serializes provisioning between instances ("strata" + 1).
const LOCK_KEY: i64 = 0x7374_7261_7461_0001;

/// How a component pool logs in.
pub(in crate::postgres) struct Login {
    pub(in crate::postgres) role: String,
    pub(in crate::postgres) password: String,
    /// `read-only` or `read-write`, for messages and application_name.
    pub(in crate::postgres) grant: &'static str,
}

pub(in crate::postgres) struct Logins {
    pub(in crate::postgres) read_only: Login,
    pub(in crate::postgres) read_write: Login,
}

#[derive(Debug, Error)]
pub(in crate::postgres) enum RoleError {
    #[error(
        "the database user '{user}' may not create roles; component SQL runs as two login roles \
         made for this database ({roles}), so grant it CREATEROLE (ALTER ROLE \"{user}\" CREATEROLE) \
         or remove every sql grant from the manifest"
    )]
    CannotCreateRoles { user: String, roles: String },
    #[error(
        "a role named '{0}' exists but strata did not make it for this database, or it has gained \
         privileges; drop or rename it, then start again"
    )]
    Foreign(String),
    #[error("the stored password of role '{0}' is malformed")]
    Password(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Creates the roles if missing and (re-)asserts their attributes,
/// passwords and grants.
pub(in crate::postgres) async fn provision(host: &PgPool) -> Result<Logins, RoleError> {
    let mut tx = host.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let (user, database, superuser, create_role): (String, String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, current_database()::text, rolsuper, rolcreaterole \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await?;
    let names = component_role_names(&database);
    if !superuser && !create_role {
        return Err(RoleError::CannotCreateRoles {
            user,
            roles: format!("{}, {}", names.read_only, names.read_write),
        });
    }
    let read_only = ensure_role(&mut tx, &names.read_only, "read-only", &database).await?;
    let read_write = ensure_role(&mut tx, &names.read_write, "read-write", &database).await?;
    grant(&mut tx, &names, superuser).await?;
    tx.commit().await?;
    Ok(Logins {
        read_only,
        read_write,
    })
}

/// The role's password (generated on first use), after making sure the
/// role exists, is ours and has exactly the attributes it should.
async fn ensure_role(
    tx: &mut Transaction<'_, Postgres>,
    role: &str,
    grant: &'static str,
    database: &str,
) -> Result<Login, RoleError> {
    sqlx::query(
        "INSERT INTO strata.component_roles (role, password) \
         VALUES ($1, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')) \
         ON CONFLICT (role) DO NOTHING",
    )
    .bind(role)
    .execute(&mut **tx)
    .await?;
    let password: String =
        sqlx::query_scalar("SELECT password FROM strata.component_roles WHERE role = $1")
            .bind(role)
            .fetch_one(&mut **tx)
            .await?;
    if password.len() < 32 || !password.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(RoleError::Password(role.into()));
    }
    let marker = format!("strata component role ({grant}) for database {database}");
    let existing: Option<(bool, Option<String>)> = sqlx::query_as(
        "SELECT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication \
                 OR r.rolbypassrls OR r.rolinherit \
                 OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid)), \
                shobj_description(r.oid, 'pg_authid') \
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_optional(&mut **tx)
    .await?;
    match existing {
        None => {
            run_formatted(
                tx,
                "CREATE ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE \
                 NOREPLICATION NOBYPASSRLS PASSWORD %L",
                &[role, &password],
            )
            .await?;
            run_formatted(tx, "COMMENT ON ROLE %I IS %L", &[role, &marker]).await?;
        }
        Some((false, Some(comment))) if comment == marker => {
            run_formatted(
                tx,
                "ALTER ROLE %I WITH LOGIN PASSWORD %L",
                &[role, &password],
            )
            .await?;
            run_formatted(tx, "ALTER ROLE %I RESET ALL", &[role]).await?;
            run_formatted(
                tx,
                "ALTER ROLE %I IN DATABASE %I RESET ALL",
                &[role, database],
            )
            .await?;
        }
        Some(_) => return Err(RoleError::Foreign(role.into())),
    }
    Ok(Login {
        role: role.into(),
        password,
        grant,
    })
}
