//! The `strata` binary: parse settings, start the host, serve until
//! interrupted. Start-up failures print one line and exit non-zero.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use strata::app::App;
use strata::config::{Cli, Command, LogFormat};
use strata::http::ListenerRole;
use strata::http::auth::AdminAccess;
use strata::telemetry::Telemetry;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log on stderr, and the span export layer when `telemetry` exports
/// traces. The filter applies to both: spans are `info`, so a filter that
/// drops `info` drops them from the export too.
fn init_logging(cli: &Cli, telemetry: &Telemetry) {
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal: in a file or pipe they are noise,
    // and a log reader must never see escape sequences it did not expect.
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // The filter outermost, as `fmt().with_env_filter(..)` stacks it.
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    match cli.log_format {
        LogFormat::Json => subscriber.with(log.json()).with(filter).init(),
        LogFormat::Plain => subscriber.with(log).with(filter).init(),
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

/// Makes the connection caps ones the process can honour. The soft limit
/// on open files is raised to the hard one; if the connections the settings
/// allow still do not fit (see [`strata::http::fit_descriptors`]), the caps
/// are lowered with a warning. Otherwise a flood of connections would
/// exhaust descriptors before the cap, and the host's own database and
/// upstream calls would fail first.
#[cfg(unix)]
#[allow(unsafe_code)]
fn fit_connection_cap(cli: &mut Cli) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    let available = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let (connections, websockets) = strata::http::fit_descriptors(
        available,
        cli.db_max_connections,
        cli.max_connections,
        cli.max_websocket_clients,
    );
    if (connections, websockets) != (cli.max_connections, cli.max_websocket_clients) {
        tracing::warn!(
            open_files = available,
            max_connections = connections,
            max_websocket_clients = websockets,
            "the connection caps do not fit the open-file limit; lowered them (raise `ulimit -n` to keep them)"
        );
        cli.max_connections = connections;
        cli.max_websocket_clients = websockets;
    }
}

#[cfg(not(unix))]
fn fit_connection_cap(_cli: &mut Cli) {}

async fn run(mut cli: Cli, telemetry: Arc<Telemetry>) -> anyhow::Result<()> {
    fit_connection_cap(&mut cli);
    let upstream = if cli.simulate_upstream {
        Some(start_simulator().await?)
    } else {
        None
    };
    if cli.admin_token.is_none() && !cli.admin_listen.ip().is_loopback() {
        anyhow::bail!(
            "--admin-listen {} is not a loopback address; set STRATA_ADMIN_TOKEN to expose admin endpoints",
            cli.admin_listen
        );
    }
    let app = Arc::new(App::build(&cli, upstream, telemetry).await?);
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let address = listener.local_addr()?;
    let (public_role, admin_listener) = match &cli.admin_token {
        Some(token) => (
            ListenerRole {
                admin: AdminAccess::token(token),
                components: true,
            },
            None,
        ),
        None => {
            let admin = TcpListener::bind(cli.admin_listen)
                .await
                .with_context(|| format!("cannot listen on {} (admin)", cli.admin_listen))?;
            (
                ListenerRole {
                    admin: AdminAccess::Closed,
                    components: true,
                },
                Some(admin),
            )
        }
    };
    let mut own_listeners = vec![address];
    if let Some(admin) = &admin_listener {
        own_listeners.push(admin.local_addr()?);
    }
    app.runtime.outbound().set_listeners(own_listeners);
    app.deployer.set_address(format!("http://{address}"));
    app.start_background().await;
    let server = Arc::new(strata::http::Server::new(
        app.clone(),
        strata::http::Settings::new(&cli, &app.dispatcher.current().manifest),
    ));

    let (stop, stopped) = tokio::sync::watch::channel(());
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let admin_task = match admin_listener {
        Some(listener) => {
            let admin_address = listener.local_addr()?;
            println!("strata admin listening on http://{admin_address}");
            let role = ListenerRole {
                admin: AdminAccess::loopback(&cli.admin_allowed_hosts),
                components: false,
            };
            Some(tokio::spawn(strata::http::serve(
                listener,
                server.clone(),
                role,
                until_stopped(stopped.clone()),
            )))
        }
        None => None,
    };
    println!("strata listening on http://{address}");
    tracing::info!(%address, components = app.dispatcher.current().registry.deployed(), "serving");
    let public = tokio::spawn(strata::http::serve(
        listener,
        server,
        public_role,
        until_stopped(stopped),
    ));
    shutdown_signal().await;
    let _ = stop.send(());
    public.await??;
    if let Some(admin) = admin_task {
        admin.await??;
    }
    Ok(())
}

/// A command against a running host: progress on stderr, the outcome on
/// stdout.
async fn admin_command(cli: &Cli, command: &Command) -> anyhow::Result<()> {
    use strata::deploy::client::{self, Admin};
    let progress = |line: String| eprintln!("strata: {line}");
    let admin = |url| Admin {
        url,
        token: cli.admin_token.as_deref(),
    };
    match command {
        Command::New { name, lang, dir } => {
            let project = strata::scaffold::create(dir, name, *lang)?;
            println!(
                "created {} ({} files)\nbuild it there with: {}\nthen serve it there: {}",
                project.dir.display(),
                project.files.len(),
                project.build,
                strata::scaffold::SERVE
            );
        }
        Command::Deploy {
            manifest: Some(file),
            target,
            ..
        } => {
            let outcome =
                client::deploy_manifest(&admin(&target.admin_url), file, progress).await?;
            println!("{}", client::describe_app_outcome(&outcome));
        }
        Command::Deploy {
            name: Some(name),
            file: Some(file),
            target,
            ..
        } => {
            let outcome = client::deploy(&admin(&target.admin_url), name, file, progress).await?;
            println!(
                "deployed {name} version {} (deployment {}, compiled in {} ms, previous version {})",
                outcome["version"].as_str().unwrap_or("?"),
                outcome["deployment_id"],
                outcome["compile_ms"],
                outcome["previous_version"].as_str().unwrap_or("none"),
            );
        }
        Command::Deploy { .. } => anyhow::bail!("give NAME FILE, or --manifest FILE"),
        Command::CompileWorker { args } => {
            strata::runtime::compile_into_cache(args, std::io::stdin().lock())?;
        }
        Command::Rollback {
            manifest: true,
            target,
            ..
        } => {
            let outcome = admin(&target.admin_url)
                .post("/admin/apps/rollback")
                .await?;
            println!("{}", client::describe_app_outcome(&outcome));
        }
        Command::Rollback {
            name: Some(name),
            target,
            ..
        } => {
            let path = format!("/admin/components/{name}/rollback");
            let outcome = admin(&target.admin_url).post(&path).await?;
            println!(
                "rolled {name} back to version {} (deployment {})",
                outcome["version"].as_str().unwrap_or("?"),
                outcome["deployment_id"],
            );
        }
        Command::Rollback { .. } => anyhow::bail!("give NAME, or --manifest"),
        Command::Apps { target } => {
            let apps = admin(&target.admin_url).get("/admin/apps").await?;
            println!("{}", client::describe_apps(&apps));
        }
        Command::Status { target } => {
            let instances = admin(&target.admin_url).get("/admin/instances").await?;
            let now = chrono::Utc::now().timestamp_micros();
            println!("{}", client::describe_instances(&instances, now));
        }
    }
    Ok(())
}

/// Longest the runtime waits, after serving ends, for blocking work still
/// running (a compile, a DNS lookup) before the process exits anyway.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Large components compile in a worker: this very binary, by the path
    // that still names it after a package upgrade replaced the file.
    let own_binary = std::path::Path::new("/proc/self/exe");
    cli.compile_worker_program = if own_binary.exists() {
        Some(own_binary.to_path_buf())
    } else {
        std::env::current_exe().ok()
    };
    // Before any HTTP client is built (the OTLP exporter's is the first).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("strata: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Only a serving host exports; a command against one does not.
    let telemetry = match &cli.command {
        Some(_) => Ok(Telemetry::off()),
        None => Telemetry::start(&cli.telemetry, runtime.handle().clone()),
    };
    let telemetry = match telemetry {
        Ok(telemetry) => Arc::new(telemetry),
        Err(error) => {
            eprintln!("strata: error: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&cli, &telemetry);
    let outcome = runtime.block_on(async {
        match &cli.command {
            Some(command) => admin_command(&cli, command).await,
            None => run(cli.clone(), telemetry.clone()).await,
        }
    });
    // While the runtime still runs: the last exports are sent on it.
    telemetry.shutdown();
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Whatever failed may quote a connection string.
            eprintln!(
                "strata: error: {}",
                strata_logtext::redact(&format!("{error:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
