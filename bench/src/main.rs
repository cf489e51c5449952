//! `strata-bench`: Strata side by side with the physical ceiling (a native
//! hyper hello-world) and a native Rust baseline, on this machine, in one
//! run.
//!
//! `cargo run --release -p strata-bench -- [--duration 10] [--connections 32]`
//! starts everything on loopback (simulator, redis-server, strata, the
//! native servers), drives each with a load generator running as a child
//! process (`strata-bench load ...`), and writes a Markdown report to
//! `target/bench/results.md`.

mod client;
mod histogram;
mod languages;
mod load;
mod peers;
mod report;
mod rows;
mod run;
mod servers;
mod strata;
mod unknown;
mod warm;
mod workloads;
mod zipf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "strata-bench", about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate load against one URL and print one JSON line of results
    /// (used by the benchmark itself, in a separate process).
    Load(load::LoadArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Load(args)) => load::main(args),
        None => {
            // The orchestrator only steers; measured servers have their own
            // runtimes, so one thread is enough here.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run::main(cli.run))
        }
    }
}
