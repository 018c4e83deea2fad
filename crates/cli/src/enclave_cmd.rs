//! `zenalyze enclave`: the AI Privacy Service (enclave runtime).
//!
//! In development it runs standalone as a local process: it creates its
//! development root key, sealed HPKE key set and development attestation
//! root in `--data-dir` when absent. It prints one JSON line on stdout when
//! it listens (address, enclave id, key id, development root fingerprint)
//! and logs JSON to stderr (sizes, timings and request ids only).
//!
//! In production (`--keyset kms`, cargo feature `aws-kms`, implied by
//! `nitro`) the HPKE key set is never created here: it is provisioned once on
//! the parent with `zenalyze enclave provision-keyset` (KMS
//! `GenerateDataKey`; `--rotation-interval-secs`, `--grace-secs`), and each
//! enclave unwraps its data key at start with KMS `Decrypt` and a recipient
//! attestation document. The provisioned blob is a key schedule: every
//! enclave derives the same key per rotation epoch, so rotation needs no
//! shared disk and no further KMS call. Any KMS failure stops
//! the start-up; there is no fallback to a development key.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
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

/// Where the HPKE key set comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeySetSource {
    /// Development: sealed under DATA_DIR/root.key, created when absent.
    Dev,
    /// Production: provisioned key set whose data key AWS KMS unwraps for this attested enclave.
    Kms,
}

/// Which attestor issues documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttestorKind {
    /// `nitro` for `--keyset kms` in a build with the `nitro` feature, else `development`.
    Auto,
    /// Debug-mode documents signed by the local development root.
    Development,
    /// The AWS Nitro Secure Module (/dev/nsm; `nitro` feature).
    Nitro,
}

/// KMS options shared by the enclave and `provision-keyset`.
#[derive(Debug, Clone, Args)]
pub struct KmsArgs {
    /// KMS key id, ARN or alias wrapping the key set's data key.
    #[arg(long, env = "ZENALYZE_ENCLAVE_KMS_KEY_ID")]
    pub kms_key_id: Option<String>,
    /// Deployment name bound into the KMS encryption context (`[a-z0-9][a-z0-9._-]{0,63}`).
    #[arg(long, env = "ZENALYZE_ENCLAVE_DEPLOYMENT")]
    pub deployment: Option<String>,
    /// KMS endpoint override (VPC endpoint, or a local test server).
    #[arg(long, env = "ZENALYZE_ENCLAVE_KMS_ENDPOINT")]
    pub kms_endpoint: Option<String>,
    /// AWS region (default: AWS_REGION / the SDK's region chain).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Timeout of each KMS call, seconds.
    #[arg(long, default_value_t = 10)]
    pub kms_timeout_secs: u64,
}

/// Verbs under `zenalyze enclave`.
#[derive(Debug, Subcommand)]
pub enum EnclaveCommand {
    /// Parent side: create a deployment's HPKE key set sealed under a fresh KMS data key
    /// (GenerateDataKey); writes hpke-keyset.sealed and hpke-keyset.datakey.kms (0600).
    ProvisionKeyset(ProvisionArgs),
    /// Parent side: serve the parent's AWS credentials (env, profile or instance role) to the
    /// enclave for its start-up KMS call, on vsock:PORT, unix:PATH or tcp:ADDR.
    CredentialsServer(CredentialsServerArgs),
}

/// Arguments of `zenalyze enclave credentials-server`.
#[derive(Debug, Args)]
pub struct CredentialsServerArgs {
    /// Where the enclave fetches credentials: vsock:PORT, unix:PATH or tcp:HOST:PORT.
    #[arg(long, env = "ZENALYZE_CREDENTIALS_LISTEN")]
    pub listen: String,
}

/// Arguments of `zenalyze enclave provision-keyset`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Output directory (created 0700 when absent); existing key set files are never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// KMS options (--kms-key-id and --deployment are required).
    #[command(flatten)]
    pub kms: KmsArgs,
    /// Rotation interval of the key schedule, seconds (300..=31622400); every
    /// enclave derives the same key for each epoch floor(unix time / interval).
    #[arg(long, default_value_t = 86_400)]
    pub rotation_interval_secs: u64,
    /// Grace period of the previous epoch's key after a boundary, seconds
    /// (30..=interval/2).
    #[arg(long, default_value_t = 3_600)]
    pub grace_secs: u64,
}

/// Arguments of `zenalyze enclave`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EnclaveArgs {
    /// Sub-verb (without one, the enclave runs).
    #[command(subcommand)]
    pub command: Option<Box<EnclaveCommand>>,
    /// Where to listen: vsock:PORT, vsock:CID:PORT, unix:PATH or tcp:HOST:PORT.
    #[arg(long, env = "ZENALYZE_ENCLAVE_LISTEN")]
    pub listen: Option<String>,
    /// Data directory: sealed HPKE key set (and root.key in development, or the
    /// KMS-wrapped data key in production), development attestation root.
    #[arg(long, env = "ZENALYZE_ENCLAVE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Key set source: dev (local root key) or kms (provisioned, unwrapped by AWS KMS).
    #[arg(long, value_enum, default_value_t = KeySetSource::Dev, env = "ZENALYZE_ENCLAVE_KEYSET")]
    pub keyset: KeySetSource,
    /// Attestor.
    #[arg(long, value_enum, default_value_t = AttestorKind::Auto, env = "ZENALYZE_ENCLAVE_ATTESTOR")]
    pub attestor: AttestorKind,
    /// KMS options for --keyset kms (KMS is reached through --egress when set).
    #[command(flatten)]
    pub kms: KmsArgs,
    /// Fetch AWS credentials for KMS once at start-up from the parent's
    /// `zenalyze enclave credentials-server` (vsock:3:PORT inside Nitro; unix:PATH or
    /// tcp:HOST:PORT). Without it the SDK's default chain applies.
    #[arg(long, env = "ZENALYZE_ENCLAVE_KMS_CREDENTIALS")]
    pub kms_credentials: Option<String>,
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
    /// HPKE key rotation interval of the development key set, seconds (a
    /// provisioned KMS key schedule carries its own interval and grace).
    #[arg(long, default_value_t = 86_400)]
    pub rotate_every_secs: u64,
    /// Grace period of the previous HPKE key (development key set), seconds.
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

fn now_ms() -> u64 {
    use zenalyze_enclave::Clock as _;
    zenalyze_enclave::SystemClock.now_ms()
}

/// KMS settings from the options (`egress`: the enclave's egress proxy).
#[cfg(feature = "aws-kms")]
fn kms_settings(
    args: &KmsArgs,
    egress: Option<Address>,
) -> anyhow::Result<zenalyze_enclave::kms::KmsSettings> {
    let key_id = args
        .kms_key_id
        .clone()
        .context("--kms-key-id is required for the KMS key set")?;
    let deployment = args
        .deployment
        .clone()
        .context("--deployment is required for the KMS key set")?;
    if args.kms_timeout_secs == 0 {
        bail!("--kms-timeout-secs must be positive");
    }
    let mut s = zenalyze_enclave::kms::KmsSettings::new(key_id, deployment);
    s.region = args.region.clone();
    s.endpoint = args.kms_endpoint.clone();
    s.timeout = Duration::from_secs(args.kms_timeout_secs);
    s.egress = egress;
    Ok(s)
}

#[cfg(not(feature = "aws-kms"))]
const NO_KMS: &str =
    "the KMS key set is not compiled in: build zenalyze with --features aws-kms (implied by nitro)";

/// `zenalyze enclave provision-keyset`.
#[cfg(feature = "aws-kms")]
async fn provision_keyset(args: ProvisionArgs) -> anyhow::Result<()> {
    let params = zenalyze_enclave::ScheduleParams {
        interval_secs: args.rotation_interval_secs,
        grace_secs: args.grace_secs,
    };
    params
        .validate()
        .context("invalid --rotation-interval-secs / --grace-secs")?;
    let settings = kms_settings(&args.kms, None)?;
    let client = zenalyze_enclave::kms::KmsClient::new(&settings).await?;
    let done = zenalyze_enclave::kms::provision_schedule(&client, &args.out, now_ms(), params)
        .await
        .context("key set provisioning failed")?;
    println!(
        "{}",
        serde_json::json!({
            "event": "provisioned",
            "deployment": settings.deployment,
            "kms_key_id": settings.key_id,
            "keyset": done.keyset_path,
            "data_key": done.data_key_path,
            "key_id": done.key_config.key_id(),
            "key_config": hex::encode(done.key_config.encode()),
            "rotation_interval_secs": params.interval_secs,
            "grace_secs": params.grace_secs,
        })
    );
    Ok(())
}

#[cfg(not(feature = "aws-kms"))]
async fn provision_keyset(_args: ProvisionArgs) -> anyhow::Result<()> {
    bail!(NO_KMS)
}

/// `zenalyze enclave credentials-server`.
#[cfg(feature = "aws-kms")]
async fn credentials_server(args: CredentialsServerArgs) -> anyhow::Result<()> {
    use zenalyze_enclave::credentials;
    init_logging();
    let listen: Address = args.listen.parse().context("invalid --listen address")?;
    let provider = credentials::default_provider().await?;
    let expires = credentials::check_provider(&provider)
        .await
        .context("the parent has no AWS credentials to serve")?;
    let listener = zenalyze_transport::Listener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_address()?;
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "address": bound.to_string(),
            "credentials_expire": expires.map(|t| {
                t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
            }),
        })
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = credentials::serve_credentials(listener, provider) => r.context("credentials server failed")?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(feature = "aws-kms"))]
async fn credentials_server(_args: CredentialsServerArgs) -> anyhow::Result<()> {
    bail!(NO_KMS)
}

fn attestor(
    args: &EnclaveArgs,
    data_dir: &std::path::Path,
    enclave_id: &str,
) -> anyhow::Result<Arc<dyn zenalyze_enclave::Attestor>> {
    let nitro = match args.attestor {
        AttestorKind::Nitro => true,
        AttestorKind::Development => false,
        AttestorKind::Auto => cfg!(feature = "nitro") && args.keyset == KeySetSource::Kms,
    };
    if nitro {
        #[cfg(feature = "nitro")]
        {
            let a = zenalyze_enclave::attest::nitro::NsmAttestor::open()
                .context("cannot open the Nitro Secure Module")?;
            return Ok(Arc::new(a));
        }
        #[cfg(not(feature = "nitro"))]
        bail!("--attestor nitro is not compiled in: build zenalyze with --features nitro");
    }
    let a = zenalyze_enclave::DevAttestor::load_or_create(data_dir, enclave_id, now_ms())
        .context("cannot set up the development attestor")?;
    Ok(Arc::new(a))
}

/// The production key store: the data key unwrapped by KMS for this enclave.
#[cfg(feature = "aws-kms")]
async fn kms_key_store(
    args: &EnclaveArgs,
    data_dir: &std::path::Path,
    attestor: Arc<dyn zenalyze_enclave::Attestor>,
) -> anyhow::Result<zenalyze_enclave::KeyStore> {
    let egress = match &args.egress {
        Some(e) => Some(e.parse::<Address>().context("invalid --egress address")?),
        None => None,
    };
    let mut settings = kms_settings(&args.kms, egress)?;
    if let Some(addr) = &args.kms_credentials {
        let addr: Address = addr.parse().context("invalid --kms-credentials address")?;
        let creds = zenalyze_enclave::credentials::fetch_credentials(
            &addr,
            Duration::from_secs(args.kms.kms_timeout_secs),
        )
        .await
        .context("cannot fetch AWS credentials from the parent; refusing to start")?;
        settings.credentials = Some(creds);
    }
    let client = zenalyze_enclave::kms::KmsClient::new(&settings).await?;
    // KMS is called only here: the settings and the client (and with them
    // the credentials, zeroized on drop) end with this function.
    drop(settings);
    zenalyze_enclave::kms::open_key_store(&client, attestor, data_dir, now_ms())
        .await
        .context("cannot unwrap the HPKE key set with AWS KMS; refusing to start")
}

#[cfg(not(feature = "aws-kms"))]
async fn kms_key_store(
    _args: &EnclaveArgs,
    _data_dir: &std::path::Path,
    _attestor: Arc<dyn zenalyze_enclave::Attestor>,
) -> anyhow::Result<zenalyze_enclave::KeyStore> {
    bail!(NO_KMS)
}

/// Runs the enclave until Ctrl-C / SIGTERM, or a sub-verb.
pub async fn run(mut args: EnclaveArgs) -> anyhow::Result<()> {
    match args.command.take().map(|c| *c) {
        Some(EnclaveCommand::ProvisionKeyset(p)) => return provision_keyset(p).await,
        Some(EnclaveCommand::CredentialsServer(c)) => return credentials_server(c).await,
        None => {}
    }
    init_logging();
    let listen: Address = args
        .listen
        .as_deref()
        .context("--listen is required")?
        .parse()
        .context("invalid --listen address")?;
    let data_dir = args.data_dir.clone().context("--data-dir is required")?;
    if args.rotate_every_secs == 0 || args.maintenance_secs == 0 {
        bail!("--rotate-every-secs and --maintenance-secs must be positive");
    }
    let enclave_id = args
        .enclave_id
        .clone()
        .unwrap_or_else(zenalyze_enclave::new_enclave_id);
    if !data_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
    }
    let attestor = attestor(&args, &data_dir, &enclave_id)?;
    if args.kms_credentials.is_some() && args.keyset != KeySetSource::Kms {
        bail!("--kms-credentials applies only to --keyset kms");
    }
    let key_store = match args.keyset {
        KeySetSource::Dev => None,
        KeySetSource::Kms => Some(kms_key_store(&args, &data_dir, attestor.clone()).await?),
    };
    let (provider, _shim) = provider(&args).await?;
    let mut builder = EnclaveBuilder::new(&data_dir, provider)
        .rotation(
            Duration::from_secs(args.rotate_every_secs),
            Duration::from_secs(args.grace_secs),
        )
        .max_concurrent(args.max_concurrent)
        .attestor(attestor.clone())
        .enclave_id(enclave_id);
    if let Some(store) = key_store {
        builder = builder.key_store(store);
    }
    let enclave = tokio::task::spawn_blocking(move || builder.build())
        .await
        .context("enclave start-up task failed")?
        .context("cannot start the enclave")?;
    let running = enclave
        .spawn(&listen, Duration::from_secs(args.maintenance_secs))
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let dev_root = (attestor.kind() == "development")
        .then(|| {
            std::fs::read_to_string(data_dir.join(zenalyze_enclave::attest::DEV_ROOT_FILE)).ok()
        })
        .flatten()
        .and_then(|pem| zenalyze_attestation::dev::DevRoot::from_pem(&pem).ok())
        .map(|r| r.sha256_fingerprint_hex());
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "address": running.address.to_string(),
            "enclave_id": running.enclave.enclave_id(),
            "key_id": running.enclave.key_config().key_id(),
            "keyset": if args.keyset == KeySetSource::Kms { "kms" } else { "dev" },
            "attestor": attestor.kind(),
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
