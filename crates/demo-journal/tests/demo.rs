//! The demo journal inside the real `zenalyze dev` app (SQLite store,
//! development enclave, gateway on an ephemeral port): the page, its assets,
//! and the backend routes storing, listing and reading envelopes through
//! the gateway with the server SDK, refusing everything that is not one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use zenalyze_crypto::envelope::{encode_base64, seal_v1};
use zenalyze_crypto::UserKey;
use zenalyze_gateway::dev::{DevOptions, DevSite, DevSiteContext};

struct Dev {
    base: String,
    root_sha256: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What the site hook saw (the test reads the bound address from it).
struct Seen {
    base_url: String,
    root_sha256: String,
}

async fn start_dev(with_demo: bool) -> Dev {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen: Arc<Mutex<Option<Seen>>> = Arc::new(Mutex::new(None));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let ready_tx = Arc::new(Mutex::new(Some(ready_tx)));
    let site = {
        let seen = seen.clone();
        DevSite {
            label: "Demo journal",
            build: Arc::new(move |ctx: &DevSiteContext| {
                *seen.lock().expect("lock") = Some(Seen {
                    base_url: ctx.base_url.clone(),
                    root_sha256: ctx.dev_root_sha256.clone(),
                });
                if let Some(tx) = ready_tx.lock().expect("lock").take() {
                    let _ = tx.send(());
                }
                let router = zenalyze_demo_journal::router(zenalyze_demo_journal::DemoConfig {
                    gateway_url: ctx.gateway_url.clone(),
                    secret_key: ctx.secret_key.clone(),
                    publishable_key: ctx.publishable_key.clone(),
                    attestation_root_sha256: ctx.dev_root_sha256.clone(),
                    attestation_root_certificate_pem: ctx.dev_root_certificate_pem.clone(),
                });
                if with_demo {
                    router
                } else {
                    axum::Router::new()
                }
            }),
        }
    };
    let opts = DevOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        site: Some(site),
        ..DevOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(zenalyze_gateway::dev::run(opts, async move {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(120), ready_rx)
        .await
        .expect("zenalyze dev started within 2 minutes")
        .expect("site hook called");
    let seen = seen.lock().expect("lock").take().expect("context seen");
    Dev {
        base: seen.base_url,
        root_sha256: seen.root_sha256,
        dir,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        stop: Some(stop),
        task,
    }
}

impl Dev {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    async fn post_json(&self, path: &str, body: String) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .expect("stopped in time")
            .expect("task")
            .expect("dev run ok");
    }

    /// Every byte of every file in the data directory.
    fn data_dir_bytes(&self) -> Vec<u8> {
        fn walk(p: &std::path::Path, out: &mut Vec<u8>) {
            for e in std::fs::read_dir(p).expect("read_dir").flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(b) = std::fs::read(&path) {
                    out.extend_from_slice(&b);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn user(n: u8) -> String {
    format!("u_{}", format!("{n:02x}").repeat(16))
}

fn envelope(key: &UserKey, n: u8, text: &str, user_id: &str) -> String {
    let aad = format!("demo-journal:{user_id}");
    let sealed = seal_v1(key, &[n; 12], text.as_bytes(), Some(aad.as_bytes())).expect("seal");
    encode_base64(&sealed)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_assets_and_config() {
    let dev = start_dev(true).await;

    let res = dev.get("/").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&res, "content-security-policy"),
        zenalyze_demo_journal::CONTENT_SECURITY_POLICY
    );
    assert!(header(&res, "content-security-policy").starts_with("default-src 'self'"));
    assert_eq!(header(&res, "cache-control"), "no-cache");
    // The gateway's middleware stack covers the page too.
    assert!(!header(&res, "x-request-id").is_empty());
    let html = res.text().await.expect("body");
    assert!(html.contains("data-testid=\"sign-in-form\""));
    assert!(html.contains("/demo/assets/app.js"));

    for (path, media) in [
        ("/demo/assets/app.js", "text/javascript; charset=utf-8"),
        ("/demo/assets/style.css", "text/css; charset=utf-8"),
        ("/demo/assets/favicon.svg", "image/svg+xml"),
        (
            "/demo/assets/sdk/index.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/assets/sdk/ai/index.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/assets/sdk/ai/client.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let res = dev.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "content-type"), media, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        assert!(!res.text().await.expect("body").is_empty(), "{path}");
    }
    let js = dev
        .get("/demo/assets/sdk/ai/index.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(js.contains("ZenalyzeAI"));
    for path in [
        "/demo/assets/nope.js",
        "/demo/assets/sdk/index.js.map",
        "/demo/assets/../Cargo.toml",
    ] {
        let res = dev.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(header(&res, "content-type"), "application/problem+json");
    }

    let res = dev.get("/demo/api/config").await;
    assert_eq!(res.status(), 200);
    let cfg: Value = res.json().await.expect("json");
    assert!(cfg["publishable_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("zk_pub_")));
    assert_eq!(
        cfg["attestation_policy"]["trustedRootSha256"].as_str(),
        Some(dev.root_sha256.as_str())
    );
    assert_eq!(dev.root_sha256.len(), 64);
    assert_eq!(cfg["attestation_policy"]["allowDebug"], Value::Bool(true));
    assert_eq!(
        cfg["attestation_policy"]["measurements"],
        serde_json::json!([])
    );
    let pem = cfg["development_root_certificate_pem"]
        .as_str()
        .expect("pem");
    assert!(pem.contains("BEGIN CERTIFICATE"));
    // The root's private key stays in the data directory.
    assert!(!cfg.to_string().contains("PRIVATE KEY"));
    assert!(!cfg.to_string().contains("zk_test_"), "no secret key");

    // The API keeps its own 404 and its OpenAPI document has no demo route.
    let res = dev.get("/v1/nope").await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    let res = dev.get("/nope").await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    let spec = dev
        .get("/v1/openapi.json")
        .await
        .text()
        .await
        .expect("spec");
    assert!(spec.contains("/v1/records") && !spec.contains("/demo/"));
    assert_eq!(dev.get("/v1/health").await.status(), 200);
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_stores_lists_and_reads_envelopes_only() {
    let dev = start_dev(true).await;
    let key = UserKey::from_bytes([7; 32]);
    let alice = user(0xa1);
    let bob = user(0xb2);

    let secret = "my secret diary words";
    let env1 = envelope(&key, 1, secret, &alice);
    let env2 = envelope(&key, 2, "second entry", &alice);
    let mut ids = Vec::new();
    for (env, len) in [(&env1, secret.len()), (&env2, "second entry".len())] {
        let res = dev
            .post_json(
                "/demo/api/entries",
                serde_json::json!({"user_id": alice, "envelope": env}).to_string(),
            )
            .await;
        assert_eq!(res.status(), 201);
        assert_eq!(header(&res, "cache-control"), "no-store");
        let created: Value = res.json().await.expect("json");
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("rec_"));
        assert_eq!(created["size"].as_u64(), Some(29 + len as u64));
        let prefix = created["received_prefix"].as_str().expect("prefix");
        assert!(prefix.starts_with(&env[..zenalyze_demo_journal::RECEIVED_PREFIX_CHARS]));
        ids.push(id);
    }

    // Listed newest first, exactly as stored.
    let res = dev.get(&format!("/demo/api/entries?user_id={alice}")).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.expect("json");
    let entries = list["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["id"].as_str(), Some(ids[1].as_str()));
    assert_eq!(entries[0]["envelope"].as_str(), Some(env2.as_str()));
    assert_eq!(entries[1]["envelope"].as_str(), Some(env1.as_str()));
    assert_eq!(list["more"], Value::Bool(false));

    // Read one back; it opens with the key and the user's context.
    let res = dev
        .get(&format!("/demo/api/entries/{}?user_id={alice}", ids[0]))
        .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.expect("json");
    assert_eq!(got["envelope"].as_str(), Some(env1.as_str()));
    let bytes = zenalyze_crypto::envelope::decode_base64(got["envelope"].as_str().expect("env"))
        .expect("envelope");
    let aad = format!("demo-journal:{alice}");
    let opened =
        zenalyze_crypto::envelope::open_v1(&key, &bytes, Some(aad.as_bytes())).expect("opens");
    assert_eq!(&opened[..], secret.as_bytes());

    // Another user sees nothing of Alice's.
    let list: Value = dev
        .get(&format!("/demo/api/entries?user_id={bob}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["entries"].as_array().map(Vec::len), Some(0));
    let res = dev
        .get(&format!("/demo/api/entries/{}?user_id={bob}", ids[0]))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    let res = dev
        .get(&format!(
            "/demo/api/entries/rec_doesnotexist?user_id={alice}"
        ))
        .await;
    assert_eq!(res.status(), 404);

    // Refusals: plaintext, other shapes, other media types, bad ids.
    let canary = "plaintext canary 4f1d";
    let v2 = encode_base64(&[2u8; 40]);
    let cases: Vec<(String, &str, u16, &str)> = vec![
        (
            serde_json::json!({"user_id": alice, "envelope": canary}).to_string(),
            "application/json",
            422,
            "invalid-envelope",
        ),
        (
            serde_json::json!({"user_id": alice, "text": canary}).to_string(),
            "application/json",
            422,
            "invalid-body",
        ),
        (
            serde_json::json!({"user_id": alice, "envelope": env1, "text": canary}).to_string(),
            "application/json",
            422,
            "invalid-body",
        ),
        (
            serde_json::json!({"user_id": alice, "envelope": v2}).to_string(),
            "application/json",
            422,
            "invalid-envelope",
        ),
        (
            serde_json::json!({"user_id": "alice@example.com", "envelope": env1}).to_string(),
            "application/json",
            422,
            "validation-failed",
        ),
        (
            canary.to_owned(),
            "text/plain",
            415,
            "unsupported-media-type",
        ),
        (
            format!("{{\"{canary}"),
            "application/json",
            400,
            "malformed-json",
        ),
    ];
    for (body, media, status, slug) in cases {
        let res = dev
            .http
            .post(format!("{}/demo/api/entries", dev.base))
            .header("content-type", media)
            .body(body.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(res.status().as_u16(), status, "{body}");
        assert_eq!(header(&res, "content-type"), "application/problem+json");
        let p: Value = res.json().await.expect("problem");
        assert_eq!(
            p["type"].as_str(),
            Some(format!("https://zenalyze.dev/problems/{slug}").as_str()),
            "{body}"
        );
        assert!(!p.to_string().contains(canary), "no echo of submitted data");
    }
    for q in [
        "/demo/api/entries",
        "/demo/api/entries?user_id=alice%40example.com",
        "/demo/api/entries?user_id=u_ABC",
    ] {
        assert_eq!(dev.get(q).await.status(), 422, "{q}");
    }
    let res = dev
        .get(&format!("/demo/api/entries/rec%20x?user_id={alice}"))
        .await;
    assert_eq!(res.status(), 400);

    // Nothing more was stored, and no plaintext reached the data directory.
    let list: Value = dev
        .get(&format!("/demo/api/entries?user_id={alice}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["entries"].as_array().map(Vec::len), Some(2));
    let data = dev.data_dir_bytes();
    assert!(!data.is_empty());
    assert!(
        contains(&data, ids[0].as_bytes()),
        "the scan sees the store"
    );
    assert!(!contains(&data, canary.as_bytes()));
    assert!(!contains(&data, secret.as_bytes()));
    dev.stop().await;
}

/// Without a site (as in production, which never adds one) `/` is the API's
/// 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_site_no_page() {
    let dev = start_dev(false).await;
    for path in ["/", "/demo/api/config", "/demo/assets/app.js"] {
        let res = dev.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(header(&res, "content-type"), "application/problem+json");
    }
    assert!(DevOptions::default().site.is_none());
    dev.stop().await;
}
