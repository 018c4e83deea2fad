//! `zenalyze egress-proxy`: the parent-side allowlisting CONNECT proxy that
//! is the enclave's only way out. It copies TLS bytes and never sees
//! plaintext. Prints one JSON line on stdout when it listens.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use zenalyze_egress::{serve, Allowlist, ProxyConfig};
use zenalyze_transport::{Address, Listener};

/// Arguments of `zenalyze egress-proxy`.
#[derive(Debug, Args)]
pub struct EgressProxyArgs {
    /// Where the enclave reaches the proxy: vsock:PORT, unix:PATH or tcp:HOST:PORT.
    #[arg(long, env = "ZENALYZE_EGRESS_LISTEN")]
    pub listen: String,
    /// Allowed destinations, exact host:port, comma-separated.
    #[arg(
        long,
        env = "ZENALYZE_EGRESS_ALLOW",
        default_value = "api.openai.com:443,api.anthropic.com:443"
    )]
    pub allow: String,
    /// Allow names that resolve to private/loopback addresses (development only).
    #[arg(long)]
    pub allow_private_destinations: bool,
    /// Timeout of the CONNECT head and of the upstream connection, seconds.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout_secs: u64,
    /// Idle timeout of a tunnel, seconds.
    #[arg(long, default_value_t = 300)]
    pub idle_timeout_secs: u64,
}

/// Runs the proxy until Ctrl-C / SIGTERM.
pub async fn run(args: EgressProxyArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
    let listen: Address = args.listen.parse().context("invalid --listen address")?;
    let allow: Allowlist = args.allow.parse().context("invalid --allow list")?;
    let mut cfg = ProxyConfig::new(allow.clone());
    cfg.deny_private = !args.allow_private_destinations;
    cfg.connect_timeout = Duration::from_secs(args.connect_timeout_secs.max(1));
    cfg.idle_timeout = Duration::from_secs(args.idle_timeout_secs.max(1));
    let listener = Listener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_address()?;
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "address": bound.to_string(),
            "allow": allow.entries().map(|d| d.to_string()).collect::<Vec<_>>(),
        })
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = serve(listener, cfg) => r.context("egress proxy failed")?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
