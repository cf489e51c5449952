//! A fresh Postgres database per test, on the machine's shared server, so
//! every test sees exactly the migrated seed data and nothing of another's.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, ensure};

/// The Postgres server databases are made on, as its administrator
/// (`STRATA_TEST_POSTGRES_URL`, else the local `postgres` user).
pub fn postgres_admin_url() -> String {
    std::env::var("STRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs `sql` on the server as its administrator.
pub fn psql(sql: &str) -> Result<()> {
    let url = postgres_admin_url();
    let output = Command::new("psql")
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .context("running psql (is it installed? scripts/setup.sh installs it)")?;
    ensure!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Databases made by this process so far: with the process id, a name no
/// other test (in this process or a concurrent one) uses.
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database, dropped (with the roles registered by
/// [`PgDatabase::drop_roles_too`]) at the end of the test.
pub struct PgDatabase {
    pub name: String,
    roles: Vec<String>,
}

impl PgDatabase {
    pub fn create() -> Result<Self> {
        let name = format!(
            "strata_e2e_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        psql(&format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            name,
            roles: Vec::new(),
        })
    }

    /// The URL of this database, as the administrator.
    pub fn url(&self) -> String {
        let admin = postgres_admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }

    /// Login roles to drop after the database: roles are cluster-wide, so
    /// the ones a host makes for this database outlive it otherwise.
    pub fn drop_roles_too(&mut self, roles: impl IntoIterator<Item = String>) {
        self.roles.extend(roles);
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let dropped = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        let roles = if self.roles.is_empty() {
            Ok(())
        } else {
            let names: Vec<String> = self.roles.iter().map(|r| format!("\"{r}\"")).collect();
            psql(&format!("DROP ROLE IF EXISTS {}", names.join(", ")))
        };
        // A failed clean-up is a failed test, unless the test already
        // failed (a second panic while unwinding would abort the process).
        if !std::thread::panicking() {
            dropped.and(roles).expect("dropping the test database");
        }
    }
}
