//! Harness of the limits tests: real gateways (`App` + `server::serve`) on
//! ephemeral loopback ports, SQLite or a fresh PostgreSQL database, the
//! in-memory or Redis limiter, and a private `redis-server` when a test
//! must kill Redis.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use zenalyze_gateway::config::HttpSettings;
use zenalyze_gateway::keys::{random_base62, AdminToken};
use zenalyze_gateway::metrics::MetricsAccess;
use zenalyze_gateway::{App, AppState};
use zenalyze_limits::{BackendKind, Clock, LimitsConfig, RedisSettings};
use zenalyze_store::{Store, StoreOptions};

pub fn pg_base_url() -> String {
    std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("ZENALYZE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh PostgreSQL database.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let name = format!("zlim_{}", random_base62(16).to_ascii_lowercase());
        let mut conn = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(&pg_base_url()),
        )
        .await
        .expect("postgres connect timeout")
        .expect("PostgreSQL must run at ZENALYZE_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let base = pg_base_url();
        let (head, query) = match base.split_once('?') {
            Some((h, q)) => (h.to_owned(), format!("?{q}")),
            None => (base.clone(), String::new()),
        };
        let prefix = head.rsplit_once('/').map(|(p, _)| p).unwrap_or(&head);
        PgDb {
            url: format!("{prefix}/{name}{query}"),
            name,
        }
    }

    pub async fn drop_db(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_base_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
            conn.close().await.ok();
        }
    }
}

/// How to build one gateway.
pub struct GatewayOptions {
    pub limits: LimitsConfig,
    pub clock: Option<Arc<dyn Clock>>,
    pub admin_token: Option<String>,
    pub metrics_access: MetricsAccess,
    pub extra: Option<utoipa_axum::router::OpenApiRouter<AppState>>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            limits: LimitsConfig::default(),
            clock: None,
            admin_token: None,
            metrics_access: MetricsAccess::AdminToken,
            extra: None,
        }
    }
}

/// Limits on Redis at `url` with a unique key prefix and short probes.
pub fn redis_limits(url: &str, prefix: &str) -> LimitsConfig {
    LimitsConfig {
        enabled: true,
        backend: BackendKind::Redis,
        redis: RedisSettings {
            url: url.to_owned(),
            key_prefix: prefix.to_owned(),
            timeout_ms: 200,
            probe_min_ms: 50,
            probe_max_ms: 200,
        },
        usage_flush_interval_ms: 100,
    }
}

/// A running gateway.
pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Opens a SQLite store in `dir`.
pub async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn Store> {
    zenalyze_store::open_data_dir(dir, &StoreOptions::default())
        .await
        .expect("open sqlite")
}

/// Opens the PostgreSQL store at `url`.
pub async fn pg_store(url: &str) -> Arc<dyn Store> {
    zenalyze_store::open_with(url, &StoreOptions::default())
        .await
        .expect("open postgres")
}

impl Gateway {
    pub async fn start(store: Arc<dyn Store>, opts: GatewayOptions) -> Gateway {
        let token = opts
            .admin_token
            .unwrap_or_else(|| AdminToken::generate().expose_secret().to_owned());
        let admin = AdminToken::parse(&token).expect("token");
        let mut builder = App::builder(store.clone(), admin)
            .http(HttpSettings {
                request_timeout: Duration::from_secs(10),
                shutdown_grace: Duration::from_secs(5),
                ..HttpSettings::default()
            })
            .metrics_access(opts.metrics_access);
        builder = if opts.limits.backend == BackendKind::Redis {
            builder
                .connect_limits(opts.limits)
                .await
                .expect("limiter on redis")
        } else {
            builder.limits_config(opts.limits)
        };
        if let Some(clock) = opts.clock {
            builder = builder.limits_clock(clock);
        }
        if let Some(extra) = opts.extra {
            builder = builder.routes(extra);
        }
        let app = builder.build();
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(zenalyze_gateway::server::serve(listener, app, async move {
            let _ = rx.await;
        }));
        Gateway {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(32)
                .build()
                .expect("client"),
            admin_token: token,
            store,
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Graceful stop (flushes usage, closes the store).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("server stops in time")
                .expect("server task")
                .expect("serve result");
        }
    }

    /// Creates a tenant; returns (id, secret key).
    pub async fn tenant(
        &self,
        tier: &str,
        quota: Option<u64>,
        burst: Option<u32>,
    ) -> (String, String) {
        let mut body = serde_json::json!({"name": format!("t-{}", random_base62(6)), "tier": tier});
        if let Some(q) = quota {
            body["quota_override"] = q.into();
        }
        if let Some(b) = burst {
            body["burst_override"] = b.into();
        }
        let r = self
            .http
            .post(self.url("/v1/admin/tenants"))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        (
            v["tenant_id"].as_str().expect("id").to_owned(),
            v["secret_key"].as_str().expect("sk").to_owned(),
        )
    }

    /// A metered, cheap request: `GET /v1/records?user_id=…`.
    pub async fn list_records(&self, key: &str) -> reqwest::Response {
        self.http
            .get(self.url("/v1/records?user_id=limits-user"))
            .bearer_auth(key)
            .send()
            .await
            .expect("send")
    }

    pub async fn metrics_text(&self) -> String {
        let r = self
            .http
            .get(self.url("/metrics"))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        r.text().await.expect("text")
    }

    pub async fn usage(&self, key: &str, query: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/v1/usage{query}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("send")
    }
}

/// The `type` of a problem response (after checking 429 and content type).
pub async fn problem_type(r: reqwest::Response) -> String {
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    let v: Value = r.json().await.expect("problem json");
    v["type"].as_str().unwrap_or("").to_owned()
}

/// The value of one sample line `name{labels} value` (labels exactly as
/// rendered, or empty), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// A private `redis-server` on a free loopback port (killed on drop).
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a: SocketAddr| a.port())
        .expect("free port")
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = PrivateRedis {
            port: free_port(),
            child: None,
            dir,
        };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it accepts.
    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Strict check of the Prometheus text format 0.0.4: every line is a
/// `# HELP`, a `# TYPE` (known type, before the family's samples) or a
/// sample `name{label="value",…} number`; names and label names are valid.
/// Returns the family names.
pub fn check_exposition(text: &str) -> Vec<String> {
    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut families = Vec::new();
    let mut typed: std::collections::HashMap<String, String> = Default::default();
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in exposition");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(valid_name(name), "bad HELP name in {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap_or("");
            let ty = it.next().unwrap_or("");
            assert!(valid_name(name), "bad TYPE name in {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty),
                "bad type in {line}"
            );
            assert!(it.next().is_none(), "{line}");
            typed.insert(name.to_owned(), ty.to_owned());
            families.push(name.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line}"
        );
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, Some(l.strip_suffix('}').expect("closing brace"))),
            None => (series, None),
        };
        assert!(valid_name(name), "bad metric name in {line}");
        let family = [
            name,
            name.trim_end_matches("_bucket"),
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|n| typed.contains_key(*n));
        assert!(family.is_some(), "sample before its TYPE: {line}");
        if let Some(labels) = labels {
            // label="value" pairs; values escape \ " and newline.
            let mut rest = labels;
            while !rest.is_empty() {
                let (lname, after) = rest.split_once("=\"").expect("label=\"value\"");
                assert!(
                    valid_name(lname) && !lname.contains(':'),
                    "bad label {lname} in {line}"
                );
                let mut end = None;
                let mut escaped = false;
                for (i, c) in after.char_indices() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.expect("closing quote");
                rest = &after[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
    }
    families
}
