//! `zenalyze serve` with the Key Management Service from `ZENALYZE_KMS_*`:
//! two processes on one fresh PostgreSQL database and one Redis; a keyring
//! created with `zenalyze keyrings create` on the same root key file; a
//! rotation through one process is used by the other at once; a loose root
//! key file and an unknown provider stop startup; without KMS settings the
//! routes are absent.

mod common;

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use sqlx::Connection;

use common::serve_process::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");
const TOKEN: &str = "kms-serve-admin-token-0123456789abcdefghij";

fn serve(db_url: &str, kms: &[(&str, &str)]) -> Result<ServeProcess, (ExitStatus, String)> {
    serve_with(db_url, kms, None)
}

fn serve_with(
    db_url: &str,
    kms: &[(&str, &str)],
    config: Option<&std::path::Path>,
) -> Result<ServeProcess, (ExitStatus, String)> {
    let redis = std::env::var("ZENALYZE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env("ZENALYZE_DATABASE_URL", db_url)
        .env("ZENALYZE_ADMIN_TOKEN", TOKEN)
        .env("ZENALYZE_LISTEN", "127.0.0.1:0")
        .env("ZENALYZE_REDIS_URL", redis)
        .env(
            "ZENALYZE_REDIS_KEY_PREFIX",
            format!("kms-serve-{}", std::process::id()),
        )
        .env_remove("ZENALYZE_KMS_PROVIDER")
        .env_remove("ZENALYZE_KMS_ROOT_KEY_FILE")
        .env_remove("ZENALYZE_CONFIG")
        .env_remove("ZENALYZE_METRICS_LISTEN");
    for (k, v) in kms {
        cmd.env(k, v);
    }
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    ServeProcess::start(cmd)
}

/// Starts a serve process that must come up, and waits for `/v1/health`.
async fn serve_healthy(
    http: &reqwest::Client,
    db_url: &str,
    kms: &[(&str, &str)],
    config: Option<&std::path::Path>,
) -> ServeProcess {
    let s = serve_with(db_url, kms, config)
        .unwrap_or_else(|(status, err)| panic!("serve exited with {status}; stderr:\n{err}"));
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/v1/health", s.base)).send().await {
            if r.status() == 200 {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve did not become healthy; stderr:\n{}", s.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_kms_from_the_environment() {
    let base = std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("zkmsserve_{}", std::process::id());
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
    let prefix_url = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(&base);
    let url = format!("{prefix_url}/{name}");
    let result = tokio::time::timeout(Duration::from_secs(120), scenario(&url)).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut c)
        .await;
    result.expect("scenario timed out");
}

async fn scenario(url: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("root.key");
    {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        o.mode(0o600);
        let mut f = o.open(&key_file).expect("key file");
        f.write_all(&[42u8; 32]).expect("write");
    }
    let key_s = key_file.to_str().expect("utf-8").to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // Without KMS settings: no KMS routes.
    let plain = serve_healthy(&http, url, &[], None).await;
    let r = http
        .post(format!("{}/v1/encrypt", plain.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    drop(plain);

    // Tenant and keyring from the command line, on the same root key.
    let out = Command::new(BIN)
        .args([
            "tenants",
            "create",
            "--name",
            "Clinic",
            "--tier",
            "enterprise",
            "--json",
            "--database-url",
            url,
        ])
        .output()
        .expect("tenants create");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let (tenant, sk) = (
        v["tenant_id"].as_str().unwrap().to_owned(),
        v["secret_key"].as_str().unwrap().to_owned(),
    );
    let out = Command::new(BIN)
        .args([
            "keyrings",
            "create",
            "--tenant",
            &tenant,
            "--name",
            "encrypt-email",
            "--database-url",
            url,
        ])
        .env("ZENALYZE_KMS_ROOT_KEY_FILE", &key_s)
        .output()
        .expect("keyrings create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let env = [("ZENALYZE_KMS_ROOT_KEY_FILE", key_s.as_str())];
    let a = serve_healthy(&http, url, &env, None).await;
    let h: Value = http
        .get(format!("{}/v1/health", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["checks"]["kms"]["status"], "up", "{h}");
    // Instance B takes the same root key from the `[kms]` section of its
    // configuration file instead of the environment.
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("serve.toml");
    std::fs::write(&cfg, format!("[kms]\nroot_key_file = {key_s:?}\n")).unwrap();
    let b = serve_healthy(&http, url, &[], Some(&cfg)).await;
    let encrypt = |s: &ServeProcess| {
        let http = http.clone();
        let url = format!("{}/v1/encrypt", s.base);
        let sk = sk.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(&sk)
                .json(&json!({"keyring": "encrypt-email", "plaintext": base64::engine::general_purpose::STANDARD.encode(b"a@b.c")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v["key_version"].as_u64().unwrap()
        }
    };
    assert_eq!(encrypt(&a).await, 1);
    assert_eq!(encrypt(&b).await, 1);
    let r = http
        .post(format!(
            "{}/v1/admin/tenants/{tenant}/keyrings/encrypt-email/rotate",
            a.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = Instant::now();
    while encrypt(&b).await != 2 {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "B did not switch within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(a);
    drop(b);

    // Refused configurations stop startup.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err((status, stderr)) = serve(url, &env) else {
            panic!("a loose root key must stop startup");
        };
        assert!(!status.success());
        assert!(stderr.contains("root.key"), "{stderr}");
    }
    let Err((status, stderr)) = serve(url, &[("ZENALYZE_KMS_PROVIDER", "vault")]) else {
        panic!("an unknown KMS provider must stop startup");
    };
    assert!(!status.success());
    assert!(stderr.contains("ZENALYZE_KMS_PROVIDER"), "{stderr}");
}
