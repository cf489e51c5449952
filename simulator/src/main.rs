//! `market-sim`: run the CoinGecko look-alike as a standalone process.
//!
//! Prints exactly one line to stdout (`market-sim listening on http://ADDR`)
//! so test harnesses can start it with `--listen 127.0.0.1:0` and discover
//! the port; all logging goes to stderr.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use strata_market_sim::{SimConfig, SimState, serve_with_shutdown};
use tracing_subscriber::EnvFilter;

/// A CoinGecko v3 simulator with synthetic, deterministic market data.
#[derive(Debug, Parser)]
#[command(name = "market-sim", version, about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MARKET_SIM_LISTEN", default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Latency added to every /api/v3 request, in milliseconds.
    #[arg(long, env = "MARKET_SIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Number of simulated coins (well-known ones first).
    #[arg(
        long,
        env = "MARKET_SIM_COINS",
        default_value_t = 1_000,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    coins: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr().context("reading bound address")?;
    let state = SimState::new(SimConfig {
        coins: usize::try_from(cli.coins).context("coin count")?,
        latency: Duration::from_millis(cli.latency_ms),
        ..SimConfig::default()
    });

    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "market-sim listening on http://{addr}")?;
        stdout.flush()?;
    }
    tracing::info!(%addr, coins = cli.coins, latency_ms = cli.latency_ms, "market-sim started");

    serve_with_shutdown(listener, state, shutdown_signal()).await?;
    tracing::info!("market-sim stopped");
    Ok(())
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM, so containers stop cleanly.
///
/// If a handler cannot be installed that signal is simply never observed,
/// rather than being mistaken for a shutdown request.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
