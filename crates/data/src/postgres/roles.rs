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
//! - read-only: `SELECT` on the app tables ([`APP_TABLES`]) and, through
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

use sha2::{Digest, Sha256};
use sqlx::postgres::PgPool;
use sqlx::{Executor, Postgres, Transaction};
use thiserror::Error;

/// Tables the host's migrations create for components, in schema `public`.
const APP_TABLES: &[&str] = &["reports"];

/// Serializes provisioning between instances ("strata" + 1).
const LOCK_KEY: i64 = 0x7374_7261_7461_0001;

/// Longest role name Postgres keeps (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// The names of a database's component roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    pub read_only: String,
    pub read_write: String,
}

/// The component roles of `database`: `<database>_strata_ro` and
/// `<database>_strata_rw`; a name too long for Postgres keeps a prefix of
/// the database name and 8 hex digits of its SHA-256.
pub fn component_role_names(database: &str) -> RoleNames {
    let name = |suffix: &str| {
        let full = format!("{database}_strata_{suffix}");
        if full.len() <= MAX_NAME {
            return full;
        }
        let hash = Sha256::digest(database.as_bytes());
        let tag: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let keep = MAX_NAME - format!("_{tag}_strata_{suffix}").len();
        let mut cut = keep;
        while !database.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}_{tag}_strata_{suffix}", &database[..cut])
    };
    RoleNames {
        read_only: name("ro"),
        read_write: name("rw"),
    }
}

/// How a component pool logs in.
pub(super) struct Login {
    pub role: String,
    pub password: String,
    /// `read-only` or `read-write`, for messages and application_name.
    pub grant: &'static str,
}

pub(super) struct Logins {
    pub read_only: Login,
    pub read_write: Login,
}

#[derive(Debug, Error)]
pub(super) enum RoleError {
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
pub(super) async fn provision(host: &PgPool) -> Result<Logins, RoleError> {
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

/// Runs a utility statement built by the server's own `format()`, so names
/// and literals are quoted by the server's rules, never by hand.
async fn run_formatted(
    tx: &mut Transaction<'_, Postgres>,
    template: &str,
    args: &[&str],
) -> Result<(), sqlx::Error> {
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}::text")).collect();
    let builder = format!("SELECT format('{template}', {})", placeholders.join(", "));
    let mut query = sqlx::query_scalar::<_, String>(&builder);
    for arg in args {
        query = query.bind(*arg);
    }
    let statement = query.fetch_one(&mut **tx).await?;
    tx.execute(statement.as_str()).await?;
    Ok(())
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

/// What each role may touch; see the module documentation.
async fn grant(
    tx: &mut Transaction<'_, Postgres>,
    names: &RoleNames,
    superuser: bool,
) -> Result<(), sqlx::Error> {
    let (ro, rw) = (names.read_only.as_str(), names.read_write.as_str());
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut **tx)
        .await?;
    run_formatted(
        tx,
        "GRANT CONNECT ON DATABASE %I TO %I, %I",
        &[&database, ro, rw],
    )
    .await?;
    tx.execute("REVOKE ALL ON SCHEMA strata FROM PUBLIC")
        .await?;
    run_formatted(tx, "REVOKE ALL ON SCHEMA strata FROM %I, %I", &[ro, rw]).await?;
    run_formatted(tx, "GRANT USAGE ON SCHEMA public TO %I, %I", &[ro, rw]).await?;
    run_formatted(tx, "GRANT CREATE ON SCHEMA public TO %I", &[rw]).await?;
    run_formatted(tx, "REVOKE CREATE ON SCHEMA public FROM %I", &[ro]).await?;
    run_formatted(
        tx,
        "REVOKE ALL ON public._sqlx_migrations FROM %I, %I",
        &[ro, rw],
    )
    .await?;
    for table in APP_TABLES {
        let qualified = format!("public.{table}");
        run_formatted(tx, "GRANT SELECT ON %s TO %I", &[&qualified, ro]).await?;
        run_formatted(
            tx,
            "GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I",
            &[&qualified, rw],
        )
        .await?;
        let sequences: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_serial_sequence($1, a.attname) FROM pg_attribute a \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
        )
        .bind(&qualified)
        .fetch_all(&mut **tx)
        .await?;
        for sequence in sequences {
            run_formatted(tx, "GRANT USAGE ON SEQUENCE %s TO %I", &[&sequence, rw]).await?;
        }
    }
    // Default privileges for objects a role creates may be set by a member
    // of that role; a superuser needs no membership.
    if !superuser {
        run_formatted(tx, "GRANT %I TO CURRENT_USER", &[rw]).await?;
    }
    run_formatted(
        tx,
        "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I",
        &[rw, ro],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_carry_the_database_name() {
        let names = component_role_names("shop");
        assert_eq!(names.read_only, "shop_strata_ro");
        assert_eq!(names.read_write, "shop_strata_rw");
    }

    #[test]
    fn long_database_names_are_shortened_with_a_hash_and_stay_distinct() {
        let a = "a".repeat(60) + "x";
        let b = "a".repeat(60) + "y";
        let (na, nb) = (component_role_names(&a), component_role_names(&b));
        for name in [&na.read_only, &na.read_write, &nb.read_only] {
            assert!(name.len() <= MAX_NAME, "{name}");
        }
        assert_ne!(na.read_only, nb.read_only);
        assert!(na.read_only.ends_with("_strata_ro"));
        let wide = "é".repeat(40);
        assert!(component_role_names(&wide).read_write.len() <= MAX_NAME);
    }
}
