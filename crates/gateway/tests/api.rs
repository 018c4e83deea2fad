//! End-to-end API tests against the real server on both backends.

mod common;

use common::{expect_problem, seal, TestServer};
use serde_json::{json, Value};

const EMAIL: &str = "patient@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Scenario 1: encrypt on the client, store, list, fetch, decrypt; the
/// database holds no trace of the plaintext.
async fn scenario_journal(s: &TestServer) {
    let (_, sk, _) = s.tenant("journal-app").await;
    let canary = "CANARY-journal-7f3a9c-i-felt-anxious-today";
    let entry = json!({"mood": 3, "text": canary});
    let plaintext = serde_json::to_vec(&entry).expect("json");
    let envelope = seal(EMAIL, PASSWORD, &plaintext);

    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": "usr_42", "envelope": envelope, "metadata": {"kind": "journal"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("location").is_some());
    let created: Value = r.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("rec_"));
    assert_eq!(created["user_id"], "usr_42");
    assert_eq!(created["size"].as_u64(), Some(29 + plaintext.len() as u64));
    assert!(created["created_at"].as_str().expect("ts").ends_with('Z'));

    // List.
    let r = s
        .http
        .get(s.url("/v1/records?user_id=usr_42"))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.expect("json");
    let records = list["records"].as_array().expect("array");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], id.as_str());
    assert!(list["next_cursor"].is_null());

    // Fetch and decrypt.
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.expect("json");
    assert_eq!(got["envelope"], envelope.as_str());
    assert_eq!(got["metadata"]["kind"], "journal");
    let key = zenalyze_crypto::kdf::derive_key_v1(EMAIL, PASSWORD);
    let bytes = zenalyze_crypto::envelope::decode_base64(got["envelope"].as_str().expect("s"))
        .expect("b64");
    let opened = zenalyze_crypto::envelope::open_v1(&key, &bytes, None).expect("opens");
    let back: Value = serde_json::from_slice(&opened).expect("json");
    assert_eq!(back, entry);

    // No trace of the plaintext anywhere in the database.
    let db = s.database_bytes().await;
    assert!(!contains(&db, canary.as_bytes()), "plaintext in database");
    assert!(!contains(&db, b"i-felt-anxious"));

    // Delete, then it is gone.
    let r = s
        .http
        .delete(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;
    let r = s
        .http
        .delete(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;

    // Every access was audited, and the chain verifies.
    let report = s.store.verify_audit().await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    let events = s.store.audit_events(0, 1000).await.expect("events");
    let ops: Vec<&str> = events.iter().map(|e| e.operation.as_str()).collect();
    for op in [
        "records.create",
        "records.list",
        "records.get",
        "records.delete",
    ] {
        assert!(ops.contains(&op), "missing audit {op}: {ops:?}");
    }
    assert!(events
        .iter()
        .all(|e| e.request_id.starts_with("req_") || !e.request_id.is_empty()));
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Pagination with cursors, newest first.
async fn scenario_pagination(s: &TestServer) {
    let (_, sk, _) = s.tenant("paging").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let env = seal(EMAIL, PASSWORD, format!("entry {i}").as_bytes());
        let r = s
            .http
            .post(s.url("/v1/records"))
            .bearer_auth(&sk)
            .json(&json!({"user_id": "u1", "envelope": env}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    // Another user's record is not listed for u1.
    let env = seal(EMAIL, PASSWORD, b"other");
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": "u2", "envelope": env}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut url = s.url("/v1/records?user_id=u1&limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let v: Value = s
            .http
            .get(url)
            .bearer_auth(&sk)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        for r in v["records"].as_array().expect("arr") {
            seen.push(r["id"].as_str().expect("id").to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    for bad in [
        "limit=0",
        "limit=100000",
        "cursor=%21%21",
        "bogus=1",
        "limit=abc",
    ] {
        let r = s
            .http
            .get(s.url(&format!("/v1/records?user_id=u1&{bad}")))
            .bearer_auth(&sk)
            .send()
            .await
            .expect("send");
        expect_problem(r, 400, "invalid-parameter").await;
    }
}

/// Tenant B cannot see, list, delete or revoke anything of tenant A.
async fn scenario_isolation(s: &TestServer) {
    let (tenant_a, sk_a, _) = s.tenant("tenant-a").await;
    let (_, sk_b, _) = s.tenant("tenant-b").await;
    let env = seal(EMAIL, PASSWORD, b"A's secret");
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk_a)
        .json(&json!({"user_id": "shared-user", "envelope": env}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // GET by id: exactly like a nonexistent id.
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk_b)
        .send()
        .await
        .expect("send");
    let other = expect_problem(r, 404, "not-found").await;
    let r = s
        .http
        .get(s.url("/v1/records/rec_00000000000000000000000000000000"))
        .bearer_auth(&sk_b)
        .send()
        .await
        .expect("send");
    let missing = expect_problem(r, 404, "not-found").await;
    assert_eq!(other["detail"], missing["detail"]);
    assert_eq!(other["title"], missing["title"]);

    // List with the same user id: empty for B.
    let v: Value = s
        .http
        .get(s.url("/v1/records?user_id=shared-user"))
        .bearer_auth(&sk_b)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["records"].as_array().map(Vec::len), Some(0));

    // DELETE: 404, and A still has it.
    let r = s
        .http
        .delete(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk_b)
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk_a)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    // Tenant keys cannot use the admin API (on A's resources or at all).
    for (method, path) in [
        ("GET", "/v1/admin/tenants".to_owned()),
        ("GET", format!("/v1/admin/tenants/{tenant_a}/api-keys")),
        ("POST", format!("/v1/admin/tenants/{tenant_a}/api-keys")),
    ] {
        let req = match method {
            "GET" => s.http.get(s.url(&path)),
            _ => s.http.post(s.url(&path)).json(&json!({"kind": "live"})),
        };
        let r = req.bearer_auth(&sk_b).send().await.expect("send");
        expect_problem(r, 401, "unauthorized").await;
    }
    let keys: Value = s
        .http
        .get(s.url(&format!("/v1/admin/tenants/{tenant_a}/api-keys")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let key_a = keys["api_keys"][0]["id"].as_str().expect("id").to_owned();
    let r = s
        .http
        .delete(s.url(&format!("/v1/admin/api-keys/{key_a}")))
        .bearer_auth(&sk_b)
        .send()
        .await
        .expect("send");
    expect_problem(r, 401, "unauthorized").await;
    // A's key still works.
    let r = s
        .http
        .get(s.url("/v1/records?user_id=shared-user"))
        .bearer_auth(&sk_a)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["records"].as_array().map(Vec::len), Some(1));
}

/// Admin API: create tenants and keys, list without secrets, revoke.
async fn scenario_admin(s: &TestServer) {
    // Auth.
    let r = s
        .http
        .get(s.url("/v1/admin/tenants"))
        .send()
        .await
        .expect("send");
    expect_problem(r, 401, "unauthorized").await;
    let r = s
        .http
        .get(s.url("/v1/admin/tenants"))
        .bearer_auth("zat_wrong-token-0123456789abcdef0123456789")
        .send()
        .await
        .expect("send");
    expect_problem(r, 401, "unauthorized").await;

    let (tenant, sk, pk) = s.tenant("clinic").await;
    assert!(tenant.starts_with("ten_"));
    assert!(sk.starts_with("zk_live_") && sk.len() >= 8 + 43);
    assert!(pk.starts_with("zk_pub_"));

    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .json(&json!({"name": "x", "tier": "platinum"}))
        .send()
        .await
        .expect("send");
    expect_problem(r, 422, "validation-failed").await;
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .json(&json!({"name": "x", "tier": "pro", "extra": 1}))
        .send()
        .await
        .expect("send");
    expect_problem(r, 422, "invalid-body").await;

    let list: Value = s
        .http
        .get(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(list["tenants"]
        .as_array()
        .expect("arr")
        .iter()
        .any(|t| t["id"] == tenant.as_str() && t["tier"] == "pro" && t["name"] == "clinic"));

    // Listing never shows secrets.
    let r = s
        .http
        .get(s.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("text");
    assert!(!text.contains(&sk) && !text.contains(&pk));
    let keys: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(keys["api_keys"].as_array().map(Vec::len), Some(2));

    // Publishable keys cannot touch records (scope), secret keys can.
    let r = s
        .http
        .get(s.url("/v1/records"))
        .bearer_auth(&pk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 403, "forbidden").await;

    // A read-only key.
    let r = s
        .http
        .post(s.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
        .bearer_auth(&s.admin_token)
        .json(&json!({"kind": "test", "scopes": ["records:read"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let ro: Value = r.json().await.expect("json");
    let ro_secret = ro["secret"].as_str().expect("secret").to_owned();
    assert!(ro_secret.starts_with("zk_test_"));
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&ro_secret)
        .json(&json!({"user_id": "u", "envelope": seal(EMAIL, PASSWORD, b"x")}))
        .send()
        .await
        .expect("send");
    expect_problem(r, 403, "forbidden").await;
    let r = s
        .http
        .get(s.url("/v1/records"))
        .bearer_auth(&ro_secret)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    // Publishable keys cannot get secret scopes; unknown scopes/kinds refused.
    for body in [
        json!({"kind": "publishable", "scopes": ["records:read"]}),
        json!({"kind": "live", "scopes": ["root"]}),
        json!({"kind": "secret"}),
        json!({"kind": "live", "scopes": []}),
    ] {
        let r = s
            .http
            .post(s.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
            .bearer_auth(&s.admin_token)
            .json(&body)
            .send()
            .await
            .expect("send");
        expect_problem(r, 422, "validation-failed").await;
    }
    let r = s
        .http
        .post(s.url("/v1/admin/tenants/ten_0000/api-keys"))
        .bearer_auth(&s.admin_token)
        .json(&json!({"kind": "live"}))
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;

    // Revoke: the key stops working at once; revoking again is fine.
    let ro_id = ro["id"].as_str().expect("id");
    for _ in 0..2 {
        let r = s
            .http
            .delete(s.url(&format!("/v1/admin/api-keys/{ro_id}")))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 204);
    }
    let r = s
        .http
        .get(s.url("/v1/records"))
        .bearer_auth(&ro_secret)
        .send()
        .await
        .expect("send");
    expect_problem(r, 401, "unauthorized").await;
    let r = s
        .http
        .delete(s.url("/v1/admin/api-keys/key_ffff"))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;
    let keys: Value = s
        .http
        .get(s.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let revoked = keys["api_keys"]
        .as_array()
        .expect("arr")
        .iter()
        .find(|k| k["id"] == ro_id)
        .expect("listed");
    assert!(revoked["revoked_at"].is_string());
}

/// Idempotency: replay, mismatch, concurrent duplicates.
async fn scenario_idempotency(s: &TestServer) {
    let (_, sk, _) = s.tenant("idem").await;
    let body = json!({"user_id": "u", "envelope": seal(EMAIL, PASSWORD, b"once")});
    let post = |key: &str, body: &Value| {
        s.http
            .post(s.url("/v1/records"))
            .bearer_auth(&sk)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let r1 = post("idem-1", &body).await.expect("send");
    assert_eq!(r1.status(), 201);
    let v1: Value = r1.json().await.expect("json");
    let r2 = post("idem-1", &body).await.expect("send");
    assert_eq!(r2.status(), 201);
    assert_eq!(
        r2.headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let v2: Value = r2.json().await.expect("json");
    assert_eq!(v1, v2);
    let other = json!({"user_id": "u", "envelope": seal(EMAIL, PASSWORD, b"twice")});
    let r3 = post("idem-1", &other).await.expect("send");
    expect_problem(r3, 422, "idempotency-key-reused").await;
    let r4 = post("bad key with spaces", &body).await.expect("send");
    expect_problem(r4, 400, "invalid-idempotency-key").await;

    // Concurrent duplicates: exactly one record is created.
    let body = json!({"user_id": "conc", "envelope": seal(EMAIL, PASSWORD, b"race")});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let http = s.http.clone();
        let url = s.url("/v1/records");
        let sk = sk.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(sk)
                .header("Idempotency-Key", "race-1")
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("json");
            (status, v)
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, v) = t.await.expect("join");
        match status {
            201 => {
                ids.insert(v["id"].as_str().expect("id").to_owned());
            }
            409 => assert_eq!(
                v["type"],
                "https://zenalyze.dev/problems/idempotency-in-progress"
            ),
            other => panic!("unexpected status {other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let list: Value = s
        .http
        .get(s.url("/v1/records?user_id=conc"))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["records"].as_array().map(Vec::len), Some(1));
}

/// Bad input of every kind is a 4xx problem, never a 5xx.
async fn scenario_bad_input(s: &TestServer) {
    let (_, sk, _) = s.tenant("bad-input").await;
    let raw = |body: &'static str| {
        s.http
            .post(s.url("/v1/records"))
            .bearer_auth(&sk)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect_problem(raw("{").await.expect("send"), 400, "malformed-json").await;
    expect_problem(raw("").await.expect("send"), 400, "malformed-json").await;
    expect_problem(
        raw(r#"{"user_id": 5, "envelope": "AQ=="}"#)
            .await
            .expect("send"),
        422,
        "invalid-body",
    )
    .await;
    expect_problem(
        raw(r#"{"user_id": "u"}"#).await.expect("send"),
        422,
        "invalid-body",
    )
    .await;
    let p = expect_problem(
        raw(r#"{"user_id": "u", "envelope": "AQ==", "secret_field_xyz": 1}"#)
            .await
            .expect("send"),
        422,
        "invalid-body",
    )
    .await;
    assert!(!p.to_string().contains("secret_field_xyz"), "echoed: {p}");
    expect_problem(
        raw(r#"{"user_id": "u", "envelope": "AQ==", "metadata": {"k": 1}}"#)
            .await
            .expect("send"),
        422,
        "invalid-body",
    )
    .await;

    // Not JSON content type.
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    expect_problem(r, 415, "unsupported-media-type").await;

    // Envelopes: invalid base64, truncated, wrong version.
    let full = seal(EMAIL, PASSWORD, b"hello");
    let bytes = zenalyze_crypto::envelope::decode_base64(&full).expect("b64");
    let truncated = zenalyze_crypto::envelope::encode_base64(&bytes[..20]);
    let mut v2 = bytes.clone();
    v2[0] = 2;
    let wrong_version = zenalyze_crypto::envelope::encode_base64(&v2);
    for (env, code) in [
        ("not base64 !!!".to_owned(), "invalid_base64"),
        (full.trim_end_matches('=').to_owned(), "invalid_base64"),
        (truncated, "too_short"),
        (wrong_version, "unsupported_version"),
        (String::new(), "too_short"),
    ] {
        let r = s
            .http
            .post(s.url("/v1/records"))
            .bearer_auth(&sk)
            .json(&json!({"user_id": "u", "envelope": env}))
            .send()
            .await
            .expect("send");
        let p = expect_problem(r, 422, "invalid-envelope").await;
        assert_eq!(p["code"], code);
        if !env.is_empty() {
            assert!(!p.to_string().contains(&env));
        }
    }

    // user_id and metadata validation.
    for body in [
        json!({"user_id": "", "envelope": full}),
        json!({"user_id": "alice@example.com", "envelope": full}),
        json!({"user_id": "x".repeat(300), "envelope": full}),
        json!({"user_id": "u", "envelope": full, "metadata": {"bad key": "v"}}),
        json!({"user_id": "u", "envelope": full, "metadata": {"k": "v".repeat(600)}}),
        json!({"user_id": "u", "envelope": full, "metadata": (0..40).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_,_>>()}),
    ] {
        let r = s
            .http
            .post(s.url("/v1/records"))
            .bearer_auth(&sk)
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = expect_problem(r, 422, "validation-failed").await;
        assert!(!p.to_string().contains("alice@example.com"));
    }

    // Huge bodies.
    let huge = format!(
        r#"{{"user_id":"u","envelope":"{}"}}"#,
        "A".repeat(s_limits_records_body() + 16)
    );
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    expect_problem(r, 413, "payload-too-large").await;
    let big_admin = format!(
        r#"{{"name":"{}","tier":"pro"}}"#,
        "n".repeat(2 * 1024 * 1024)
    );
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .header("content-type", "application/json")
        .body(big_admin)
        .send()
        .await
        .expect("send");
    expect_problem(r, 413, "payload-too-large").await;

    // Auth failures.
    let r = s.http.get(s.url("/v1/records")).send().await.expect("send");
    let p = expect_problem(r, 401, "unauthorized").await;
    assert!(p["request_id"].is_string());
    for bad in [
        "Bearer zk_live_doesnotexist0000000000000000000000000000",
        "Bearer zk_live_short",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "zk_live_0000000000000000000000000000000000000000000",
    ] {
        let r = s
            .http
            .get(s.url("/v1/records"))
            .header("authorization", bad)
            .send()
            .await
            .expect("send");
        let r_www = r.headers().get("www-authenticate").is_some();
        assert!(r_www);
        expect_problem(r, 401, "unauthorized").await;
    }
    // A key with the wrong prefix but the right body is refused.
    let swapped = sk.replacen("zk_live_", "zk_test_", 1);
    let r = s
        .http
        .get(s.url("/v1/records"))
        .bearer_auth(&swapped)
        .send()
        .await
        .expect("send");
    expect_problem(r, 401, "unauthorized").await;

    // Unknown route, wrong method, invalid ids.
    let r = s.http.get(s.url("/v2/records")).send().await.expect("send");
    expect_problem(r, 404, "not-found").await;
    let r = s
        .http
        .put(s.url("/v1/records"))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 405, "method-not-allowed").await;
    let r = s
        .http
        .get(s.url("/v1/records/not-an-id"))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 404, "not-found").await;

    // Request ids: accepted and echoed, generated, or refused when invalid.
    let r = s
        .http
        .get(s.url("/v1/health"))
        .header("x-request-id", "client-id_1.2-3")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"client-id_1.2-3"[..])
    );
    let r = s.http.get(s.url("/v1/health")).send().await.expect("send");
    let generated = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("generated")
        .to_owned();
    assert!(generated.starts_with("req_"));
    for bad in ["has space", "a/b", &"x".repeat(129)] {
        let r = s
            .http
            .get(s.url("/v1/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("send");
        let p = expect_problem(r, 400, "invalid-request-id").await;
        assert!(!p.to_string().contains(bad));
    }
}

fn s_limits_records_body() -> usize {
    zenalyze_gateway::config::Limits::default().records_body_bytes()
}

/// OpenAPI, docs page and health.
async fn scenario_docs_health(s: &TestServer) {
    let r = s
        .http
        .get(s.url("/v1/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let spec: Value = r.json().await.expect("json");
    assert!(spec["openapi"].as_str().expect("v").starts_with("3.1"));
    for (path, method) in [
        ("/v1/records", "post"),
        ("/v1/records", "get"),
        ("/v1/records/{id}", "get"),
        ("/v1/records/{id}", "delete"),
        ("/v1/admin/tenants", "post"),
        ("/v1/admin/tenants", "get"),
        ("/v1/admin/tenants/{id}/api-keys", "get"),
        ("/v1/admin/tenants/{id}/api-keys", "post"),
        ("/v1/admin/api-keys/{id}", "delete"),
        ("/v1/health", "get"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert!(spec["components"]["schemas"]["CreateRecordRequest"].is_object());
    assert!(spec["components"]["securitySchemes"]["api_key"].is_object());

    let r = s.http.get(s.url("/docs")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-security-policy").is_some());
    let html = r.text().await.expect("text");
    assert!(html.contains("/v1/openapi.json"));
    assert!(!html.contains("http://") && !html.contains("https://cdn"));

    let r = s.http.get(s.url("/v1/health")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        r.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let h: Value = r.json().await.expect("json");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["ready"], true);
    assert_eq!(h["checks"]["database"]["status"], "up");
    let h: Value = s
        .http
        .get(s.url("/v1/health?probe=live"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(h["status"], "live");
    let r = s
        .http
        .get(s.url("/v1/health?probe=bogus"))
        .send()
        .await
        .expect("send");
    expect_problem(r, 400, "invalid-parameter").await;
}

both_backends!(journal, scenario_journal);
both_backends!(pagination, scenario_pagination);
both_backends!(isolation, scenario_isolation);
both_backends!(admin_api, scenario_admin);
both_backends!(idempotency, scenario_idempotency);
both_backends!(bad_input, scenario_bad_input);
both_backends!(docs_health, scenario_docs_health);

/// A revocation made outside this instance (another instance, the CLI:
/// here straight through the store) applies within the API-key cache TTL;
/// one made through this instance's admin API applies at once (see
/// `scenario_admin`).
#[tokio::test]
async fn revocation_elsewhere_applies_within_the_key_cache_ttl() {
    use std::time::Duration;
    let ttl = Duration::from_millis(400);
    let s = TestServer::start_with(
        common::Db::Sqlite,
        common::Options {
            api_key_cache_ttl: Some(ttl),
            ..Default::default()
        },
    )
    .await;
    let (_, sk, _) = s.tenant("cache").await;
    let list = || {
        s.http
            .get(s.url("/v1/records?user_id=u"))
            .bearer_auth(&sk)
            .send()
    };
    assert_eq!(list().await.expect("send").status(), 200);
    let hash = zenalyze_gateway::keys::ApiKeySecret::parse(&sk)
        .expect("key")
        .hash();
    let key = s
        .store
        .find_api_key_by_hash(&zenalyze_store::KeyHash(hash))
        .await
        .expect("store")
        .expect("found");
    let audit = zenalyze_gateway::auth::audit_draft(
        zenalyze_store::Actor::Admin,
        "api_keys.revoke",
        &zenalyze_gateway::request_id::generate(),
    )
    .expect("draft");
    zenalyze_gateway::admin::revoke_key(&s.store, &key.id, audit)
        .await
        .expect("revoked");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    expect_problem(list().await.expect("send"), 401, "unauthorized").await;
    s.stop().await.expect("stop");
}
