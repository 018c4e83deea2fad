//! `zenalyze tenants …` and `zenalyze api-keys …` against SQLite (data
//! directory) and PostgreSQL (a fresh database).

use std::process::Command;

use serde_json::Value;
use sqlx::Connection;
use zenalyze_store::{KeyHash, StoreOptions};

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");

fn run(db: &[String], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .args(db)
        .env_remove("ZENALYZE_DATABASE_URL")
        .output()
        .expect("run zenalyze");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_json(db: &[String], args: &[&str]) -> Value {
    let (ok, out, err) = run(db, args);
    assert!(ok, "{args:?} failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("not JSON: {out}"))
}

async fn scenario(db: Vec<String>, store_url: String) {
    let created = ok_json(
        &db,
        &[
            "tenants",
            "create",
            "--name",
            "Acme Clinic",
            "--tier",
            "pro",
            "--json",
        ],
    );
    let tenant = created["tenant_id"].as_str().expect("id").to_owned();
    let secret = created["secret_key"].as_str().expect("sk").to_owned();
    assert!(secret.starts_with("zk_live_"));
    assert!(created["publishable_key"]
        .as_str()
        .expect("pk")
        .starts_with("zk_pub_"));

    let list = ok_json(&db, &["tenants", "list", "--json"]);
    assert!(list
        .as_array()
        .expect("arr")
        .iter()
        .any(|t| t["id"] == tenant.as_str() && t["tier"] == "pro" && t["name"] == "Acme Clinic"));

    let (ok, _, err) = run(&db, &["tenants", "create", "--name", "x", "--tier", "gold"]);
    assert!(!ok && err.contains("--tier"), "{err}");

    let key = ok_json(
        &db,
        &[
            "api-keys",
            "create",
            "--tenant",
            &tenant,
            "--kind",
            "test",
            "--scope",
            "records:read",
            "--json",
        ],
    );
    let key_id = key["id"].as_str().expect("id").to_owned();
    let key_secret = key["secret"].as_str().expect("secret").to_owned();
    assert!(key_secret.starts_with("zk_test_"));
    assert_eq!(key["scopes"], serde_json::json!(["records:read"]));
    let (ok, _, err) = run(
        &db,
        &[
            "api-keys",
            "create",
            "--tenant",
            &tenant,
            "--kind",
            "publishable",
            "--scope",
            "records:write",
        ],
    );
    assert!(!ok && err.contains("publishable"), "{err}");

    let (ok, out, _) = run(&db, &["api-keys", "list", "--tenant", &tenant, "--json"]);
    assert!(ok);
    assert!(
        !out.contains(&secret) && !out.contains(&key_secret),
        "secret listed"
    );
    let keys: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(keys.as_array().map(Vec::len), Some(3));

    let (ok, out, err) = run(&db, &["api-keys", "revoke", &key_id]);
    assert!(ok, "{err}");
    assert!(out.contains(&key_id));
    let keys = ok_json(&db, &["api-keys", "list", "--tenant", &tenant, "--json"]);
    let revoked = keys
        .as_array()
        .expect("arr")
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("listed");
    assert!(revoked["revoked_at"].is_string());
    let (ok, _, err) = run(&db, &["api-keys", "revoke", "key_0123"]);
    assert!(
        !ok && (err.contains("not found") || err.contains("Not found")),
        "{err}"
    );

    // The store holds the hashes of the printed keys, never the secrets,
    // and the CLI's actions are in the audit chain.
    let store = zenalyze_store::open_with(&store_url, &StoreOptions::default())
        .await
        .expect("open");
    let hash = zenalyze_gateway::keys::sha256(secret.as_bytes());
    let found = store
        .find_api_key_by_hash(&KeyHash(hash))
        .await
        .expect("lookup");
    assert_eq!(found.expect("key").tenant_id.as_str(), tenant);
    let events = store.audit_events(0, 1000).await.expect("events");
    assert!(events
        .iter()
        .any(|e| e.actor == "cli" && e.operation == "api_keys.revoke"));
    assert!(store.verify_audit().await.expect("verify").is_intact());
    store.close().await;
}

#[tokio::test]
async fn admin_verbs_on_sqlite() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let (ok, _, err) = run(
        &["--data-dir".to_owned(), dir.display().to_string()],
        &["tenants", "list"],
    );
    assert!(!ok && err.contains("no store"), "{err}");
    let url = zenalyze_store::sqlite_url_for_data_dir(&dir);
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        scenario(
            vec!["--data-dir".to_owned(), dir.display().to_string()],
            url,
        ),
    )
    .await
    .expect("timeout");
}

#[tokio::test]
async fn admin_verbs_on_postgres() {
    let base = std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("zcli_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("PostgreSQL at ZENALYZE_TEST_DATABASE_URL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create");
    let prefix = base
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or(&base)
        .to_owned();
    let url = format!("{prefix}/{name}");
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::spawn(scenario(
            vec!["--database-url".to_owned(), url.clone()],
            url,
        )),
    )
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .ok();
    result.expect("timeout").expect("scenario");
}
