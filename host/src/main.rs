//! The `strata` binary: parse settings, start the host, serve until
//! interrupted. Start-up failures print one line and exit non-zero.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use strata::app::App;
use strata::config::{Cli, LogFormat};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn init_logging(cli: &Cli) {
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Starts the bundled simulator on an ephemeral loopback port.
async fn start_simulator() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the market simulator")?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = strata_market_sim::SimState::new(strata_market_sim::SimConfig::default());
    tokio::spawn(async move {
        if let Err(e) = strata_market_sim::serve(listener, state).await {
            tracing::error!(error = %e, "market simulator stopped");
        }
    });
    tracing::info!(%url, "market simulator running in-process");
    Ok(url)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = if cli.simulate_upstream {
        Some(start_simulator().await?)
    } else {
        None
    };
    let app = Arc::new(App::build(&cli, upstream).await?);
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let address = listener.local_addr()?;
    strata::http::warm_up(&app).await;
    println!("strata listening on http://{address}");
    tracing::info!(%address, components = app.registry.len(), "serving");
    strata::http::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
