//! Harness of the AI tests: an in-process `zenalyze dev` equivalent —
//! the gateway on an ephemeral loopback port, SQLite in a temp dir, enclaves
//! on Unix sockets (each in its own runtime so a test can kill one), an
//! optional recording relay between the gateway and the enclaves.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zenalyze_enclave_pool::{EnclavePool, PoolConfig};
use zenalyze_gateway::ai::{Ai, AiSettings};
use zenalyze_gateway::dev::{DevCredentials, DevOptions};
use zenalyze_transport::Address;

/// An enclave running in its own runtime (killing it drops every task and
/// socket of it at once, like a crashed process).
pub struct IsolatedEnclave {
    pub address: Address,
    pub enclave_id: String,
    rt: Option<tokio::runtime::Runtime>,
    _running: Option<zenalyze_enclave::RunningEnclave>,
}

impl IsolatedEnclave {
    pub fn start(data_dir: &Path, socket: PathBuf, id: &str) -> Self {
        Self::start_with(
            data_dir,
            socket,
            id,
            Arc::new(zenalyze_ai_providers::OfflineAnalyzer::new()),
        )
    }

    pub fn start_with(
        data_dir: &Path,
        socket: PathBuf,
        id: &str,
        provider: Arc<dyn zenalyze_ai_providers::Provider>,
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("enclave runtime");
        let enclave = zenalyze_enclave::EnclaveBuilder::new(data_dir, provider)
            .enclave_id(id)
            .build()
            .expect("enclave builds");
        let address = Address::Unix(socket);
        let running = std::thread::scope(|s| {
            s.spawn(|| {
                rt.block_on(enclave.spawn(&address, Duration::from_secs(30)))
                    .expect("enclave listens")
            })
            .join()
            .expect("spawn thread")
        });
        Self {
            address: running.address.clone(),
            enclave_id: id.to_owned(),
            rt: Some(rt),
            _running: Some(running),
        }
    }

    /// Kills the enclave: every task (listener and connections) is dropped.
    pub fn kill(&mut self) {
        if let Some(r) = self._running.take() {
            std::mem::forget(r);
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for IsolatedEnclave {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A recording byte relay between two Unix sockets.
pub struct Relay {
    pub address: Address,
    pub recorded: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(listen: PathBuf, target: PathBuf) -> Relay {
        let _ = std::fs::remove_file(&listen);
        let listener = tokio::net::UnixListener::bind(&listen).expect("relay bind");
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let rec = recorded.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let rec = rec.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::UnixStream::connect(&target).await else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    let a = pipe(ri, wo, rec.clone());
                    let b = pipe(ro, wi, rec);
                    let _ = tokio::join!(a, b);
                });
            }
        });
        Relay {
            address: Address::Unix(listen),
            recorded,
            task,
        }
    }

    pub fn recorded(&self) -> Vec<u8> {
        self.recorded.lock().expect("lock").clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    rec: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                rec.lock().expect("lock").extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The gateway with the AI routes on a pool.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub creds: DevCredentials,
    pub pool: EnclavePool,
    pub ai: Ai,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The enclave data directory inside a test dir.
pub fn enclave_dir(dir: &Path) -> PathBuf {
    dir.join("enclave")
}

impl Gateway {
    /// Bootstraps the dev tenant in `dir` and serves the gateway with a pool
    /// over `endpoints`.
    pub async fn start(
        dir: tempfile::TempDir,
        endpoints: Vec<Address>,
        tune: impl FnOnce(&mut PoolConfig),
    ) -> Gateway {
        Self::start_with(dir, endpoints, tune, AiSettings::default()).await
    }

    /// Like [`Gateway::start`] with AI settings.
    pub async fn start_with(
        dir: tempfile::TempDir,
        endpoints: Vec<Address>,
        tune: impl FnOnce(&mut PoolConfig),
        settings: AiSettings,
    ) -> Gateway {
        let opts = DevOptions {
            data_dir: dir.path().to_owned(),
            ..DevOptions::default()
        };
        let (builder, creds) = zenalyze_gateway::dev::prepare(&opts)
            .await
            .expect("prepare");
        let mut cfg = PoolConfig::new(endpoints);
        tune(&mut cfg);
        let registry = builder.registry().clone();
        let pool = EnclavePool::start(cfg, Some(&registry))
            .await
            .expect("pool");
        let ai = Ai::new(pool.clone(), settings).with_registry(registry);
        let app = builder
            .routes(ai.router())
            .health_check(ai.health_check())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(zenalyze_gateway::server::serve(listener, app, async move {
            let _ = rx.await;
        }));
        Gateway {
            dir,
            base: format!("http://{addr}"),
            creds,
            pool,
            ai,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            stop: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn secret_key(&self) -> &str {
        self.creds.secret_key.expose_secret()
    }

    pub fn publishable_key(&self) -> &str {
        self.creds.publishable_key.expose_secret()
    }

    /// Stores a record for `user` and returns its id.
    pub async fn store_record(&self, user: &str, envelope_b64: &str) -> String {
        let r = self
            .http
            .post(self.url("/v1/records"))
            .bearer_auth(self.secret_key())
            .json(&serde_json::json!({"user_id": user, "envelope": envelope_b64}))
            .send()
            .await
            .expect("store record");
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.expect("json");
        v["id"].as_str().expect("id").to_owned()
    }

    pub async fn shutdown(mut self) {
        self.pool.stop();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
        }
    }
}

/// Every file under `dir`, concatenated.
pub fn read_tree(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                if let Ok(b) = std::fs::read(&p) {
                    out.extend_from_slice(&b);
                }
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
