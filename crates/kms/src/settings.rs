//! Runtime settings of the Key Management Service (`ZENALYZE_KMS_*`,
//! `ZENALYZE_REDIS_URL`) and starting it: root of trust, cache, change bus,
//! automatic rotation. Shared by `zenalyze serve`, `zenalyze dev` and the
//! `zenalyze keyrings` verbs (which must wrap keys with the same root).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zenalyze_store::Store;

use crate::root::{LocalRootKey, RootError, RootOfTrust};
use crate::service::{Kms, DEFAULT_CACHE_TTL};

/// Which root of trust wraps the keys.
#[derive(Clone, Debug)]
pub enum Provider {
    /// A local 32-byte key file (mode 0600).
    Local {
        /// The key file.
        key_file: PathBuf,
    },
    /// AWS KMS (feature `aws`).
    #[cfg(feature = "aws")]
    Aws(crate::aws::AwsKmsSettings),
}

/// KMS settings.
#[derive(Clone)]
pub struct KmsSettings {
    /// The root of trust.
    pub provider: Provider,
    /// Lifetime of unwrapped keys in the cache.
    pub cache_ttl: Duration,
    /// How often due automatic rotations are looked for.
    pub rotation_check: Duration,
    /// Redis for cross-instance invalidation (none: single instance; other
    /// instances catch up within `cache_ttl`).
    pub redis_url: Option<String>,
}

impl std::fmt::Debug for KmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSettings")
            .field("provider", &self.provider)
            .field("cache_ttl", &self.cache_ttl)
            .field("rotation_check", &self.rotation_check)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A setting is missing or invalid (the message names the variable, never
/// its value).
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct SettingsError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

fn err(var: &'static str, reason: &'static str) -> SettingsError {
    SettingsError { var, reason }
}

fn secs(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, SettingsError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| err(var, "must be a whole number in the documented range")),
    }
}

impl KmsSettings {
    /// Reads the settings from the process environment;
    /// `default_key_file` is the local root key used when
    /// `ZENALYZE_KMS_ROOT_KEY_FILE` is unset (the data directory's
    /// `root.key` under `zenalyze dev`).
    pub fn from_env(default_key_file: Option<PathBuf>) -> Result<Self, SettingsError> {
        Self::from_lookup(
            &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            default_key_file,
        )
    }

    /// Like [`KmsSettings::from_env`] with an explicit lookup (tests).
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        default_key_file: Option<PathBuf>,
    ) -> Result<Self, SettingsError> {
        let provider = match get("ZENALYZE_KMS_PROVIDER").as_deref().unwrap_or("local") {
            "local" => Provider::Local {
                key_file: get("ZENALYZE_KMS_ROOT_KEY_FILE")
                    .map(PathBuf::from)
                    .or(default_key_file)
                    .ok_or_else(|| {
                        err(
                            "ZENALYZE_KMS_ROOT_KEY_FILE",
                            "required with the local provider (or set ZENALYZE_KMS_PROVIDER=aws)",
                        )
                    })?,
            },
            #[cfg(feature = "aws")]
            "aws" => Provider::Aws(crate::aws::AwsKmsSettings {
                key_id: get("ZENALYZE_KMS_AWS_KEY_ID").ok_or_else(|| {
                    err(
                        "ZENALYZE_KMS_AWS_KEY_ID",
                        "required with ZENALYZE_KMS_PROVIDER=aws",
                    )
                })?,
                region: get("ZENALYZE_KMS_AWS_REGION"),
                endpoint: match get("ZENALYZE_KMS_AWS_ENDPOINT") {
                    Some(e) if !(e.starts_with("https://") || e.starts_with("http://")) => {
                        return Err(err(
                            "ZENALYZE_KMS_AWS_ENDPOINT",
                            "must be an http(s):// URL",
                        ))
                    }
                    e => e,
                },
                timeout: Duration::from_millis(secs(
                    get,
                    "ZENALYZE_KMS_AWS_TIMEOUT_MS",
                    5000,
                    100..=60_000,
                )?),
            }),
            #[cfg(not(feature = "aws"))]
            "aws" => {
                return Err(err(
                    "ZENALYZE_KMS_PROVIDER",
                    "this build has no AWS KMS support (build with the aws-kms feature)",
                ))
            }
            _ => return Err(err("ZENALYZE_KMS_PROVIDER", "must be local or aws")),
        };
        let redis_url = match get("ZENALYZE_REDIS_URL") {
            Some(u)
                if !(u.starts_with("redis://")
                    || u.starts_with("rediss://")
                    || u.starts_with("unix://")) =>
            {
                return Err(err(
                    "ZENALYZE_REDIS_URL",
                    "expected redis://, rediss:// or unix://",
                ))
            }
            u => u,
        };
        Ok(KmsSettings {
            provider,
            cache_ttl: Duration::from_secs(secs(
                get,
                "ZENALYZE_KMS_CACHE_TTL_SECONDS",
                DEFAULT_CACHE_TTL.as_secs(),
                0..=86_400,
            )?),
            rotation_check: Duration::from_secs(secs(
                get,
                "ZENALYZE_KMS_ROTATION_CHECK_SECONDS",
                60,
                1..=86_400,
            )?),
            redis_url,
        })
    }

    /// Opens the root of trust (the local key file is permission-checked).
    pub async fn open_root(&self) -> Result<Arc<dyn RootOfTrust>, RootError> {
        match &self.provider {
            Provider::Local { key_file } => Ok(Arc::new(LocalRootKey::load(key_file)?)),
            #[cfg(feature = "aws")]
            Provider::Aws(s) => Ok(Arc::new(crate::aws::AwsKmsRoot::new(s).await)),
        }
    }

    /// Starts the service on `store`: root of trust, cache TTL, Redis
    /// publisher and listener (when configured), and the automatic rotation
    /// task. The returned handles run until aborted.
    pub async fn start(&self, store: Arc<dyn Store>) -> Result<Started, StartError> {
        let root = self.open_root().await?;
        let mut kms = Kms::new(store, root).with_cache_ttl(self.cache_ttl);
        let mut tasks = Vec::new();
        let mut listener = None;
        if let Some(url) = &self.redis_url {
            let client = redis::Client::open(url.as_str()).map_err(|_| StartError::Redis)?;
            let bus = tokio::time::timeout(
                Duration::from_secs(5),
                crate::invalidation::RedisBus::connect(&client),
            )
            .await
            .map_err(|_| StartError::Redis)?
            .map_err(|_| StartError::Redis)?;
            kms = kms.with_bus(Arc::new(bus));
            listener = Some(client);
        }
        let kms = Arc::new(kms);
        if let Some(client) = listener {
            let (h, ok) = crate::invalidation::spawn_listener(client, kms.cache().clone()).await;
            if !ok {
                h.abort();
                return Err(StartError::Redis);
            }
            tasks.push(h);
        }
        tasks.push(kms.spawn_rotation_task(self.rotation_check));
        Ok(Started { kms, tasks })
    }
}

/// A started service and its background tasks.
#[derive(Debug)]
pub struct Started {
    /// The service.
    pub kms: Arc<Kms>,
    /// Invalidation listener and rotation task.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The root of trust could not be opened.
    #[error("{0}")]
    Root(#[from] RootError),
    /// Redis (ZENALYZE_REDIS_URL) is unreachable.
    #[error("ZENALYZE_REDIS_URL: cannot connect and subscribe to Redis")]
    Redis,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn parsing() {
        let s = KmsSettings::from_lookup(&lookup(&[]), Some("/d/root.key".into())).unwrap();
        assert!(matches!(s.provider, Provider::Local { .. }));
        assert_eq!(s.cache_ttl, DEFAULT_CACHE_TTL);
        assert!(KmsSettings::from_lookup(&lookup(&[]), None).is_err());
        let s = KmsSettings::from_lookup(
            &lookup(&[
                ("ZENALYZE_KMS_ROOT_KEY_FILE", "/k"),
                ("ZENALYZE_KMS_CACHE_TTL_SECONDS", "0"),
                ("ZENALYZE_REDIS_URL", "redis://:pw@h:6379/0"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.cache_ttl, Duration::ZERO);
        assert!(!format!("{s:?}").contains("pw"));
        for bad in [
            &[("ZENALYZE_KMS_PROVIDER", "vault")][..],
            &[("ZENALYZE_KMS_CACHE_TTL_SECONDS", "x")],
            &[("ZENALYZE_KMS_ROTATION_CHECK_SECONDS", "0")],
            &[("ZENALYZE_REDIS_URL", "http://h")],
        ] {
            let pairs: &'static [(&'static str, &'static str)] = bad;
            let e = KmsSettings::from_lookup(&lookup(pairs), Some("/k".into())).unwrap_err();
            assert!(!e.to_string().contains("http://h"));
        }
    }
}
