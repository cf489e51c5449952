//! Opening the database: the host pool, migrations, and the component
//! pools logging in as their own roles.
//!
//! Component pools must log in as the provisioned roles (never as the
//! host's user) and hand no session state from one component to the next,
//! so how each pool connects, and how a connection is reset on its way
//! back, is decided here once.

use std::str::FromStr;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{ComponentPools, Pools, roles};
use crate::{OpenError, PoolSettings};

/// What a component session may have changed that outlives its transaction.
pub(super) const RESET_SESSION: &str = "RESET ALL; CLOSE ALL; UNLISTEN *; \
     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

impl Pools {
    /// Connects, migrates and provisions the component roles. Failing to
    /// provision them is fatal only when `settings` requires them.
    pub(crate) async fn open(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        let host = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/postgres").run(&host).await?;
        let components = match roles::provision(&host).await {
            Ok(logins) => Ok(ComponentPools {
                read_only: component_pool(&options, &logins.read_only, settings),
                read_write: component_pool(&options, &logins.read_write, settings),
            }),
            Err(e) if settings.require_component_roles => {
                return Err(OpenError::Roles(e.to_string()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "no component has an SQL grant; component SQL stays unavailable");
                Err(e.to_string())
            }
        };
        Ok(Self { host, components })
    }
}

/// A lazily connecting pool that logs in as `login` and resets every
/// connection it gets back.
fn component_pool(
    options: &PgConnectOptions,
    login: &roles::Login,
    settings: &PoolSettings,
) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_release(|conn, _| {
            Box::pin(async move {
                conn.execute(RESET_SESSION).await?;
                Ok(true)
            })
        })
        .connect_lazy_with(
            options
                .clone()
                .username(&login.role)
                .password(&login.password)
                .application_name(&format!("strata component ({})", login.grant)),
        )
}
