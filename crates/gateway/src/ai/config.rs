//! The `[ai]` section of `zenalyze serve`: the enclave pool and webhooks.
//!
//! ```toml
//! [ai]
//! enclaves = ["vsock:16:5000", "vsock:17:5000"]   # or ZENALYZE_ENCLAVES=a,b
//! health_interval_ms = 2000
//! request_timeout_ms = 120000
//! max_concurrency = 64          # per enclave
//! job_ttl_secs = 86400
//! webhook_key_file = "/etc/zenalyze/webhook.key"  # 32 bytes, mode 0600
//! ```
//!
//! `ZENALYZE_WEBHOOK_KEY` (64 hex digits) may give the webhook wrapping key
//! instead of the file. Without a key, callbacks are refused (503).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zenalyze_enclave_pool::{EnclavePool, PoolConfig};
use zenalyze_transport::Address;

use super::webhooks::{CallbackPolicy, WebhookSettings, WrapKey};
use super::{Ai, AiSettings};
use crate::config::ConfigError;

/// The TOML `[ai]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiFileConfig {
    enclaves: Option<Vec<String>>,
    health_interval_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_concurrency: Option<usize>,
    job_ttl_secs: Option<u64>,
    webhook_key_file: Option<PathBuf>,
}

/// Validated AI settings of `zenalyze serve`.
#[derive(Debug, Clone)]
pub struct AiServeConfig {
    /// The pool.
    pub pool: PoolConfig,
    /// Endpoint settings.
    pub settings: AiSettings,
}

fn invalid(setting: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.to_owned(),
    }
}

/// Validates the section plus `ZENALYZE_ENCLAVES` / `ZENALYZE_WEBHOOK_KEY`;
/// `None` when no enclave is configured (the AI endpoints are then absent).
pub fn load(
    file: Option<AiFileConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AiServeConfig>, ConfigError> {
    let file = file.unwrap_or_default();
    let list: Vec<String> = match env("ZENALYZE_ENCLAVES") {
        Some(v) => v
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => file.enclaves.unwrap_or_default(),
    };
    if list.is_empty() {
        return Ok(None);
    }
    let endpoints = list
        .iter()
        .map(|s| s.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            invalid(
                "ai.enclaves",
                "expected tcp:HOST:PORT, unix:PATH or vsock:[CID:]PORT",
            )
        })?;
    let mut pool = PoolConfig::new(endpoints);
    if let Some(ms) = file.health_interval_ms {
        if ms == 0 {
            return Err(invalid("ai.health_interval_ms", "must be positive"));
        }
        pool.health_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = file.request_timeout_ms {
        if ms == 0 {
            return Err(invalid("ai.request_timeout_ms", "must be positive"));
        }
        pool.request_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = file.max_concurrency {
        if n == 0 {
            return Err(invalid("ai.max_concurrency", "must be positive"));
        }
        pool.max_concurrency = n;
    }
    let mut settings = AiSettings::default();
    if let Some(s) = file.job_ttl_secs {
        if s == 0 {
            return Err(invalid("ai.job_ttl_secs", "must be positive"));
        }
        settings.job_ttl = Duration::from_secs(s);
    }
    let key = match (env("ZENALYZE_WEBHOOK_KEY"), file.webhook_key_file) {
        (Some(hexkey), _) => Some(
            hex::decode(hexkey.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| invalid("ZENALYZE_WEBHOOK_KEY", "expected 64 hex digits"))?,
        ),
        (None, Some(path)) => {
            let bytes = crate::dev::read_private(&path)
                .map_err(|e| invalid("ai.webhook_key_file", &e.to_string()))?
                .ok_or_else(|| invalid("ai.webhook_key_file", "file not found"))?;
            if bytes.len() != 32 {
                return Err(invalid("ai.webhook_key_file", "must hold exactly 32 bytes"));
            }
            Some(bytes.to_vec())
        }
        (None, None) => None,
    };
    let wrap_key = key.map(|k| {
        let mut a = [0u8; 32];
        a.copy_from_slice(&k);
        WrapKey::new(a)
    });
    settings.webhooks = WebhookSettings {
        policy: CallbackPolicy::PRODUCTION,
        wrap_key,
        ..WebhookSettings::default()
    };
    Ok(Some(AiServeConfig { pool, settings }))
}

/// Starts the pool (metrics in the app's registry) and adds the AI routes
/// and the `enclaves` readiness check; unchanged builder without `[ai]`.
pub async fn attach(
    builder: crate::state::AppBuilder,
    config: Option<&AiServeConfig>,
) -> anyhow::Result<crate::state::AppBuilder> {
    let Some(config) = config else {
        return Ok(builder);
    };
    let pool = EnclavePool::start(config.pool.clone(), Some(builder.registry()))
        .await
        .map_err(|e| anyhow::anyhow!("enclave pool: {e}"))?;
    tracing::info!(
        enclaves = config.pool.endpoints.len(),
        healthy = pool.healthy_count(),
        "enclave pool started"
    );
    let ai = Ai::new(pool, config.settings.clone());
    Ok(builder.routes(ai.router()).health_check(ai.health_check()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let none = |_: &str| None;
        assert!(load(None, &none).unwrap().is_none());
        let f: AiFileConfig = toml::from_str(
            r#"enclaves = ["vsock:16:5000", "unix:/run/e.sock"]
               health_interval_ms = 500
               max_concurrency = 8"#,
        )
        .unwrap();
        let c = load(Some(f), &none).unwrap().unwrap();
        assert_eq!(c.pool.endpoints.len(), 2);
        assert_eq!(c.pool.max_concurrency, 8);
        assert!(c.settings.webhooks.wrap_key.is_none());
        let env = |k: &str| match k {
            "ZENALYZE_ENCLAVES" => Some("tcp:10.0.0.5:7443".to_owned()),
            "ZENALYZE_WEBHOOK_KEY" => Some("ab".repeat(32)),
            _ => None,
        };
        let c = load(None, &env).unwrap().unwrap();
        assert_eq!(c.pool.endpoints.len(), 1);
        assert!(c.settings.webhooks.wrap_key.is_some());
        let bad = |k: &str| (k == "ZENALYZE_ENCLAVES").then(|| "http:x".to_owned());
        assert!(load(None, &bad).is_err());
        assert!(toml::from_str::<AiFileConfig>("nope = 1").is_err());
    }
}
