//! What each component role may touch, re-asserted at every start.
//!
//! Grants are how Postgres enforces a component's SQL grant; asserting the
//! whole set each start (not only on creation) undoes any drift, and the
//! statements are built by the server's own `format()` so no name or
//! literal is ever quoted by hand.

use sqlx::{Executor, Postgres, Transaction};

use super::names::RoleNames;

/// Tables the host's migrations create for components, in schema `public`.
pub(super) const APP_TABLES: &[&str] = &["reports"];

/// Runs a utility statement built by the server's own `format()`, so names
/// and literals are quoted by the server's rules, never by hand.
pub(super) async fn run_formatted(
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

/// What each role may touch; see the module documentation.
pub(super) async fn grant(
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
