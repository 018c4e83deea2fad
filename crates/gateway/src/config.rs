//! Gateway settings: request limits, HTTP timeouts, and the production
//! configuration of `zenalyze serve` (TOML file + `ZENALYZE_*` environment
//! overrides). Every setting is documented in `docs/operations.md`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::keys::{AdminToken, AdminTokenError};

/// Limits applied to request bodies and fields.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body accepted on ordinary endpoints (bytes).
    pub json_body_bytes: usize,
    /// Largest binary envelope accepted in `POST /v1/records` (bytes,
    /// before base64).
    pub max_envelope_bytes: usize,
    /// Most metadata entries on a record.
    pub metadata_max_entries: usize,
    /// Longest metadata key (bytes).
    pub metadata_key_max_bytes: usize,
    /// Longest metadata value (bytes).
    pub metadata_value_max_bytes: usize,
    /// Page size when `limit` is absent.
    pub list_default_limit: u32,
    /// Largest accepted `limit`.
    pub list_max_limit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            json_body_bytes: 1024 * 1024,
            max_envelope_bytes: 8 * 1024 * 1024,
            metadata_max_entries: 32,
            metadata_key_max_bytes: 64,
            metadata_value_max_bytes: 1024,
            list_default_limit: 50,
            list_max_limit: 500,
        }
    }
}

impl Limits {
    /// The body limit of `POST /v1/records`: the base64 form of the largest
    /// envelope plus room for the other fields.
    pub fn records_body_bytes(&self) -> usize {
        self.max_envelope_bytes
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(self.json_body_bytes)
    }
}

/// HTTP server behaviour.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Deadline for handling one request; beyond it the client gets a 503
    /// `timeout` problem.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests before giving up.
    pub shutdown_grace: Duration,
    /// Longest time a client may take to send its request headers; the
    /// connection is closed beyond it (slow-client protection).
    pub header_read_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (TOML syntax/schema; it may quote the file).
        message: String,
    },
    /// A setting has an invalid value.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting name (file key / environment variable).
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// A required setting is missing.
    #[error("missing setting {0}")]
    Missing(&'static str),
    /// The configuration would be insecure.
    #[error("refusing insecure configuration: {0}")]
    Insecure(String),
}

/// The TOML schema of `zenalyze serve --config FILE`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    json_body_limit_bytes: Option<usize>,
    max_envelope_bytes: Option<usize>,
    metadata_max_entries: Option<usize>,
    request_timeout_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    header_read_timeout_ms: Option<u64>,
    log_level: Option<String>,
    database_max_connections: Option<u32>,
    api_key_cache_ttl_ms: Option<u64>,
    limits: Option<zenalyze_limits::LimitsConfig>,
    metrics: Option<MetricsFileConfig>,
    ai: Option<crate::ai::config::AiFileConfig>,
    kms: Option<KmsFileConfig>,
}

/// The `[kms]` section of `zenalyze serve`: the Key Management Service.
/// Each key has a `ZENALYZE_KMS_*` environment variable of the same name
/// in capitals (`provider` → `ZENALYZE_KMS_PROVIDER`, `root_key_file` →
/// `ZENALYZE_KMS_ROOT_KEY_FILE`, …; `redis_url` → `ZENALYZE_REDIS_URL`),
/// which overrides it. Validated by `zenalyze_kms::settings`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsFileConfig {
    provider: Option<String>,
    root_key_file: Option<PathBuf>,
    aws_key_id: Option<String>,
    aws_region: Option<String>,
    aws_endpoint: Option<String>,
    aws_timeout_ms: Option<u64>,
    cache_ttl_seconds: Option<u64>,
    rotation_check_seconds: Option<u64>,
    redis_url: Option<String>,
}

impl KmsFileConfig {
    /// The file's value for the environment variable `var`.
    pub fn get(&self, var: &str) -> Option<String> {
        let num = |n: Option<u64>| n.map(|n| n.to_string());
        match var {
            "ZENALYZE_KMS_PROVIDER" => self.provider.clone(),
            "ZENALYZE_KMS_ROOT_KEY_FILE" => self
                .root_key_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            "ZENALYZE_KMS_AWS_KEY_ID" => self.aws_key_id.clone(),
            "ZENALYZE_KMS_AWS_REGION" => self.aws_region.clone(),
            "ZENALYZE_KMS_AWS_ENDPOINT" => self.aws_endpoint.clone(),
            "ZENALYZE_KMS_AWS_TIMEOUT_MS" => num(self.aws_timeout_ms),
            "ZENALYZE_KMS_CACHE_TTL_SECONDS" => num(self.cache_ttl_seconds),
            "ZENALYZE_KMS_ROTATION_CHECK_SECONDS" => num(self.rotation_check_seconds),
            "ZENALYZE_REDIS_URL" => self.redis_url.clone(),
            _ => None,
        }
        .filter(|v| !v.is_empty())
    }

    /// Whether the section enables the service (a provider or a root key
    /// file is named).
    pub fn enables(&self) -> bool {
        self.get("ZENALYZE_KMS_PROVIDER").is_some()
            || self.get("ZENALYZE_KMS_ROOT_KEY_FILE").is_some()
    }
}

/// The `[metrics]` section of `zenalyze serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFileConfig {
    access: Option<crate::metrics::MetricsAccess>,
    listen: Option<String>,
}

/// The validated configuration of `zenalyze serve`.
pub struct ServeConfig {
    /// Socket address to listen on (`listen`, `ZENALYZE_LISTEN`).
    pub listen: SocketAddr,
    /// PostgreSQL URL (`database_url`, `ZENALYZE_DATABASE_URL`); may hold a
    /// password, so it is wiped on drop and redacted in `Debug`.
    pub database_url: Zeroizing<String>,
    /// Operator admin token.
    pub admin_token: AdminToken,
    /// Request limits.
    pub limits: Limits,
    /// Timeouts.
    pub http: HttpSettings,
    /// `tracing` filter directive (`info`, `zenalyze_gateway=debug,info`…).
    pub log_level: String,
    /// Size of the database connection pool.
    pub database_max_connections: u32,
    /// How long a found API key is reused before the store is read again
    /// (`api_key_cache_ttl_ms`, `ZENALYZE_API_KEY_CACHE_TTL_MS`; default
    /// 5000, 0 disables; at most 60000). Revocations through another
    /// instance or the CLI take effect within this time.
    pub api_key_cache_ttl: Duration,
    /// Rate limits and usage metering (`[limits]`; `ZENALYZE_REDIS_URL`
    /// selects the Redis back-end with that URL, `ZENALYZE_REDIS_KEY_PREFIX`
    /// and `ZENALYZE_LIMITS_ENABLED` override). The Redis URL may hold a
    /// password: it is redacted in `Debug`.
    pub rate_limits: zenalyze_limits::LimitsConfig,
    /// Who may read `GET /metrics` on the API listener (`[metrics] access`,
    /// `ZENALYZE_METRICS_ACCESS`: `admin_token` (default), `open`,
    /// `disabled`).
    pub metrics_access: crate::metrics::MetricsAccess,
    /// A dedicated, unauthenticated metrics listener (`[metrics] listen`,
    /// `ZENALYZE_METRICS_LISTEN`), e.g. on a private interface.
    pub metrics_listen: Option<SocketAddr>,
    /// The enclave pool and webhooks (`[ai]`, `ZENALYZE_ENCLAVES`,
    /// `ZENALYZE_WEBHOOK_KEY`); `None` without enclaves.
    pub ai: Option<crate::ai::config::AiServeConfig>,
    /// The `[kms]` section (the environment overrides each key; see
    /// [`KmsFileConfig`]).
    pub kms: KmsFileConfig,
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("database_url", &"<redacted>")
            .field("admin_token", &self.admin_token)
            .field("limits", &self.limits)
            .field("http", &self.http)
            .field("log_level", &self.log_level)
            .field("database_max_connections", &self.database_max_connections)
            .field("api_key_cache_ttl", &self.api_key_cache_ttl)
            .field("rate_limits.enabled", &self.rate_limits.enabled)
            .field("rate_limits.backend", &self.rate_limits.backend)
            .field("rate_limits.redis.url", &"<redacted>")
            .field("metrics_access", &self.metrics_access)
            .field("metrics_listen", &self.metrics_listen)
            .field(
                "ai.enclaves",
                &self.ai.as_ref().map(|a| a.pool.endpoints.len()),
            )
            .finish()
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

fn parse_num<T: std::str::FromStr>(setting: &'static str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(setting, "not a valid non-negative integer"))
}

/// Whether a file's permissions let anyone but its owner read it.
#[cfg(unix)]
pub fn is_group_or_world_accessible(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 != 0)
}

/// Whether a file's permissions let anyone but its owner read it.
#[cfg(not(unix))]
pub fn is_group_or_world_accessible(_path: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Host part of a `postgres://` URL (without brackets or port).
fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().map(str::to_owned);
    }
    Some(host_port.split(':').next().unwrap_or("").to_owned())
}

fn is_loopback_host(host: &str) -> bool {
    host.is_empty()
        || host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl ServeConfig {
    /// Loads `path` (if any) and applies `ZENALYZE_*` overrides from `env`,
    /// then validates. `env` is a parameter so tests need not touch the
    /// process environment.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut file = FileConfig::default();
        let mut file_is_private = true;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            file = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.message().to_owned(),
            })?;
            file_is_private = !is_group_or_world_accessible(path).unwrap_or(true);
        }

        let listen_text = env("ZENALYZE_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| invalid("listen", "expected host:port with an IP address"))?;

        let database_url = Zeroizing::new(
            env("ZENALYZE_DATABASE_URL")
                .or(file.database_url)
                .ok_or(ConfigError::Missing("database_url / ZENALYZE_DATABASE_URL"))?,
        );
        let host = url_host(&database_url).ok_or_else(|| {
            invalid(
                "database_url",
                "zenalyze serve runs on PostgreSQL: expected postgres://…",
            )
        })?;
        let tls = [
            "sslmode=require",
            "sslmode=verify-ca",
            "sslmode=verify-full",
        ]
        .iter()
        .any(|m| database_url.contains(m));
        if !is_loopback_host(&host) && !tls {
            return Err(ConfigError::Insecure(
                "database_url points to a remote host without sslmode=require, verify-ca or verify-full"
                    .to_owned(),
            ));
        }

        let token_text = if let Some(t) = env("ZENALYZE_ADMIN_TOKEN") {
            Zeroizing::new(t)
        } else if let Some(p) = env("ZENALYZE_ADMIN_TOKEN_FILE")
            .map(PathBuf::from)
            .or(file.admin_token_file)
        {
            if is_group_or_world_accessible(&p).map_err(|e| ConfigError::Read {
                path: p.clone(),
                source: e,
            })? {
                return Err(ConfigError::Insecure(format!(
                    "admin token file {} is readable by group or others (chmod 600 it)",
                    p.display()
                )));
            }
            Zeroizing::new(
                std::fs::read_to_string(&p)
                    .map_err(|source| ConfigError::Read { path: p, source })?,
            )
        } else if let Some(t) = file.admin_token {
            if !file_is_private {
                return Err(ConfigError::Insecure(
                    "the config file holds admin_token but is readable by group or others (chmod 600 it, or use admin_token_file)"
                        .to_owned(),
                ));
            }
            Zeroizing::new(t)
        } else {
            return Err(ConfigError::Missing(
                "admin token (ZENALYZE_ADMIN_TOKEN, ZENALYZE_ADMIN_TOKEN_FILE, admin_token_file or admin_token)",
            ));
        };
        let admin_token = AdminToken::parse(&token_text).map_err(|e| match e {
            AdminTokenError::TooShort => {
                ConfigError::Insecure("the admin token is shorter than 32 characters".to_owned())
            }
            AdminTokenError::BadCharacters => invalid("admin_token", e.to_string()),
        })?;

        let mut limits = Limits::default();
        if let Some(v) = env("ZENALYZE_JSON_BODY_LIMIT_BYTES") {
            limits.json_body_bytes = parse_num("json_body_limit_bytes", &v)?;
        } else if let Some(v) = file.json_body_limit_bytes {
            limits.json_body_bytes = v;
        }
        if let Some(v) = env("ZENALYZE_MAX_ENVELOPE_BYTES") {
            limits.max_envelope_bytes = parse_num("max_envelope_bytes", &v)?;
        } else if let Some(v) = file.max_envelope_bytes {
            limits.max_envelope_bytes = v;
        }
        if let Some(v) = env("ZENALYZE_METADATA_MAX_ENTRIES") {
            limits.metadata_max_entries = parse_num("metadata_max_entries", &v)?;
        } else if let Some(v) = file.metadata_max_entries {
            limits.metadata_max_entries = v;
        }
        if !(1024..=64 * 1024 * 1024).contains(&limits.json_body_bytes) {
            return Err(invalid("json_body_limit_bytes", "must be 1 KiB to 64 MiB"));
        }
        if !(29..=zenalyze_store::model::MAX_ENVELOPE_LEN).contains(&limits.max_envelope_bytes) {
            return Err(invalid("max_envelope_bytes", "must be 29 bytes to 16 MiB"));
        }
        if limits.metadata_max_entries > zenalyze_store::model::MAX_METADATA_ENTRIES {
            return Err(invalid("metadata_max_entries", "must be at most 32"));
        }

        let mut http = HttpSettings::default();
        let timeout_ms: Option<u64> = match env("ZENALYZE_REQUEST_TIMEOUT_MS") {
            Some(v) => Some(parse_num("request_timeout_ms", &v)?),
            None => file.request_timeout_ms,
        };
        if let Some(ms) = timeout_ms {
            if !(100..=600_000).contains(&ms) {
                return Err(invalid("request_timeout_ms", "must be 100 to 600000"));
            }
            http.request_timeout = Duration::from_millis(ms);
        }
        let grace_ms: Option<u64> = match env("ZENALYZE_SHUTDOWN_GRACE_MS") {
            Some(v) => Some(parse_num("shutdown_grace_ms", &v)?),
            None => file.shutdown_grace_ms,
        };
        if let Some(ms) = grace_ms {
            if ms > 600_000 {
                return Err(invalid("shutdown_grace_ms", "must be at most 600000"));
            }
            http.shutdown_grace = Duration::from_millis(ms);
        }

        let header_ms: Option<u64> = match env("ZENALYZE_HEADER_READ_TIMEOUT_MS") {
            Some(v) => Some(parse_num("header_read_timeout_ms", &v)?),
            None => file.header_read_timeout_ms,
        };
        if let Some(ms) = header_ms {
            if !(100..=300_000).contains(&ms) {
                return Err(invalid("header_read_timeout_ms", "must be 100 to 300000"));
            }
            http.header_read_timeout = Duration::from_millis(ms);
        }

        let log_level = env("ZENALYZE_LOG_LEVEL")
            .or(file.log_level)
            .unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid("log_level", "not a valid tracing filter directive"));
        }
        let database_max_connections = match env("ZENALYZE_DATABASE_MAX_CONNECTIONS") {
            Some(v) => parse_num("database_max_connections", &v)?,
            None => file.database_max_connections.unwrap_or(16),
        };
        if !(1..=1000).contains(&database_max_connections) {
            return Err(invalid("database_max_connections", "must be 1 to 1000"));
        }
        let api_key_cache_ttl_ms = match env("ZENALYZE_API_KEY_CACHE_TTL_MS") {
            Some(v) => parse_num("api_key_cache_ttl_ms", &v)?,
            None => file
                .api_key_cache_ttl_ms
                .unwrap_or(crate::auth::DEFAULT_API_KEY_CACHE_TTL.as_millis() as u64),
        };
        if api_key_cache_ttl_ms > 60_000 {
            return Err(invalid("api_key_cache_ttl_ms", "must be 0 to 60000"));
        }
        let api_key_cache_ttl = Duration::from_millis(api_key_cache_ttl_ms);

        let mut rate_limits = file.limits.unwrap_or_default();
        if let Some(url) = env("ZENALYZE_REDIS_URL") {
            rate_limits.backend = zenalyze_limits::BackendKind::Redis;
            rate_limits.redis.url = url;
        }
        if let Some(p) = env("ZENALYZE_REDIS_KEY_PREFIX") {
            rate_limits.redis.key_prefix = p;
        }
        if let Some(v) = env("ZENALYZE_LIMITS_ENABLED") {
            rate_limits.enabled = match v.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid("limits.enabled", "must be true or false")),
            };
        }
        if rate_limits.backend == zenalyze_limits::BackendKind::Redis
            && !(rate_limits.redis.url.starts_with("redis://")
                || rate_limits.redis.url.starts_with("rediss://")
                || rate_limits.redis.url.starts_with("unix://"))
        {
            return Err(invalid(
                "limits.redis.url",
                "expected redis://, rediss:// or unix://",
            ));
        }
        let metrics_file = file.metrics.unwrap_or_default();
        let metrics_access = match env("ZENALYZE_METRICS_ACCESS") {
            Some(v) => match v.trim() {
                "admin_token" => crate::metrics::MetricsAccess::AdminToken,
                "open" => crate::metrics::MetricsAccess::Open,
                "disabled" => crate::metrics::MetricsAccess::Disabled,
                _ => {
                    return Err(invalid(
                        "metrics.access",
                        "must be admin_token, open or disabled",
                    ))
                }
            },
            None => metrics_file
                .access
                .unwrap_or(crate::metrics::MetricsAccess::AdminToken),
        };
        let metrics_listen = env("ZENALYZE_METRICS_LISTEN")
            .or(metrics_file.listen)
            .map(|t| {
                t.parse::<SocketAddr>()
                    .map_err(|_| invalid("metrics.listen", "expected host:port with an IP address"))
            })
            .transpose()?;

        let ai = crate::ai::config::load(file.ai.take(), env)?;
        let kms = file.kms.take().unwrap_or_default();
        Ok(ServeConfig {
            ai,
            kms,
            listen,
            database_url,
            admin_token,
            limits,
            http,
            log_level,
            database_max_connections,
            api_key_cache_ttl,
            rate_limits,
            metrics_access,
            metrics_listen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn env_only_config() {
        let env = env_of(&[
            (
                "ZENALYZE_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/z",
            ),
            ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ("ZENALYZE_LISTEN", "0.0.0.0:9000"),
            ("ZENALYZE_REQUEST_TIMEOUT_MS", "1500"),
        ]);
        let c = ServeConfig::load(None, &env).expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.http.request_timeout, Duration::from_millis(1500));
        assert!(c.admin_token.verify(TOKEN));
        assert!(!format!("{c:?}").contains(TOKEN));
    }

    #[test]
    fn kms_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "database_url = \"postgres://127.0.0.1/z\"\n[kms]\nprovider = \"aws\"\naws_key_id = \"alias/z\"\naws_timeout_ms = 900\n",
        )
        .expect("write");
        let c = ServeConfig::load(Some(&p), &env_of(&[("ZENALYZE_ADMIN_TOKEN", TOKEN)]))
            .expect("valid");
        assert!(c.kms.enables());
        assert_eq!(c.kms.get("ZENALYZE_KMS_PROVIDER").as_deref(), Some("aws"));
        assert_eq!(
            c.kms.get("ZENALYZE_KMS_AWS_KEY_ID").as_deref(),
            Some("alias/z")
        );
        assert_eq!(
            c.kms.get("ZENALYZE_KMS_AWS_TIMEOUT_MS").as_deref(),
            Some("900")
        );
        assert_eq!(c.kms.get("ZENALYZE_KMS_ROOT_KEY_FILE"), None);
        std::fs::write(
            &p,
            "database_url = \"postgres://127.0.0.1/z\"\n[kms]\nroot_key = \"x\"\n",
        )
        .expect("write");
        assert!(ServeConfig::load(Some(&p), &env_of(&[("ZENALYZE_ADMIN_TOKEN", TOKEN)])).is_err());
        let none = ServeConfig::load(
            None,
            &env_of(&[
                ("ZENALYZE_ADMIN_TOKEN", TOKEN),
                ("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z"),
            ]),
        )
        .expect("valid");
        assert!(!none.kms.enables());
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:7000\"\ndatabase_url = \"postgres://db.internal/z?sslmode=verify-full\"\nmax_envelope_bytes = 4096\n",
        )
        .expect("write");
        let env = env_of(&[
            ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ("ZENALYZE_LISTEN", "127.0.0.1:7001"),
        ]);
        let c = ServeConfig::load(Some(&p), &env).expect("valid");
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.limits.max_envelope_bytes, 4096);
    }

    #[test]
    fn refuses_insecure_or_invalid() {
        let e = ServeConfig::load(
            None,
            &env_of(&[
                ("ZENALYZE_DATABASE_URL", "postgres://db.example.com/z"),
                ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ]),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Insecure(_)), "{e}");
        let e = ServeConfig::load(
            None,
            &env_of(&[
                ("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z"),
                ("ZENALYZE_ADMIN_TOKEN", "short"),
            ]),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Insecure(_)), "{e}");
        let e = ServeConfig::load(
            None,
            &env_of(&[("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z")]),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Missing(_)), "{e}");
        let e = ServeConfig::load(
            None,
            &env_of(&[
                ("ZENALYZE_DATABASE_URL", "sqlite:///tmp/x.db"),
                ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ]),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
        let e = ServeConfig::load(
            None,
            &env_of(&[
                ("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z"),
                ("ZENALYZE_ADMIN_TOKEN", TOKEN),
                ("ZENALYZE_REQUEST_TIMEOUT_MS", "abc"),
            ]),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    }

    #[test]
    fn limits_and_metrics_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "database_url = \"postgres://127.0.0.1/z\"\n[limits]\nusage_flush_interval_ms = 500\n[limits.redis]\nkey_prefix = \"a1\"\n[metrics]\naccess = \"open\"\nlisten = \"127.0.0.1:9100\"\n",
        )
        .expect("write");
        let c = ServeConfig::load(Some(&p), &env_of(&[("ZENALYZE_ADMIN_TOKEN", TOKEN)]))
            .expect("valid");
        assert_eq!(c.rate_limits.backend, zenalyze_limits::BackendKind::Memory);
        assert_eq!(c.rate_limits.usage_flush_interval_ms, 500);
        assert_eq!(c.metrics_access, crate::metrics::MetricsAccess::Open);
        assert_eq!(c.metrics_listen.map(|a| a.port()), Some(9100));
        let env = env_of(&[
            ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ("ZENALYZE_REDIS_URL", "redis://:s3cret@127.0.0.1:6380/2"),
            ("ZENALYZE_METRICS_ACCESS", "admin_token"),
        ]);
        let c = ServeConfig::load(Some(&p), &env).expect("valid");
        assert_eq!(c.rate_limits.backend, zenalyze_limits::BackendKind::Redis);
        assert_eq!(c.rate_limits.redis.key_prefix, "a1");
        assert_eq!(c.metrics_access, crate::metrics::MetricsAccess::AdminToken);
        assert!(!format!("{c:?}").contains("s3cret"));
        let env = env_of(&[
            ("ZENALYZE_ADMIN_TOKEN", TOKEN),
            ("ZENALYZE_REDIS_URL", "http://127.0.0.1:6379"),
        ]);
        assert!(matches!(
            ServeConfig::load(Some(&p), &env).unwrap_err(),
            ConfigError::Invalid { .. }
        ));
        std::fs::write(
            &p,
            "database_url = \"postgres://127.0.0.1/z\"\n[limits]\nbogus = 1\n",
        )
        .expect("write");
        assert!(matches!(
            ServeConfig::load(Some(&p), &env_of(&[("ZENALYZE_ADMIN_TOKEN", TOKEN)])).unwrap_err(),
            ConfigError::Parse { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_readable_token_file_and_unknown_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let tf = dir.path().join("token");
        std::fs::write(&tf, TOKEN).expect("write");
        std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let tf_s = tf.to_string_lossy().into_owned();
        let env = env_of(&[
            ("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z"),
            ("ZENALYZE_ADMIN_TOKEN_FILE", tf_s.as_str()),
        ]);
        assert!(matches!(
            ServeConfig::load(None, &env).unwrap_err(),
            ConfigError::Insecure(_)
        ));
        std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(ServeConfig::load(None, &env).is_ok());

        let p = dir.path().join("z.toml");
        std::fs::write(&p, "lissten = \"x\"\n").expect("write");
        assert!(matches!(
            ServeConfig::load(Some(&p), &env).unwrap_err(),
            ConfigError::Parse { .. }
        ));
    }
}
