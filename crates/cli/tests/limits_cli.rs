//! `zenalyze tenants create|update` with quota and burst overrides
//! (SQLite data directory).

use std::process::Command;

use serde_json::Value;

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

#[test]
fn overrides_at_creation_and_update() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = vec![
        "--data-dir".to_owned(),
        tmp.path().join("data").display().to_string(),
    ];
    let created = ok_json(
        &db,
        &[
            "tenants",
            "create",
            "--name",
            "Metered",
            "--tier",
            "free",
            "--quota-override",
            "500",
            "--burst-override",
            "40",
            "--json",
        ],
    );
    let id = created["tenant_id"].as_str().expect("id").to_owned();
    let list = ok_json(&db, &["tenants", "list", "--json"]);
    let t = list
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"] == id.as_str()).cloned())
        .expect("listed");
    assert_eq!(t["quota_override"], 500);
    assert_eq!(t["burst_override"], 40);

    let t = ok_json(
        &db,
        &[
            "tenants",
            "update",
            "--id",
            &id,
            "--tier",
            "pro",
            "--clear-quota-override",
            "--json",
        ],
    );
    assert_eq!(t["tier"], "pro");
    assert_eq!(t["quota_override"], Value::Null);
    assert_eq!(t["burst_override"], 40);

    let (ok, _, err) = run(
        &db,
        &["tenants", "update", "--id", &id, "--burst-override", "0"],
    );
    assert!(!ok && err.contains("burst_override"), "{err}");
    let (ok, _, err) = run(
        &db,
        &[
            "tenants",
            "update",
            "--id",
            "ten_nosuchtenant00000000000",
            "--tier",
            "pro",
        ],
    );
    assert!(!ok, "{err}");
    let (ok, _, _) = run(
        &db,
        &[
            "tenants",
            "create",
            "--name",
            "x",
            "--burst-override",
            "2000000",
        ],
    );
    assert!(!ok);
}
