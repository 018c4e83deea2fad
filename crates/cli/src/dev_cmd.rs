//! `zenalyze dev`: the whole platform in one process on embedded defaults
//! (see `zenalyze_gateway::dev` and `docs/operations.md`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use zenalyze_gateway::dev::{DevOptions, DevSite, DevSiteContext};
use zeroize::Zeroizing;

/// Options of `zenalyze dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Data directory (SQLite store, root key, development credentials).
    #[arg(long, default_value = zenalyze_store::DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Log filter (`info`, `debug`, `zenalyze_gateway=debug,info`…).
    #[arg(long, default_value = "info", env = "ZENALYZE_LOG_LEVEL")]
    pub log_level: String,
    /// Number of in-process development enclaves (Unix sockets in the data
    /// directory, one shared HPKE key set).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub enclaves: usize,
}

/// Runs `zenalyze dev` until SIGINT/SIGTERM.
///
/// `ZENALYZE_DEV_API_KEY` fixes the development secret key and
/// `ZENALYZE_ADMIN_TOKEN` the admin token (read from the environment here so
/// their values never show in `--help`).
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    zenalyze_gateway::telemetry::init(&args.log_level)?;
    let opts = DevOptions {
        listen: args.listen,
        data_dir: args.data_dir,
        dev_api_key: std::env::var("ZENALYZE_DEV_API_KEY")
            .ok()
            .map(Zeroizing::new),
        admin_token: std::env::var("ZENALYZE_ADMIN_TOKEN")
            .ok()
            .map(Zeroizing::new),
        enclaves: args.enclaves.clamp(1, 16),
        site: Some(demo_journal()),
        ..DevOptions::default()
    };
    zenalyze_gateway::dev::run(opts, zenalyze_gateway::server::shutdown_signal()).await
}

/// The demo journal at `/` (`docs/demo-journal.md`): its backend uses the
/// development secret key against the gateway's own address.
fn demo_journal() -> DevSite {
    DevSite {
        label: "Demo journal",
        build: Arc::new(|ctx: &DevSiteContext| {
            zenalyze_demo_journal::router(zenalyze_demo_journal::DemoConfig {
                gateway_url: ctx.gateway_url.clone(),
                secret_key: ctx.secret_key.clone(),
                publishable_key: ctx.publishable_key.clone(),
                attestation_root_sha256: ctx.dev_root_sha256.clone(),
                attestation_root_certificate_pem: ctx.dev_root_certificate_pem.clone(),
            })
        }),
    }
}
