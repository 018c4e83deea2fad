//! Key Management Service through the real gateway: keyring lifecycle and
//! rotation, cross-tenant/keyring/context failures, batches, scopes,
//! blind indexes, audit, OpenAPI, and cross-instance invalidation over
//! Redis with two gateways on one PostgreSQL database.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use zenalyze_gateway::keys::AdminToken;
use zenalyze_gateway::App;
use zenalyze_kms::format::SecretKey;
use zenalyze_kms::{Kms, LocalRootKey};
use zenalyze_store::{Store, StoreOptions};

use common::{expect_problem, Db, PgDb};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

struct Gw {
    base: String,
    http: reqwest::Client,
    admin: String,
    store: Arc<dyn Store>,
    kms: Arc<Kms>,
    _dir: tempfile::TempDir,
    pg: Option<PgDb>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn start_on(
    store: Arc<dyn Store>,
    kms: Arc<Kms>,
    dir: tempfile::TempDir,
    pg: Option<PgDb>,
) -> Gw {
    let admin = AdminToken::generate();
    let admin_s = admin.expose_secret().to_owned();
    let app = App::builder(store.clone(), admin)
        .routes(zenalyze_gateway::kms_routes::router(kms.clone()))
        .health_check(Arc::new(zenalyze_gateway::kms_routes::KmsCheck::new(
            kms.clone(),
        )))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(zenalyze_gateway::server::serve(listener, app, async move {
        let _ = rx.await;
    }));
    Gw {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        admin: admin_s,
        store,
        kms,
        _dir: dir,
        pg,
        stop: Some(tx),
        task: Some(task),
    }
}

async fn start(db: Db) -> Gw {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, pg) = match db {
        Db::Sqlite => (
            zenalyze_store::open_data_dir(dir.path(), &StoreOptions::default())
                .await
                .expect("sqlite"),
            None,
        ),
        Db::Postgres => {
            let pg = PgDb::create().await;
            let s = zenalyze_store::open_with(&pg.url, &StoreOptions::default())
                .await
                .expect("postgres");
            (s, Some(pg))
        }
    };
    let root = LocalRootKey::open_or_create(dir.path()).expect("root key");
    let kms = Arc::new(Kms::new(store.clone(), Arc::new(root)));
    start_on(store, kms, dir, pg).await
}

impl Gw {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("stops")
                .expect("task")
                .expect("serve");
        }
        if let Some(pg) = &self.pg {
            pg.drop_db().await;
        }
    }

    async fn tenant(&self, name: &str) -> (String, String) {
        let r = self
            .http
            .post(self.url("/v1/admin/tenants"))
            .bearer_auth(&self.admin)
            .json(&json!({"name": name, "tier": "pro"}))
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

    async fn key(&self, tenant: &str, scopes: &[&str]) -> String {
        let r = self
            .http
            .post(self.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
            .bearer_auth(&self.admin)
            .json(&json!({"kind": "live", "scopes": scopes}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let v: Value = r.json().await.expect("json");
        v["secret"].as_str().expect("secret").to_owned()
    }

    async fn admin_req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.expect("send")
    }

    async fn keyring(&self, tenant: &str, name: &str) {
        let r = self
            .admin_req(
                reqwest::Method::POST,
                &format!("/v1/admin/tenants/{tenant}/keyrings"),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["primary_version"], 1);
        assert_eq!(v["deletion_allowed"], false);
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("send")
    }

    async fn ok(&self, key: &str, path: &str, body: Value) -> Value {
        let r = self.post(key, path, body).await;
        let status = r.status();
        let v: Value = r.json().await.expect("json");
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn encrypt(
        &self,
        key: &str,
        keyring: &str,
        pt: &[u8],
        ctx: Option<&[u8]>,
    ) -> (String, u64) {
        let mut body = json!({"keyring": keyring, "plaintext": b64(pt)});
        if let Some(c) = ctx {
            body["context"] = json!(b64(c));
        }
        let v = self.ok(key, "/v1/encrypt", body).await;
        (
            v["ciphertext"].as_str().expect("ct").to_owned(),
            v["key_version"].as_u64().expect("version"),
        )
    }

    async fn decrypt(
        &self,
        key: &str,
        keyring: &str,
        ct: &str,
        ctx: Option<&[u8]>,
    ) -> reqwest::Response {
        let mut body = json!({"keyring": keyring, "ciphertext": ct});
        if let Some(c) = ctx {
            body["context"] = json!(b64(c));
        }
        self.post(key, "/v1/decrypt", body).await
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let g = super::start(super::Db::Sqlite).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), super::$name(&g))
                    .await
                    .expect("scenario timed out");
                g.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let g = super::start(super::Db::Postgres).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), super::$name(&g))
                    .await
                    .expect("scenario timed out");
                g.stop().await;
            }
        }
    )*};
}

on_both!(
    rotation_lifecycle,
    isolation_failures,
    batches,
    scope_refusals,
    blind_indexes,
    admin_settings
);

const CANARY: &[u8] = b"canary.patient@example.org";

async fn rotation_lifecycle(g: &Gw) {
    let (t, sk) = g.tenant("Clinic").await;
    g.keyring(&t, "encrypt-email").await;
    let (ct1, v1) = g
        .encrypt(&sk, "encrypt-email", CANARY, Some(b"user-1"))
        .await;
    assert_eq!(v1, 1);
    assert!(ct1.starts_with("zen:v1:"));
    let r = g.decrypt(&sk, "encrypt-email", &ct1, Some(b"user-1")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(unb64(v["plaintext"].as_str().unwrap()), CANARY);

    // Rotate through the API (the tenant's secret key has no admin scope
    // by default; the admin route works, and a key with admin too).
    let r = g
        .post(&sk, "/v1/keyrings/encrypt-email/rotate", json!({}))
        .await;
    expect_problem(r, 403, "forbidden").await;
    let admin_key = g
        .key(&t, &["admin", "kms:encrypt", "kms:decrypt", "kms:rewrap"])
        .await;
    let r = g
        .http
        .post(g.url("/v1/keyrings/encrypt-email/rotate"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["primary_version"], 2);

    // New encryptions use v2; v1 still decrypts.
    let (ct2, v2) = g.encrypt(&sk, "encrypt-email", b"new", None).await;
    assert_eq!((v2, &ct2[..7]), (2, "zen:v2:"));
    assert_eq!(
        g.decrypt(&sk, "encrypt-email", &ct1, Some(b"user-1"))
            .await
            .status(),
        200
    );

    // Rewrap v1 -> v2 before the bump (never returns plaintext).
    let v = g
        .ok(
            &sk,
            "/v1/rewrap",
            json!({"keyring": "encrypt-email", "ciphertext": ct1, "context": b64(b"user-1")}),
        )
        .await;
    let rewrapped = v["ciphertext"].as_str().unwrap().to_owned();
    assert!(rewrapped.starts_with("zen:v2:"));
    assert_eq!(v["key_version"], 2);
    assert!(v.get("plaintext").is_none());
    assert!(!v.to_string().contains(&b64(CANARY)));

    // Retire v1.
    let r = g
        .admin_req(
            reqwest::Method::PATCH,
            &format!("/v1/admin/tenants/{t}/keyrings/encrypt-email"),
            Some(json!({"min_decryption_version": 2})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = g.decrypt(&sk, "encrypt-email", &ct1, Some(b"user-1")).await;
    let p = expect_problem(r, 422, "key-version-retired").await;
    assert!(!p.to_string().contains(&ct1[7..20]), "no echo");
    // Rewrap of a retired version fails closed too.
    let r = g
        .post(
            &sk,
            "/v1/rewrap",
            json!({"keyring": "encrypt-email", "ciphertext": ct1, "context": b64(b"user-1")}),
        )
        .await;
    expect_problem(r, 422, "key-version-retired").await;
    // The rewrapped one decrypts.
    let r = g
        .decrypt(&sk, "encrypt-email", &rewrapped, Some(b"user-1"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(unb64(v["plaintext"].as_str().unwrap()), CANARY);

    // Unknown version: a forged v9 fails closed with a clear problem.
    let forged = ct2.replacen("zen:v2:", "zen:v9:", 1);
    expect_problem(
        g.decrypt(&sk, "encrypt-email", &forged, None).await,
        422,
        "unknown-key-version",
    )
    .await;
    // Malformed.
    let p = expect_problem(
        g.decrypt(&sk, "encrypt-email", "zen:v1:%%%", None).await,
        422,
        "invalid-ciphertext",
    )
    .await;
    assert_eq!(p["code"], "invalid_base64");
    expect_problem(
        g.decrypt(&sk, "encrypt-email", "hello", None).await,
        422,
        "invalid-ciphertext",
    )
    .await;

    // Audit: events for every key operation, naming keyring and version,
    // never plaintext; the chain is intact.
    let tid = zenalyze_store::TenantId::parse(&t).unwrap();
    let events = g
        .store
        .audit_events_for_tenant(&tid, 0, 1000)
        .await
        .unwrap();
    let ops: Vec<(&str, Option<&str>, &str)> = events
        .iter()
        .map(|e| {
            (
                e.operation.as_str(),
                e.resource_id.as_deref(),
                e.result.as_str(),
            )
        })
        .collect();
    assert!(
        ops.contains(&("kms.encrypt", Some("encrypt-email:v1"), "success")),
        "{ops:?}"
    );
    assert!(ops.contains(&("kms.keyrings.rotate", Some("encrypt-email:v2"), "success")));
    assert!(ops.contains(&("kms.keyrings.rotate", Some("encrypt-email"), "denied")));
    assert!(ops.contains(&("kms.rewrap", Some("encrypt-email:v1"), "success")));
    assert!(ops.contains(&("kms.decrypt", Some("encrypt-email:v1"), "invalid")));
    assert!(ops.contains(&("kms.decrypt", Some("encrypt-email:v9"), "invalid")));
    assert!(g.store.verify_audit().await.unwrap().is_intact());

    // Neither the plaintext nor its base64 is anywhere in the database.
    let bytes = dump(g).await;
    assert!(!contains(&bytes, CANARY));
    assert!(!contains(&bytes, b64(CANARY).as_bytes()));
}

async fn dump(g: &Gw) -> Vec<u8> {
    match &g.pg {
        Some(pg) => pg.dump().await.into_bytes(),
        None => {
            let mut out = Vec::new();
            for e in std::fs::read_dir(g._dir.path()).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    out.extend(std::fs::read(p).unwrap());
                }
            }
            out
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn isolation_failures(g: &Gw) {
    let (a, ska) = g.tenant("A").await;
    let (b, skb) = g.tenant("B").await;
    for t in [&a, &b] {
        g.keyring(t, "encrypt-email").await;
    }
    g.keyring(&a, "encrypt-username").await;
    let (ct, _) = g
        .encrypt(&ska, "encrypt-email", b"x@y.z", Some(b"ctx"))
        .await;
    // Tenant B, same keyring name: cannot decrypt A's ciphertext.
    expect_problem(
        g.decrypt(&skb, "encrypt-email", &ct, Some(b"ctx")).await,
        422,
        "decryption-failed",
    )
    .await;
    // Another keyring of A.
    expect_problem(
        g.decrypt(&ska, "encrypt-username", &ct, Some(b"ctx")).await,
        422,
        "decryption-failed",
    )
    .await;
    // Another context, no context.
    expect_problem(
        g.decrypt(&ska, "encrypt-email", &ct, Some(b"other")).await,
        422,
        "decryption-failed",
    )
    .await;
    expect_problem(
        g.decrypt(&ska, "encrypt-email", &ct, None).await,
        422,
        "decryption-failed",
    )
    .await;
    // A tampered byte.
    let mut chars: Vec<char> = ct.chars().collect();
    let i = chars.len() - 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    expect_problem(
        g.decrypt(&ska, "encrypt-email", &tampered, Some(b"ctx"))
            .await,
        422,
        "decryption-failed",
    )
    .await;
    // B has no encrypt-username keyring: 404, exactly like a missing one.
    expect_problem(
        g.decrypt(&skb, "encrypt-username", &ct, Some(b"ctx")).await,
        404,
        "not-found",
    )
    .await;
    expect_problem(
        g.post(
            &skb,
            "/v1/encrypt",
            json!({"keyring": "BAD NAME", "plaintext": ""}),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    // The admin API does not show A's keyrings under B.
    let r = g
        .admin_req(
            reqwest::Method::GET,
            &format!("/v1/admin/tenants/{b}/keyrings"),
            None,
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["keyrings"].as_array().unwrap().len(), 1);
    // Schema errors.
    expect_problem(
        g.post(
            &ska,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": "not base64!"}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    expect_problem(
        g.post(
            &ska,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": "", "extra": 1}),
        )
        .await,
        422,
        "invalid-body",
    )
    .await;
    let big = vec![0u8; 64 * 1024 + 1];
    let p = expect_problem(
        g.post(
            &ska,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": b64(&big)}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(p["code"], "too_large");
}

async fn batches(g: &Gw) {
    let (t, sk) = g.tenant("Batch").await;
    g.keyring(&t, "encrypt-email").await;
    let v = g
        .ok(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "batch": [
                {"plaintext": b64(b"one"), "reference": "r1"},
                {"plaintext": "%%%", "reference": "r2"},
                {"plaintext": b64(b"three"), "context": b64(b"c3"), "reference": "r3"},
                {"plaintext": b64(&vec![1u8; 65537]), "reference": "r4"},
                {"plaintext": b64(b"five")},
            ]}),
        )
        .await;
    let items = v["batch"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["reference"], "r1");
    assert!(items[0]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("zen:v1:"));
    assert_eq!(items[1]["reference"], "r2");
    assert_eq!(items[1]["error"]["status"], 422);
    assert_eq!(items[1]["error"]["code"], "invalid_base64");
    assert!(items[1].get("ciphertext").is_none());
    assert_eq!(items[2]["reference"], "r3");
    assert_eq!(items[3]["error"]["code"], "too_large");
    assert!(items[4].get("reference").is_none());
    let c1 = items[0]["ciphertext"].as_str().unwrap();
    let c3 = items[2]["ciphertext"].as_str().unwrap();
    let c5 = items[4]["ciphertext"].as_str().unwrap();

    let v = g
        .ok(
            &sk,
            "/v1/decrypt",
            json!({"keyring": "encrypt-email", "batch": [
                {"ciphertext": c3, "context": b64(b"c3"), "reference": "a"},
                {"ciphertext": c1, "context": b64(b"wrong"), "reference": "b"},
                {"ciphertext": "zen:v1:AAAA", "reference": "c"},
                {"ciphertext": c5},
                {"ciphertext": c1, "reference": "e"},
            ]}),
        )
        .await;
    let items = v["batch"].as_array().unwrap();
    assert_eq!(unb64(items[0]["plaintext"].as_str().unwrap()), b"three");
    assert_eq!(items[0]["reference"], "a");
    assert_eq!(
        items[1]["error"]["type"],
        "https://zenalyze.dev/problems/decryption-failed"
    );
    assert_eq!(items[2]["error"]["code"], "too_short");
    assert_eq!(unb64(items[3]["plaintext"].as_str().unwrap()), b"five");
    assert_eq!(unb64(items[4]["plaintext"].as_str().unwrap()), b"one");
    assert!(items[1]["error"]["title"].is_string());

    let v = g
        .ok(&sk, "/v1/rewrap", json!({"keyring": "encrypt-email", "batch": [{"ciphertext": c1, "reference": "x"}, {"ciphertext": "junk"}]}))
        .await;
    let items = v["batch"].as_array().unwrap();
    assert_eq!(items[0]["key_version"], 1);
    assert!(items[0].get("plaintext").is_none());
    assert_eq!(items[1]["error"]["code"], "malformed");

    // Limits and shape.
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"plaintext": ""})).collect();
    let p = expect_problem(
        g.post(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "batch": too_many}),
        )
        .await,
        413,
        "payload-too-large",
    )
    .await;
    assert_eq!(p["code"], "batch_too_large");
    expect_problem(
        g.post(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "batch": []}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    expect_problem(
        g.post(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": "", "batch": [{"plaintext": ""}]}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    expect_problem(
        g.post(&sk, "/v1/decrypt", json!({"keyring": "encrypt-email"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    // A full batch of 1000 works.
    let full: Vec<Value> = (0..1000)
        .map(|i| json!({"plaintext": b64(format!("u{i}").as_bytes())}))
        .collect();
    let v = g
        .ok(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "batch": full}),
        )
        .await;
    assert_eq!(v["batch"].as_array().unwrap().len(), 1000);
}

async fn scope_refusals(g: &Gw) {
    let (t, _) = g.tenant("Scopes").await;
    g.keyring(&t, "encrypt-email").await;
    g.keyring(&t, "encrypt-username").await;
    let enc = g.key(&t, &["kms:encrypt", "kms:blind-index"]).await;
    let (ct, _) = g.encrypt(&enc, "encrypt-email", b"a@b.c", None).await;
    expect_problem(
        g.decrypt(&enc, "encrypt-email", &ct, None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        g.post(
            &enc,
            "/v1/rewrap",
            json!({"keyring": "encrypt-email", "ciphertext": ct}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    g.ok(
        &enc,
        "/v1/blind-index",
        json!({"keyring": "encrypt-email", "value": b64(b"a@b.c")}),
    )
    .await;
    // Keyring-restricted decrypt.
    let one = g
        .key(
            &t,
            &["kms:decrypt:encrypt-email", "kms:encrypt:encrypt-username"],
        )
        .await;
    assert_eq!(
        g.decrypt(&one, "encrypt-email", &ct, None).await.status(),
        200
    );
    let (ct_u, _) = g.encrypt(&one, "encrypt-username", b"jdoe", None).await;
    expect_problem(
        g.decrypt(&one, "encrypt-username", &ct_u, None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        g.post(
            &one,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": ""}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Records-only key: nothing.
    let rec = g.key(&t, &["records:read"]).await;
    expect_problem(
        g.post(
            &rec,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": ""}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // No key at all.
    let r = g
        .http
        .post(g.url("/v1/encrypt"))
        .json(&json!({"keyring": "encrypt-email", "plaintext": ""}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "unauthorized").await;
    // Publishable keys cannot hold KMS scopes.
    let r = g
        .admin_req(
            reqwest::Method::POST,
            &format!("/v1/admin/tenants/{t}/api-keys"),
            Some(json!({"kind": "publishable", "scopes": ["kms:encrypt"]})),
        )
        .await;
    expect_problem(r, 422, "validation-failed").await;
    // Refusals are audited as denied.
    let tid = zenalyze_store::TenantId::parse(&t).unwrap();
    let events = g
        .store
        .audit_events_for_tenant(&tid, 0, 1000)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.operation == "kms.decrypt"
        && e.result == "denied"
        && e.resource_id.as_deref() == Some("encrypt-email")));
}

async fn blind_indexes(g: &Gw) {
    let (a, ska) = g.tenant("A").await;
    let (b, skb) = g.tenant("B").await;
    for t in [&a, &b] {
        g.keyring(t, "encrypt-email").await;
    }
    g.keyring(&a, "encrypt-username").await;
    let idx = |key: &str, keyring: &str, bits: Option<u16>| {
        let mut body = json!({"keyring": keyring, "value": b64(b"jane@example.org")});
        if let Some(b) = bits {
            body["bits"] = json!(b);
        }
        let key = key.to_owned();
        async move {
            g.ok(&key, "/v1/blind-index", body).await["index"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let x = idx(&ska, "encrypt-email", None).await;
    assert_eq!(x.len(), 32);
    assert!(x
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(x, idx(&ska, "encrypt-email", None).await, "deterministic");
    assert_ne!(
        x,
        idx(&skb, "encrypt-email", None).await,
        "differs across tenants"
    );
    assert_ne!(
        x,
        idx(&ska, "encrypt-username", None).await,
        "differs across keyrings"
    );
    let long = idx(&ska, "encrypt-email", Some(256)).await;
    assert_eq!(long.len(), 64);
    assert!(long.starts_with(&x));
    assert_eq!(idx(&ska, "encrypt-email", Some(32)).await.len(), 8);
    // Stable across rotation (the index key is per keyring, not per version).
    g.admin_req(
        reqwest::Method::POST,
        &format!("/v1/admin/tenants/{a}/keyrings/encrypt-email/rotate"),
        None,
    )
    .await;
    assert_eq!(x, idx(&ska, "encrypt-email", None).await);
    for bits in [0, 24, 33, 264] {
        let p = expect_problem(
            g.post(
                &ska,
                "/v1/blind-index",
                json!({"keyring": "encrypt-email", "value": "", "bits": bits}),
            )
            .await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(p["code"], "invalid_bits");
    }
}

async fn admin_settings(g: &Gw) {
    let (t, sk) = g.tenant("Admin").await;
    let path = format!("/v1/admin/tenants/{t}/keyrings");
    for (body, status) in [
        (json!({"name": "Bad"}), 422),
        (json!({"name": "-x"}), 422),
        (json!({"name": "a".repeat(65)}), 422),
        (
            json!({"name": "ok", "auto_rotate_period_seconds": 3599}),
            422,
        ),
    ] {
        let r = g.admin_req(reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(r.status(), status);
    }
    let r = g
        .admin_req(
            reqwest::Method::POST,
            &path,
            Some(json!({"name": "notes", "auto_rotate_period_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = g
        .admin_req(reqwest::Method::POST, &path, Some(json!({"name": "notes"})))
        .await;
    expect_problem(r, 409, "conflict").await;
    let r = g
        .admin_req(
            reqwest::Method::POST,
            "/v1/admin/tenants/ten_00000000000000000000000000000000/keyrings",
            Some(json!({"name": "x"})),
        )
        .await;
    expect_problem(r, 404, "not-found").await;
    let r = g
        .admin_req(reqwest::Method::GET, &format!("{path}/notes"), None)
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["auto_rotate_period_seconds"], 3600);
    assert!(v["root"].as_str().unwrap().starts_with("local:"));
    assert!(v.get("wrapped").is_none() && !v.to_string().contains("index_key"));
    // Settings.
    let r = g
        .admin_req(
            reqwest::Method::PATCH,
            &format!("{path}/notes"),
            Some(json!({"min_decryption_version": 2})),
        )
        .await;
    let p = expect_problem(r, 409, "conflict").await;
    assert_eq!(p["code"], "min_version_above_primary");
    let r = g
        .admin_req(
            reqwest::Method::PATCH,
            &format!("{path}/notes"),
            Some(json!({"auto_rotate_period_seconds": null})),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert!(v["auto_rotate_period_seconds"].is_null());
    // Deletion refused until allowed; then the keyring is gone.
    let (ct, _) = g.encrypt(&sk, "notes", b"bye", None).await;
    let r = g
        .admin_req(reqwest::Method::DELETE, &format!("{path}/notes"), None)
        .await;
    let p = expect_problem(r, 409, "conflict").await;
    assert_eq!(p["code"], "deletion_not_allowed");
    assert_eq!(g.decrypt(&sk, "notes", &ct, None).await.status(), 200);
    g.admin_req(
        reqwest::Method::PATCH,
        &format!("{path}/notes"),
        Some(json!({"deletion_allowed": true})),
    )
    .await;
    let r = g
        .admin_req(reqwest::Method::DELETE, &format!("{path}/notes"), None)
        .await;
    assert_eq!(r.status(), 204);
    expect_problem(g.decrypt(&sk, "notes", &ct, None).await, 404, "not-found").await;
    let r = g
        .admin_req(reqwest::Method::GET, &format!("{path}/notes"), None)
        .await;
    expect_problem(r, 404, "not-found").await;
    // Admin routes need the admin token.
    let r = g
        .http
        .get(g.url(&path))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "unauthorized").await;

    // Automatic rotation: a due keyring is rotated by one pass, once.
    let r = g
        .admin_req(
            reqwest::Method::POST,
            &path,
            Some(json!({"name": "auto", "auto_rotate_period_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(g.kms.rotate_due(now).await.unwrap(), 0);
    assert_eq!(
        g.kms
            .rotate_due(now + time::Duration::hours(2))
            .await
            .unwrap(),
        1
    );
    let (_, v) = g.encrypt(&sk, "auto", b"x", None).await;
    assert_eq!(v, 2);
    // The new primary is not due again before its own period has passed.
    assert_eq!(
        g.kms
            .rotate_due(now + time::Duration::minutes(30))
            .await
            .unwrap(),
        0
    );
    let tid = zenalyze_store::TenantId::parse(&t).unwrap();
    let events = g
        .store
        .audit_events_for_tenant(&tid, 0, 1000)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.operation == "kms.keyrings.rotate"
        && e.actor == "system"
        && e.resource_id.as_deref() == Some("auto:v2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_kms_routes() {
    let g = start(Db::Sqlite).await;
    let v: Value = g
        .http
        .get(g.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/v1/encrypt",
        "/v1/decrypt",
        "/v1/rewrap",
        "/v1/blind-index",
        "/v1/keyrings/{name}/rotate",
        "/v1/admin/tenants/{id}/keyrings",
        "/v1/admin/tenants/{id}/keyrings/{name}",
        "/v1/admin/tenants/{id}/keyrings/{name}/rotate",
    ] {
        assert!(v["paths"].get(p).is_some(), "missing {p}");
    }
    assert!(v["paths"]["/v1/admin/tenants/{id}/keyrings/{name}"]
        .get("patch")
        .is_some());
    assert!(v["components"]["schemas"].get("EncryptRequest").is_some());
    let h: Value = g
        .http
        .get(g.url("/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["checks"]["kms"]["status"], "up");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_unwritable_fails_closed() {
    let g = start(Db::Sqlite).await;
    let (t, sk) = g.tenant("FC").await;
    g.keyring(&t, "encrypt-email").await;
    let (ct, _) = g.encrypt(&sk, "encrypt-email", b"warm", None).await;
    let url = zenalyze_store::sqlite_url_for_data_dir(g._dir.path());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("CREATE TRIGGER t_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'nope'); END")
        .execute(&mut conn)
        .await
        .unwrap();
    let r = g
        .post(
            &sk,
            "/v1/encrypt",
            json!({"keyring": "encrypt-email", "plaintext": b64(b"x")}),
        )
        .await;
    let p = expect_problem(r, 503, "unavailable").await;
    assert!(p.get("ciphertext").is_none());
    let r = g.decrypt(&sk, "encrypt-email", &ct, None).await;
    let body = r.text().await.unwrap();
    assert!(
        !body.contains(&b64(b"warm")),
        "no plaintext without its audit event"
    );
    sqlx::query("DROP TRIGGER t_fail")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        g.decrypt(&sk, "encrypt-email", &ct, None).await.status(),
        200
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_prepare_creates_keyrings() {
    let dir = tempfile::tempdir().unwrap();
    let opts = zenalyze_gateway::dev::DevOptions {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let (builder, creds) = zenalyze_gateway::dev::prepare(&opts)
        .await
        .expect("prepare");
    let app = builder.build();
    let store = app.state().store().clone();
    let names: Vec<String> = store
        .list_keyrings(&creds.tenant_id)
        .await
        .unwrap()
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(names, vec!["encrypt-email", "encrypt-username"]);
    store.close().await;
    drop(app);
    // A loose root key stops startup.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds.root_key_path, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let e = zenalyze_gateway::dev::prepare(&opts)
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("group or others"), "{e}");
    }
}

// ------------------------------------------------ two instances + Redis --

fn redis_url() -> String {
    std::env::var("ZENALYZE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_reaches_the_other_instance_within_a_second() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let pg = PgDb::create().await;
        let root = SecretKey::new(zenalyze_kms::root::random::<32>().unwrap());
        let client = redis::Client::open(redis_url()).expect("redis url");
        let mut gws = Vec::new();
        for _ in 0..2 {
            let store = zenalyze_store::open_with(&pg.url, &StoreOptions::default())
                .await
                .unwrap();
            let bus = zenalyze_kms::invalidation::RedisBus::connect(&client)
                .await
                .expect("Redis must run at ZENALYZE_TEST_REDIS_URL");
            let kms = Arc::new(
                Kms::new(
                    store.clone(),
                    Arc::new(LocalRootKey::from_key(root.clone())),
                )
                .with_cache_ttl(Duration::from_secs(3600))
                .with_bus(Arc::new(bus)),
            );
            let (_h, ok) =
                zenalyze_kms::invalidation::spawn_listener(client.clone(), kms.cache().clone())
                    .await;
            assert!(ok, "subscribed");
            gws.push(start_on(store, kms, tempfile::tempdir().unwrap(), None).await);
        }
        let (a, b) = (&gws[0], &gws[1]);
        let (t, sk) = a.tenant("Two").await;
        a.keyring(&t, "encrypt-email").await;
        let admin_key = a.key(&t, &["admin", "kms:encrypt", "kms:decrypt"]).await;
        // B caches v1 (TTL one hour).
        let (_, v) = b.encrypt(&sk, "encrypt-email", b"x", None).await;
        assert_eq!(v, 1);
        assert_eq!(b.kms.cache().len(), 1);
        // Rotate through A.
        let r = a
            .http
            .post(a.url("/v1/keyrings/encrypt-email/rotate"))
            .bearer_auth(&admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rotated = Instant::now();
        // Within one second B encrypts with v2.
        loop {
            let (ct, v) = b.encrypt(&sk, "encrypt-email", b"y", None).await;
            if v == 2 {
                assert!(ct.starts_with("zen:v2:"));
                break;
            }
            assert!(
                rotated.elapsed() < Duration::from_secs(1),
                "B still on v{v} after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = rotated.elapsed();
        assert!(took < Duration::from_secs(1), "{took:?}");
        // A's v2 ciphertexts decrypt on B and vice versa.
        let (ct_a, _) = a.encrypt(&admin_key, "encrypt-email", b"z", None).await;
        assert_eq!(
            b.decrypt(&admin_key, "encrypt-email", &ct_a, None)
                .await
                .status(),
            200
        );
        for g in gws {
            g.stop().await;
        }
        pg.drop_db().await;
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_version_from_another_instance_decrypts_without_redis() {
    // Without a bus, a ciphertext naming a version newer than the cached
    // primary triggers one reload instead of failing.
    let pg = PgDb::create().await;
    let root = SecretKey::new([4; 32]);
    let mut gws = Vec::new();
    for _ in 0..2 {
        let store = zenalyze_store::open_with(&pg.url, &StoreOptions::default())
            .await
            .unwrap();
        let kms = Arc::new(Kms::new(
            store.clone(),
            Arc::new(LocalRootKey::from_key(root.clone())),
        ));
        gws.push(start_on(store, kms, tempfile::tempdir().unwrap(), None).await);
    }
    let (a, b) = (&gws[0], &gws[1]);
    let (t, sk) = a.tenant("NoRedis").await;
    a.keyring(&t, "k").await;
    b.encrypt(&sk, "k", b"warm", None).await;
    a.admin_req(
        reqwest::Method::POST,
        &format!("/v1/admin/tenants/{t}/keyrings/k/rotate"),
        None,
    )
    .await;
    let (ct, v) = a.encrypt(&sk, "k", b"new", None).await;
    assert_eq!(v, 2);
    assert_eq!(b.decrypt(&sk, "k", &ct, None).await.status(), 200);
    for g in gws {
        g.stop().await;
    }
    pg.drop_db().await;
}
