//! `zenalyze dev` as a process: banner, files and permissions, persistence
//! across restarts, environment overrides, graceful SIGTERM, refusal of a
//! loose root key.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::serve_process::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");

struct Dev {
    child: Child,
    banner: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

fn field(banner: &[String], name: &str) -> String {
    banner
        .iter()
        .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("{name} missing from banner {banner:?}"))
}

impl Dev {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Dev {
        let mut cmd = Command::new(BIN);
        cmd.args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env_remove("ZENALYZE_DEV_API_KEY")
            .env_remove("ZENALYZE_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn zenalyze dev");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let done = line.contains("Press Ctrl-C");
                    banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let err: Vec<String> = erx.try_iter().collect();
                    panic!("no banner; stderr: {err:?}");
                }
            }
        }
        Dev {
            child,
            banner,
            stderr: erx,
        }
    }

    fn addr(&self) -> SocketAddr {
        let api = field(&self.banner, "API:");
        api.trim_start_matches("http://")
            .trim_end_matches("/v1")
            .parse()
            .expect("addr")
    }

    /// SIGTERM, then wait for a clean exit; returns stderr.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status {status}");
                std::thread::sleep(Duration::from_millis(100));
                return self.stderr.try_iter().collect();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("zenalyze dev did not stop after SIGTERM");
    }
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: Bearer {a}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn envelope() -> String {
    let key = zenalyze_crypto::kdf::derive_key_v1("dev@example.com", "pw");
    let env = zenalyze_crypto::envelope::seal_v1(&key, &[7u8; 12], b"DEV-CANARY-PLAINTEXT", None)
        .expect("seal");
    zenalyze_crypto::envelope::encode_base64(&env)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn dev_starts_persists_and_stops_gracefully() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let dev = Dev::start(&dir, &[]);
    let sk = field(&dev.banner, "Secret key:");
    let pk = field(&dev.banner, "Publishable key:");
    let admin = field(&dev.banner, "Admin token:");
    let tenant = field(&dev.banner, "Tenant id:");
    assert!(sk.starts_with("zk_test_") && pk.starts_with("zk_pub_") && tenant.starts_with("ten_"));
    assert!(dev.banner.iter().any(|l| l.contains("/v1/openapi.json")));
    assert!(dev.banner.iter().any(|l| l.contains("/docs")));
    let addr = dev.addr();

    let (status, body) = http(addr, "GET", "/v1/health", None, None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(addr, "GET", "/v1/admin/tenants", Some(&admin), None);
    assert_eq!(status, 200);
    let rec = format!(r#"{{"user_id":"demo","envelope":"{}"}}"#, envelope());
    let (status, body) = http(addr, "POST", "/v1/records", Some(&sk), Some(&rec));
    assert_eq!(status, 201, "{body}");

    for f in ["root.key", "admin.token", "dev.json"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(
        std::fs::metadata(dir.join("root.key")).expect("m").len(),
        32
    );
    let stderr = dev.stop();
    assert!(!stderr.is_empty());
    for line in &stderr {
        assert!(!line.contains(&sk) && !line.contains(&admin) && !line.contains("DEV-CANARY"));
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"));
    }

    // Restart: same credentials, data kept.
    let dev = Dev::start(&dir, &[]);
    assert_eq!(field(&dev.banner, "Secret key:"), sk);
    assert_eq!(field(&dev.banner, "Publishable key:"), pk);
    assert_eq!(field(&dev.banner, "Admin token:"), admin);
    assert_eq!(field(&dev.banner, "Tenant id:"), tenant);
    let (status, body) = http(
        dev.addr(),
        "GET",
        "/v1/records?user_id=demo",
        Some(&sk),
        None,
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"user_id\":\"demo\""), "{body}");
    dev.stop();

    // Fixed keys from the environment.
    let fixed_key = format!("zk_test_{}", "F1xed".repeat(8));
    let fixed_token = "dev-admin-token-0123456789-abcdefghijkl";
    let dev = Dev::start(
        &dir,
        &[
            ("ZENALYZE_DEV_API_KEY", &fixed_key),
            ("ZENALYZE_ADMIN_TOKEN", fixed_token),
        ],
    );
    assert_eq!(field(&dev.banner, "Secret key:"), fixed_key);
    assert_eq!(field(&dev.banner, "Admin token:"), fixed_token);
    let (status, _) = http(
        dev.addr(),
        "GET",
        "/v1/records?user_id=demo",
        Some(&fixed_key),
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = http(
        dev.addr(),
        "GET",
        "/v1/admin/tenants",
        Some(fixed_token),
        None,
    );
    assert_eq!(status, 200);
    dev.stop();
}

#[cfg(unix)]
#[test]
fn dev_refuses_loose_root_key_and_bad_env() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("root.key"), [1u8; 32]).expect("write");
    std::fs::set_permissions(dir.join("root.key"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let out = Command::new(BIN)
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("root.key") && err.contains("chmod 600"),
        "{err}"
    );

    let dir2 = tmp.path().join("data2");
    let out = Command::new(BIN)
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir2)
        .env("ZENALYZE_DEV_API_KEY", "zk_live_tooshort")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ZENALYZE_DEV_API_KEY") && !err.contains("tooshort"),
        "{err}"
    );
}

fn pg_database() -> (String, String, String) {
    use sqlx::Connection;
    let base = std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("zserve_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&base)
            .await
            .expect("PostgreSQL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut c)
            .await
            .expect("drop");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut c)
            .await
            .expect("create");
    });
    let prefix = base
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or(&base)
        .to_owned();
    (base, name.clone(), format!("{prefix}/{name}"))
}

fn drop_pg(base: &str, name: &str) {
    use sqlx::Connection;
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        if let Ok(mut c) = sqlx::PgConnection::connect(base).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut c)
                .await;
        }
    });
}

#[cfg(unix)]
#[test]
fn serve_runs_on_postgres_and_refuses_insecure_config() {
    let token = "serve-admin-token-0123456789abcdefghijkl";
    let check = |env: &[(&str, &str)]| {
        let mut c = Command::new(BIN);
        c.args(["serve", "--check"])
            .env_remove("ZENALYZE_DATABASE_URL")
            .env_remove("ZENALYZE_ADMIN_TOKEN")
            .env_remove("ZENALYZE_CONFIG");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check(&[
        ("ZENALYZE_DATABASE_URL", "postgres://db.example.com/z"),
        ("ZENALYZE_ADMIN_TOKEN", token),
    ]);
    assert!(
        !ok && err.contains("insecure") && err.contains("sslmode"),
        "{err}"
    );
    let (ok, err) = check(&[
        ("ZENALYZE_DATABASE_URL", "postgres://127.0.0.1/z"),
        ("ZENALYZE_ADMIN_TOKEN", "short-token"),
    ]);
    assert!(
        !ok && err.contains("32") && !err.contains("short-token"),
        "{err}"
    );
    let (ok, err) = check(&[("ZENALYZE_ADMIN_TOKEN", token)]);
    assert!(!ok && err.contains("database_url"), "{err}");

    let (base, name, url) = pg_database();
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("gateway.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nrequest_timeout_ms = 5000\n",
    )
    .expect("config");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("ZENALYZE_DATABASE_URL", &url)
        .env("ZENALYZE_ADMIN_TOKEN", token)
        .env_remove("ZENALYZE_LISTEN");
    let mut serve = match ServeProcess::start(cmd) {
        Ok(s) => s,
        Err((status, err)) => {
            drop_pg(&base, &name);
            panic!("serve exited with {status}; stderr:\n{err}");
        }
    };
    let addr = serve.addr;
    let mut healthy = false;
    for _ in 0..300 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let (status, _) = http(addr, "GET", "/v1/health", None, None);
            if status == 200 {
                healthy = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !healthy {
        drop_pg(&base, &name);
        panic!("serve did not become healthy; stderr:\n{}", serve.stderr());
    }
    let (status, body) = http(
        addr,
        "POST",
        "/v1/admin/tenants",
        Some(token),
        Some(r#"{"name":"prod","tier":"starter"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("zk_live_"));
    let sk = body
        .split("\"secret_key\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("secret")
        .to_owned();
    let rec = format!(r#"{{"user_id":"p1","envelope":"{}"}}"#, envelope());
    let (status, _) = http(addr, "POST", "/v1/records", Some(&sk), Some(&rec));
    assert_eq!(status, 201);

    let ok = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(s) = serve.child.try_wait().expect("wait") {
            exited = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop_pg(&base, &name);
    let stderr = serve.final_stderr();
    let status = exited.expect("serve stopped after SIGTERM");
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains(token) && !stderr.contains(&sk) && !stderr.contains(&url));
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
}
