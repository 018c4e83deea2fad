//! `zenalyze serve`: the production gateway on PostgreSQL, configured by a
//! TOML file plus `ZENALYZE_*` environment overrides (every setting is in
//! `docs/operations.md`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use zenalyze_gateway::config::ServeConfig;

/// Options of `zenalyze serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (environment variables override it).
    #[arg(long, value_name = "FILE", env = "ZENALYZE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs `zenalyze serve` until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let config = ServeConfig::load(args.config.as_deref(), &env).context("configuration")?;
    if args.check {
        println!("configuration OK (listen {})", config.listen);
        return Ok(());
    }
    zenalyze_gateway::telemetry::init(&config.log_level)?;
    zenalyze_gateway::server::run_production(config, zenalyze_gateway::server::shutdown_signal())
        .await
}
