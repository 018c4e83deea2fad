//! `zenalyze serve` with Redis rate limits (`ZENALYZE_REDIS_URL`): two
//! processes on one fresh PostgreSQL database and one Redis (unique key
//! prefix) enforce one quota; `[limits]` and `[metrics]` come from the
//! config file; SIGTERM flushes the usage counts.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;

use common::serve_process::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");
const TOKEN: &str = "limits-serve-admin-token-0123456789abcdef";

struct Serve {
    process: ServeProcess,
    base: String,
    metrics: String,
}

impl Serve {
    fn start(dir: &std::path::Path, db_url: &str, prefix: &str) -> Serve {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let config = dir.join(format!("gateway-{n}.toml"));
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\n[limits]\nusage_flush_interval_ms = 100\n[limits.redis]\nkey_prefix = \"{prefix}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
            ),
        )
        .expect("config");
        let redis = std::env::var("ZENALYZE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--config"])
            .arg(&config)
            .env("ZENALYZE_DATABASE_URL", db_url)
            .env("ZENALYZE_ADMIN_TOKEN", TOKEN)
            .env("ZENALYZE_REDIS_URL", redis)
            .env_remove("ZENALYZE_LISTEN")
            .env_remove("ZENALYZE_REDIS_KEY_PREFIX")
            .env_remove("ZENALYZE_METRICS_LISTEN")
            .env_remove("ZENALYZE_METRICS_ACCESS")
            .env_remove("ZENALYZE_LIMITS_ENABLED");
        let process = ServeProcess::start(cmd)
            .unwrap_or_else(|(status, err)| panic!("serve exited with {status}; stderr:\n{err}"));
        let metrics = process.metrics.expect("the [metrics] listener started");
        Serve {
            base: process.base.clone(),
            metrics: format!("http://{metrics}/metrics"),
            process,
        }
    }

    fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(s)) = self.process.child.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.process.child.kill();
        false
    }
}

async fn healthy(http: &reqwest::Client, s: &Serve) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/v1/health", s.base)).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "serve did not become healthy; stderr:\n{}",
        s.process.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_one_quota() {
    let base = std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("zlserve_{}", std::process::id());
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
    let result = tokio::time::timeout(Duration::from_secs(120), scenario(&url, &name)).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut c)
        .await;
    result.expect("scenario timed out");
}

async fn scenario(url: &str, prefix: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Serve::start(dir.path(), url, prefix);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    healthy(&http, &a).await;
    // Start the second one after the first applied the migrations.
    let b = Serve::start(dir.path(), url, prefix);
    healthy(&http, &b).await;

    let r = http
        .post(format!("{}/v1/admin/tenants", a.base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": "metered", "tier": "free", "quota_override": 20, "burst_override": 1000}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    let key = v["secret_key"].as_str().expect("sk").to_owned();
    let tenant = v["tenant_id"].as_str().expect("id").to_owned();

    let mut ok = 0;
    let mut refused = 0;
    for i in 0..30 {
        let s = if i % 2 == 0 { &a } else { &b };
        let r = http
            .get(format!("{}/v1/records?user_id=u1", s.base))
            .bearer_auth(&key)
            .send()
            .await
            .expect("send");
        match r.status().as_u16() {
            200 => {
                assert_eq!(
                    r.headers()
                        .get("ratelimit-limit")
                        .and_then(|v| v.to_str().ok()),
                    Some("20")
                );
                ok += 1;
            }
            429 => {
                let v: Value = r.json().await.expect("json");
                assert_eq!(v["type"], "https://zenalyze.dev/problems/quota-exceeded");
                refused += 1;
            }
            s => panic!("status {s}"),
        }
    }
    assert_eq!((ok, refused), (20, 10), "one quota across both processes");

    // The dedicated metrics listener is open; the API one needs the token.
    let text = http
        .get(&a.metrics)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(text.contains(&format!(
        "zenalyze_limiter_refusals_total{{kind=\"quota_exceeded\",tenant_id=\"{tenant}\"}}"
    )));
    assert!(text.contains("zenalyze_limiter_redis_fallback 0"));
    let r = http
        .get(format!("{}/metrics", a.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    // Usage after the flush, from either process.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let u: Value = http
        .get(format!("{}/v1/usage", b.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(u["quota"]["used"], 20);
    assert_eq!(u["quota"]["limit"], 20);
    let days = u["days"].as_array().expect("days");
    assert_eq!(
        days.last().expect("today")["operations"]["records_list"],
        20
    );
    assert!(a.stop());
    assert!(b.stop());
}
