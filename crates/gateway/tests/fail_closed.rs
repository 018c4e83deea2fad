//! Fail closed: when the audit event cannot be written, the request fails
//! with a 503 problem and nothing is stored or returned.

mod common;

use common::{expect_problem, seal, TestServer};
use serde_json::{json, Value};
use sqlx::Connection;

async fn block_audit(s: &TestServer, block: bool) {
    match &s.pg {
        Some(pg) => {
            let mut c = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
            let sql = if block {
                "ALTER TABLE audit_events ADD CONSTRAINT zgw_block_audit CHECK (false) NOT VALID"
            } else {
                "ALTER TABLE audit_events DROP CONSTRAINT zgw_block_audit"
            };
            sqlx::query(sql).execute(&mut c).await.expect("alter");
            c.close().await.ok();
        }
        None => {
            let path = zenalyze_store::sqlite_path_for_data_dir(s.dir.path());
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("connect");
            let sql = if block {
                "CREATE TRIGGER zgw_block_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit blocked'); END"
            } else {
                "DROP TRIGGER zgw_block_audit"
            };
            sqlx::query(sql).execute(&mut c).await.expect("trigger");
            c.close().await.ok();
        }
    }
}

async fn scenario(s: &TestServer) {
    let (_, sk, _) = s.tenant("fail-closed").await;
    let env = seal("f@example.com", "pw", b"kept?");
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": "fc", "envelope": env}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    block_audit(s, true).await;
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": "fc", "envelope": env}))
        .send()
        .await
        .expect("send");
    expect_problem(r, 503, "unavailable").await;
    // Reads are refused too: no data leaves without its audit event.
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 503, "unavailable").await;
    let r = s
        .http
        .delete(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send");
    expect_problem(r, 503, "unavailable").await;
    block_audit(s, false).await;

    // Only the first record exists, and the delete did not happen.
    let list: Value = s
        .http
        .get(s.url("/v1/records?user_id=fc"))
        .bearer_auth(&sk)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = list["records"]
        .as_array()
        .expect("arr")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    assert!(s.store.verify_audit().await.expect("verify").is_intact());
}

both_backends!(audit_unwritable, scenario);
