//! `zenalyze enclave`: the AI Privacy Service (enclave runtime).
//!
//! In development it runs standalone as a local process: it creates its
//! development root key, sealed HPKE key set and development attestation
//! root in `--data-dir` when absent. It prints one JSON line on stdout when
//! it listens (address, enclave id, key id, development root fingerprint)
//! and logs JSON to stderr (sizes, timings and request ids only).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use zenalyze_ai_providers::anthropic::{Anthropic, AnthropicConfig};
use zenalyze_ai_providers::offline::OfflineAnalyzer;
use zenalyze_ai_providers::openai::{OpenAiCompatible, OpenAiConfig};
use zenalyze_ai_providers::{ApiKey, Provider};
use zenalyze_enclave::EnclaveBuilder;
use zenalyze_transport::Address;

/// Which AI provider the enclave calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// The offline analyzer (no network; development default).
    Offline,
    /// OpenAI Chat Completions (or any OpenAI-compatible server with `--base-url`).
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// Arguments of `zenalyze enclave`.
#[derive(Debug, Args)]
pub struct EnclaveArgs {
    /// Where to listen: vsock:PORT, vsock:CID:PORT, unix:PATH or tcp:HOST:PORT.
    #[arg(long, env = "ZENALYZE_ENCLAVE_LISTEN")]
    pub listen: String,
    /// Data directory: root.key (0600), sealed HPKE key set, development attestation root.
    #[arg(long, env = "ZENALYZE_ENCLAVE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// AI provider.
    #[arg(long, value_enum, default_value_t = ProviderKind::Offline, env = "ZENALYZE_ENCLAVE_PROVIDER")]
    pub provider: ProviderKind,
    /// Egress proxy (tcp:HOST:PORT, unix:PATH or vsock:CID:PORT); required for
    /// network providers: the enclave reaches the outside only through it.
    #[arg(long, env = "ZENALYZE_EGRESS")]
    pub egress: Option<String>,
    /// Default model of the network provider.
    #[arg(long, env = "ZENALYZE_ENCLAVE_MODEL")]
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible server (https), instead of api.openai.com.
    #[arg(long, env = "ZENALYZE_ENCLAVE_BASE_URL")]
    pub base_url: Option<String>,
    /// HPKE key rotation interval, seconds.
    #[arg(long, default_value_t = 86_400)]
    pub rotate_every_secs: u64,
    /// Grace period of the previous HPKE key, seconds.
    #[arg(long, default_value_t = 3_600)]
    pub grace_secs: u64,
    /// How often to check for rotation / reload the shared key set, seconds.
    #[arg(long, default_value_t = 30)]
    pub maintenance_secs: u64,
    /// Analyze requests allowed to hold plaintext at once (others wait).
    #[arg(long, default_value_t = zenalyze_enclave::DEFAULT_MAX_CONCURRENT)]
    pub max_concurrent: usize,
    /// Enclave id reported by /attestation and /health (random by default).
    #[arg(long)]
    pub enclave_id: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

/// Reads a provider API key from the environment (never from argv).
fn api_key(var: &str) -> anyhow::Result<ApiKey> {
    let v = std::env::var(var).with_context(|| format!("{var} must be set"))?;
    if v.trim().is_empty() {
        bail!("{var} is empty");
    }
    Ok(ApiKey::new(v))
}

async fn provider(
    args: &EnclaveArgs,
) -> anyhow::Result<(Arc<dyn Provider>, Option<zenalyze_egress::LocalShim>)> {
    if args.provider == ProviderKind::Offline {
        return Ok((Arc::new(OfflineAnalyzer::new()), None));
    }
    let egress: Address = args
        .egress
        .as_deref()
        .context("--egress is required for network providers (the enclave has no other way out)")?
        .parse()
        .context("invalid --egress address")?;
    let (client, shim) = zenalyze_egress::enclave_http_client(&egress, reqwest::Client::builder())
        .await
        .context("cannot build the egress HTTP client")?;
    let p: Arc<dyn Provider> = match args.provider {
        ProviderKind::Openai => {
            let mut cfg = match &args.base_url {
                Some(url) => {
                    let mut c =
                        OpenAiConfig::local(url, args.model.as_deref().unwrap_or("default"));
                    if let Ok(k) = api_key("OPENAI_API_KEY") {
                        c.auth = zenalyze_ai_providers::openai::OpenAiAuth::Bearer(k);
                    }
                    c
                }
                None => OpenAiConfig::openai(api_key("OPENAI_API_KEY")?),
            };
            if let Some(m) = &args.model {
                cfg.default_model = m.clone();
            }
            Arc::new(OpenAiCompatible::new(cfg, Some(client)).context("OpenAI provider")?)
        }
        ProviderKind::Anthropic => {
            let mut cfg = AnthropicConfig::new(api_key("ANTHROPIC_API_KEY")?);
            if let Some(m) = &args.model {
                cfg.default_model = m.clone();
            }
            Arc::new(Anthropic::new(cfg, Some(client)).context("Anthropic provider")?)
        }
        ProviderKind::Offline => Arc::new(OfflineAnalyzer::new()),
    };
    Ok((p, shim))
}

/// Runs the enclave until Ctrl-C / SIGTERM.
pub async fn run(args: EnclaveArgs) -> anyhow::Result<()> {
    init_logging();
    let listen: Address = args.listen.parse().context("invalid --listen address")?;
    if args.rotate_every_secs == 0 || args.maintenance_secs == 0 {
        bail!("--rotate-every-secs and --maintenance-secs must be positive");
    }
    let (provider, _shim) = provider(&args).await?;
    let mut builder = EnclaveBuilder::new(&args.data_dir, provider)
        .rotation(
            Duration::from_secs(args.rotate_every_secs),
            Duration::from_secs(args.grace_secs),
        )
        .max_concurrent(args.max_concurrent);
    if let Some(id) = &args.enclave_id {
        builder = builder.enclave_id(id.clone());
    }
    let enclave = tokio::task::spawn_blocking(move || builder.build())
        .await
        .context("enclave start-up task failed")?
        .context("cannot start the enclave")?;
    let running = enclave
        .spawn(&listen, Duration::from_secs(args.maintenance_secs))
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let dev_root =
        std::fs::read_to_string(args.data_dir.join(zenalyze_enclave::attest::DEV_ROOT_FILE))
            .ok()
            .and_then(|pem| zenalyze_attestation::dev::DevRoot::from_pem(&pem).ok())
            .map(|r| r.sha256_fingerprint_hex());
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "address": running.address.to_string(),
            "enclave_id": running.enclave.enclave_id(),
            "key_id": running.enclave.key_config().key_id(),
            "dev_root_sha256": dev_root,
        })
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.shutdown().await.context("enclave shutdown")?;
    Ok(())
}
