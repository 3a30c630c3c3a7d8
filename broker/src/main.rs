//! `wharf-broker`: parse configuration, start logging, serve until ctrl-c or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wharf_broker::config::{BrokerConfig, LogFormat, Overrides};

/// The Wharf broker. Every setting can also come from a TOML file (`--config`) or a `WHARF_*`
/// environment variable; flags win over both.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "WHARF_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, value_parser = parse_format)]
    log_format: Option<LogFormat>,
}

fn parse_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected text or json, got {other}")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        config_file: args.config,
        listen: args.listen,
        data_dir: args.data_dir,
        log_format: args.log_format,
    };
    let config =
        BrokerConfig::load(&overrides, std::env::vars()).context("loading configuration")?;
    wharf_broker::telemetry::init(config.log_format, &config.log_filter);
    match wharf_broker::fdlimit::raise_nofile_limit() {
        Ok(l) => tracing::info!(
            soft_before = l.soft_before,
            soft = l.soft,
            hard = l.hard,
            max_open_files = config.max_open_files,
            "file descriptor limit"
        ),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        wharf_broker::run(listener, config, wharf_broker::shutdown_signal()).await?;
        Ok(())
    })
}
