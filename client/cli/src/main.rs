//! `wharf`: the command-line client of the Wharf broker, over the `wharf-client` library.
//!
//! - this file: the entry point (log filter from `WHARF_LOG`, a two-thread tokio runtime,
//!   errors on stderr with exit code 1).
//! - [`cli`]: the arguments ([`cli::Cli`]) and the `topics`, `produce` and `consume` commands.
//! - [`bench`]: `wharf bench`, throughput and latency of the broker (table, JSON, PNG chart).

mod bench;
mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
