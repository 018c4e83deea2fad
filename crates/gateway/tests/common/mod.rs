//! Test harness: the real gateway on an ephemeral loopback port, on SQLite
//! (temp dir) or PostgreSQL (a fresh database per test, dropped at the end).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use zenalyze_gateway::config::{HttpSettings, Limits};
use zenalyze_gateway::keys::{random_base62, AdminToken};
use zenalyze_gateway::App;
use zenalyze_store::{Store, StoreOptions};

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_base_url() -> String {
    std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn pg_url_for(db: &str) -> String {
    let base = pg_base_url();
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h.to_owned(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let prefix = head.rsplit_once('/').map(|(p, _)| p).unwrap_or(&head);
    format!("{prefix}/{db}{query}")
}

/// A fresh PostgreSQL database, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let name = format!("zgw_{}", random_base62(16).to_ascii_lowercase());
        let mut conn = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(&pg_base_url()),
        )
        .await
        .expect("postgres connect timeout")
        .expect("PostgreSQL must run at ZENALYZE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        PgDb {
            url: pg_url_for(&name),
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

    /// Every row of every table of the database, as text.
    pub async fn dump(&self) -> String {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables");
        let mut out = String::new();
        for (t,) in tables {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT t::text FROM \"{t}\" t"))
                .fetch_all(&mut conn)
                .await
                .expect("rows");
            for (r,) in rows {
                out.push_str(&r);
                out.push('\n');
            }
        }
        conn.close().await.ok();
        out
    }
}

/// A running gateway.
pub struct TestServer {
    pub db: Db,
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDb>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct Options {
    pub limits: Limits,
    pub http: HttpSettings,
    pub extra: Option<utoipa_axum::router::OpenApiRouter<zenalyze_gateway::AppState>>,
    pub api_key_cache_ttl: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            http: HttpSettings {
                request_timeout: Duration::from_secs(10),
                shutdown_grace: Duration::from_secs(5),
                header_read_timeout: Duration::from_millis(500),
            },
            extra: None,
            api_key_cache_ttl: None,
        }
    }
}

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, Options::default()).await
    }

    pub async fn start_with(db: Db, opts: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, pg) = match db {
            Db::Sqlite => (
                zenalyze_store::open_data_dir(dir.path(), &StoreOptions::default())
                    .await
                    .expect("open sqlite"),
                None,
            ),
            Db::Postgres => {
                let pg = PgDb::create().await;
                let store = zenalyze_store::open_with(&pg.url, &StoreOptions::default())
                    .await
                    .expect("open postgres");
                (store, Some(pg))
            }
        };
        let admin = AdminToken::generate();
        let admin_token = admin.expose_secret().to_owned();
        let mut builder = App::builder(store.clone(), admin)
            .limits(opts.limits)
            .http(opts.http);
        if let Some(extra) = opts.extra {
            builder = builder.routes(extra);
        }
        if let Some(ttl) = opts.api_key_cache_ttl {
            builder = builder.api_key_cache_ttl(ttl);
        }
        let app = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(zenalyze_gateway::server::serve(listener, app, async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        TestServer {
            db,
            base: format!("http://{addr}"),
            http,
            admin_token,
            store,
            dir,
            pg,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Graceful stop; returns the server's result.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let r = match self.task.take() {
            Some(t) => tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("server stops in time")
                .expect("server task"),
            None => Ok(()),
        };
        if let Some(pg) = &self.pg {
            pg.drop_db().await;
        }
        r
    }

    /// Graceful stop that hands back the data directory (SQLite).
    pub async fn stop_keep_dir(mut self) -> (std::io::Result<()>, tempfile::TempDir) {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (self.stop().await, dir)
    }

    /// Every byte of the database: the SQLite files, or a text dump of
    /// every PostgreSQL table.
    pub async fn database_bytes(&self) -> Vec<u8> {
        match &self.pg {
            Some(pg) => pg.dump().await.into_bytes(),
            None => {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(self.dir.path()).expect("read dir") {
                    let p: PathBuf = entry.expect("entry").path();
                    if p.is_file() {
                        out.extend(std::fs::read(&p).expect("read db file"));
                    }
                }
                out
            }
        }
    }

    /// Creates a tenant through the admin API; returns (tenant id, secret
    /// key, publishable key).
    pub async fn tenant(&self, name: &str) -> (String, String, String) {
        let r = self
            .http
            .post(self.url("/v1/admin/tenants"))
            .bearer_auth(&self.admin_token)
            .json(&serde_json::json!({"name": name, "tier": "pro"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        (
            v["tenant_id"].as_str().expect("id").to_owned(),
            v["secret_key"].as_str().expect("sk").to_owned(),
            v["publishable_key"].as_str().expect("pk").to_owned(),
        )
    }
}

/// Asserts a problem+json response with the given status and type slug;
/// returns the document.
pub async fn expect_problem(r: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for expected {slug}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    assert!(r.headers().get("x-request-id").is_some());
    let v: Value = r.json().await.expect("problem json");
    assert_eq!(
        v["type"].as_str().unwrap_or(""),
        format!("https://zenalyze.dev/problems/{slug}"),
        "{v}"
    );
    assert_eq!(v["status"].as_u64(), Some(u64::from(status)));
    assert!(v["title"].is_string());
    v
}

/// A v1 envelope sealing `plaintext` under the key of (email, password)
/// with a random IV.
pub fn seal(email: &str, password: &str, plaintext: &[u8]) -> String {
    let key = zenalyze_crypto::kdf::derive_key_v1(email, password);
    let iv: [u8; 12] = zenalyze_gateway::keys::random_bytes();
    let env = zenalyze_crypto::envelope::seal_v1(&key, &iv, plaintext, None).expect("seal");
    zenalyze_crypto::envelope::encode_base64(&env)
}

/// Runs the same scenario against both backends.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $scenario:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = common::TestServer::start(common::Db::Sqlite).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), $scenario(&s))
                    .await
                    .expect("scenario timed out");
                s.stop().await.expect("clean stop");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = common::TestServer::start(common::Db::Postgres).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), $scenario(&s))
                    .await
                    .expect("scenario timed out");
                s.stop().await.expect("clean stop");
            }
        }
    };
}
