//! In-process development enclaves for `zenalyze dev` (and tests): N
//! enclaves on local Unix sockets (the same transport code as vsock), all on
//! one enclave data directory, so they unwrap the same HPKE key set and
//! serve the same key config; the offline analyzer as provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zenalyze_ai_providers::{OfflineAnalyzer, Provider};
use zenalyze_enclave::{EnclaveBuilder, RunningEnclave};
use zenalyze_transport::Address;

/// Sub-directory of the dev data directory holding the enclaves' key set
/// and development attestation root.
pub const ENCLAVE_DIR: &str = "enclave";

/// Key maintenance period of development enclaves.
pub const DEV_MAINTENANCE: Duration = Duration::from_secs(30);

/// Running development enclaves.
pub struct DevEnclaves {
    /// The enclaves, in start order.
    pub running: Vec<RunningEnclave>,
    /// SHA-256 fingerprint (hex) of the development attestation root that
    /// clients pin (with `allow_debug`).
    pub dev_root_sha256: String,
    /// The enclaves' data directory.
    pub data_dir: PathBuf,
}

impl std::fmt::Debug for DevEnclaves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevEnclaves")
            .field("count", &self.running.len())
            .field("dev_root_sha256", &self.dev_root_sha256)
            .finish()
    }
}

impl DevEnclaves {
    /// Their addresses.
    pub fn addresses(&self) -> Vec<Address> {
        self.running.iter().map(|r| r.address.clone()).collect()
    }

    /// Stops them all.
    pub async fn shutdown(self) {
        for r in self.running {
            if let Err(e) = r.shutdown().await {
                tracing::warn!(error = %e, "development enclave shutdown failed");
            }
        }
    }
}

/// Socket path of development enclave `i` in `data_dir`.
pub fn socket_path(data_dir: &Path, i: usize) -> PathBuf {
    data_dir.join(format!("enclave-{i}.sock"))
}

/// Starts `count` enclaves (at least one) with the offline analyzer.
pub async fn start(data_dir: &Path, count: usize) -> anyhow::Result<DevEnclaves> {
    start_with(data_dir, count, Arc::new(OfflineAnalyzer::new())).await
}

/// Starts `count` enclaves (at least one) calling `provider`.
pub async fn start_with(
    data_dir: &Path,
    count: usize,
    provider: Arc<dyn Provider>,
) -> anyhow::Result<DevEnclaves> {
    let dir = data_dir.join(ENCLAVE_DIR);
    let mut running = Vec::new();
    for i in 0..count.max(1) {
        let b = EnclaveBuilder::new(&dir, provider.clone()).enclave_id(format!("dev-enclave-{i}"));
        // Sequential: the first creates the key set, the others unwrap it.
        let enclave = tokio::task::spawn_blocking(move || b.build())
            .await
            .map_err(|_| anyhow::anyhow!("enclave start-up task failed"))??;
        let addr = Address::Unix(socket_path(data_dir, i));
        running.push(enclave.spawn(&addr, DEV_MAINTENANCE).await?);
    }
    let pem = std::fs::read_to_string(dir.join(zenalyze_enclave::attest::DEV_ROOT_FILE))?;
    let dev_root_sha256 = zenalyze_attestation::dev::DevRoot::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("development attestation root: {e}"))?
        .sha256_fingerprint_hex();
    Ok(DevEnclaves {
        running,
        dev_root_sha256,
        data_dir: dir,
    })
}

/// Starts `count` development enclaves, a pool over them (metrics in the
/// app's registry, served by `GET /metrics`), and adds the AI
/// routes and the `enclaves` readiness check to `builder`.
pub async fn attach(
    builder: crate::state::AppBuilder,
    data_dir: &Path,
    count: usize,
) -> anyhow::Result<(crate::state::AppBuilder, DevEnclaves)> {
    let enclaves = start(data_dir, count).await?;
    let registry = builder.registry().clone();
    let pool = zenalyze_enclave_pool::EnclavePool::start(
        zenalyze_enclave_pool::PoolConfig::new(enclaves.addresses()),
        Some(&registry),
    )
    .await
    .map_err(|e| anyhow::anyhow!("enclave pool: {e}"))?;
    let root = crate::dev::read_private(&data_dir.join(crate::dev::ROOT_KEY_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("the development root key is missing"))?;
    let settings = super::AiSettings {
        webhooks: super::webhooks::WebhookSettings {
            policy: super::webhooks::CallbackPolicy::DEVELOPMENT,
            wrap_key: Some(super::webhooks::WrapKey::derive(&root)),
            ..Default::default()
        },
        ..Default::default()
    };
    let ai = super::Ai::new(pool, settings).with_registry(registry);
    let builder = builder.routes(ai.router()).health_check(ai.health_check());
    Ok((builder, enclaves))
}

/// The AI part of the `zenalyze dev` banner.
pub fn banner(enclaves: &DevEnclaves) -> String {
    let mut s = String::from("\n  AI enclaves:\n");
    for r in &enclaves.running {
        s.push_str(&format!("    {}  {}\n", r.enclave.enclave_id(), r.address));
    }
    s.push_str(&format!(
        "  Development attestation root (pin it with allow_debug): {}\n",
        enclaves.dev_root_sha256
    ));
    s
}
