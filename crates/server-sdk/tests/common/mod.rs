//! Test helpers: a real `zenalyze dev` on a free loopback port and a
//! fault-injecting TCP proxy.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const DEV_API_KEY: &str = "zk_test_RustSdkTestKey0123456789abcdefABCDEFGHIJ";
pub const ADMIN_TOKEN: &str = "rust-sdk-test-admin-token-0123456789abcdefghij";

pub fn zenalyze_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ZENALYZE_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let p = target.join("debug/zenalyze");
    if p.exists() {
        p
    } else {
        PathBuf::from("/root/.cache/zenalyze-target/debug/zenalyze")
    }
}

pub struct Dev {
    child: Child,
    _dir: tempfile::TempDir,
    pub base_url: String,
    pub port: u16,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `zenalyze dev` on `127.0.0.1:0` and returns once the banner has
/// named the bound address and `/v1/health` answers 200. Binding port 0 in
/// the server itself (rather than probing for a free port first) leaves no
/// window in which another process can take the port. Gives up after 120 s,
/// or at once if the process exits, with its stderr in the message.
pub async fn start_dev() -> Dev {
    let bin = zenalyze_bin();
    assert!(
        bin.exists(),
        "zenalyze binary not found at {} (cargo build -p zenalyze, or set ZENALYZE_BIN)",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&bin)
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("ZENALYZE_DEV_API_KEY", DEV_API_KEY)
        .env("ZENALYZE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ZENALYZE_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zenalyze dev");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        // Keeps draining after start_dev returns, so a late write never
        // meets a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let errors = Arc::new(Mutex::new(String::new()));
    let sink = errors.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
            all.push_str(&line);
            all.push('\n');
        }
    });
    let mut dev = Dev {
        child,
        _dir: dir,
        base_url: String::new(),
        port: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let fail = |dev: &mut Dev, why: &str| -> ! {
        let status = dev.child.try_wait().ok().flatten();
        let _ = dev.child.kill();
        let _ = dev.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        let err = errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
        panic!("zenalyze dev {why} (exit status: {status:?}); stderr:\n{err}");
    };
    while dev.port == 0 {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(api) = line.trim().strip_prefix("API:") {
                    let base = api.trim().trim_end_matches("/v1").to_owned();
                    let port = base
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                        .unwrap_or_else(|| {
                            panic!("cannot read the port from banner line {line:?}")
                        });
                    dev.base_url = base;
                    dev.port = port;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                fail(&mut dev, "closed stdout before printing its address")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() > deadline {
                    fail(&mut dev, "printed no address within 120 s");
                }
            }
        }
    }
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http
            .get(format!("{}/v1/health", dev.base_url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            if r.status() == 200 {
                return dev;
            }
        }
        if let Ok(Some(_)) = dev.child.try_wait() {
            fail(&mut dev, "exited before becoming healthy");
        }
        if Instant::now() > deadline {
            fail(&mut dev, "did not become healthy within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the proxy does with one incoming connection.
#[derive(Clone)]
pub enum Action {
    Forward,
    Drop,
    /// Forward the request, but cut the connection when the answer starts.
    LoseAnswer,
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

pub struct Proxy {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy in front of `target_port`; `plan(i)` decides for connection `i`.
pub async fn proxy<F>(target_port: u16, plan: F) -> Proxy
where
    F: Fn(usize) -> Action + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let i = counter.fetch_add(1, Ordering::SeqCst);
            let action = plan(i);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                match action {
                    Action::Drop => {
                        let _ = client.read(&mut buf).await;
                    }
                    Action::Respond {
                        status,
                        headers,
                        body,
                    } => {
                        let _ = client.read(&mut buf).await;
                        let mut head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        head.push_str(&body);
                        let _ = client.write_all(head.as_bytes()).await;
                        let _ = client.shutdown().await;
                    }
                    Action::Forward => {
                        if let Ok(mut up) = TcpStream::connect(("127.0.0.1", target_port)).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                        }
                    }
                    Action::LoseAnswer => {
                        if let Ok(mut up) = TcpStream::connect(("127.0.0.1", target_port)).await {
                            let (mut cr, _cw) = client.split();
                            let (mut ur, mut uw) = up.split();
                            let forward = tokio::io::copy(&mut cr, &mut uw);
                            let mut one = [0u8; 1];
                            tokio::select! {
                                _ = forward => {}
                                _ = ur.read(&mut one) => {}
                            }
                        }
                    }
                }
            });
        }
    });
    Proxy {
        port,
        connections,
        task,
    }
}

/// Creates a tenant through the admin API; returns its secret key.
pub async fn create_tenant(dev: &Dev, tier: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/admin/tenants", dev.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": format!("rust-sdk-{tier}"), "tier": tier}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.expect("json");
    v["secret_key"].as_str().expect("secret_key").to_owned()
}

/// A v1 envelope of `plaintext` under a random key (standard base64).
pub fn envelope(plaintext: &[u8]) -> String {
    let key = zenalyze_crypto::UserKey::from_bytes(rand::random::<[u8; 32]>());
    let env =
        zenalyze_crypto::envelope::seal_v1(&key, &rand::random::<[u8; 12]>(), plaintext, None)
            .expect("seal");
    zenalyze_crypto::envelope::encode_base64(&env)
}

/// A v1 envelope of `plaintext` under `key` (standard base64).
pub fn envelope_with(key: &[u8; 32], plaintext: &[u8]) -> String {
    let key = zenalyze_crypto::UserKey::from_bytes(*key);
    let env =
        zenalyze_crypto::envelope::seal_v1(&key, &rand::random::<[u8; 12]>(), plaintext, None)
            .expect("seal");
    zenalyze_crypto::envelope::encode_base64(&env)
}
