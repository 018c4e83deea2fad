//! `zenalyze audit verify|export` against a real SQLite store in a tempdir:
//! events are appended through the library, tampered with raw SQL, and the
//! binary is run.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use zenalyze_store::{Actor, AuditDraft, AuditEvent, AuditResult, OpaqueId, Operation};

fn zenalyze(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args(args)
        .env_remove("ZENALYZE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run zenalyze");
    // Never hang: kill after 60 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("zenalyze {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn seed(dir: &Path, n: u32) {
    let store = zenalyze_store::open_data_dir(dir, &Default::default())
        .await
        .expect("open store");
    for i in 0..n {
        let draft = AuditDraft::new(
            Actor::Cli,
            Operation::parse("records.get").unwrap(),
            AuditResult::Success,
            OpaqueId::parse(&format!("req-{i}")).unwrap(),
        );
        store.append_audit(draft).await.expect("append");
    }
    store.close().await;
}

async fn raw(dir: &Path, sql: &str) {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(zenalyze_store::sqlite_path_for_data_dir(dir));
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("connect");
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .expect("raw sql");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn verify_intact_then_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    seed(dir.path(), 6).await;

    let out = zenalyze(&["audit", "verify", "--data-dir", data]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one-line summary: {stdout}");
    assert!(
        stdout.contains("intact") && stdout.contains("6 events"),
        "{stdout}"
    );

    // Edit event 4 behind the store's back.
    raw(
        dir.path(),
        "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET actor = 'admin' WHERE seq = 4;",
    )
    .await;
    let out = zenalyze(&["audit", "verify", "--data-dir", data]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("first bad sequence number 4"), "{stderr}");
}

#[tokio::test]
async fn verify_names_deleted_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    seed(dir.path(), 5).await;
    raw(
        dir.path(),
        "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq = 2;",
    )
    .await;
    let out = zenalyze(&["audit", "verify", "--data-dir", data]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("first bad sequence number 2"), "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
}

#[tokio::test]
async fn verify_accepts_a_database_url() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 2).await;
    let url = format!(
        "sqlite://{}",
        zenalyze_store::sqlite_path_for_data_dir(dir.path()).display()
    );
    let out = zenalyze(&["audit", "verify", "--database-url", &url]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 events"));
}

#[tokio::test]
async fn missing_store_is_an_error_not_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nothing-here");
    let out = zenalyze(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no store at"));
    assert!(!data.exists());
}

#[tokio::test]
async fn export_writes_jsonl_from_a_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    seed(dir.path(), 5).await;
    let file = dir.path().join("audit.jsonl");
    let out = zenalyze(&[
        "audit",
        "export",
        "--data-dir",
        data,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("exported 5 audit events"));
    let content = std::fs::read_to_string(&file).unwrap();
    let events: Vec<AuditEvent> = content.lines().map(serde_json_line).collect();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let mut v = zenalyze_store::ChainVerifier::new();
    for e in &events {
        assert!(v.push(Ok(e)));
    }
    assert!(v.finish(None).is_intact());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // --from to stdout.
    let out = zenalyze(&["audit", "export", "--data-dir", data, "--from", "4"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let seqs: Vec<u64> = stdout.lines().map(|l| serde_json_line(l).seq).collect();
    assert_eq!(seqs, vec![4, 5]);
}

fn serde_json_line(line: &str) -> AuditEvent {
    // Parse with the store's own JSONL reader and check the line is exactly
    // the canonical export form.
    let event: AuditEvent = zenalyze_store::audit::parse_json_line(line).expect("valid JSONL line");
    assert_eq!(event.to_json_line(), line);
    event
}

#[tokio::test]
async fn verify_checks_exported_files_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    seed(dir.path(), 6).await;
    let full = dir.path().join("full.jsonl");
    let part = dir.path().join("part.jsonl");
    for (file, from) in [(&full, "1"), (&part, "4")] {
        let out = zenalyze(&[
            "audit",
            "export",
            "--data-dir",
            data,
            "--from",
            from,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    }
    let out = zenalyze(&["audit", "verify", "--jsonl", full.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("export intact: 6 events"), "{stdout}");
    assert!(!stdout.contains("unanchored"), "{stdout}");

    // A segment: unanchored by default, anchored with the hash of event 3.
    let out = zenalyze(&["audit", "verify", "--jsonl", part.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("unanchored"));
    let content = std::fs::read_to_string(&full).unwrap();
    let third = serde_json_line(content.lines().nth(2).unwrap());
    let anchor = format!(
        "3:{}",
        third
            .hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let out = zenalyze(&[
        "audit",
        "verify",
        "--jsonl",
        part.to_str().unwrap(),
        "--after",
        &anchor,
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let wrong = format!("3:{}", "00".repeat(32));
    let out = zenalyze(&[
        "audit",
        "verify",
        "--jsonl",
        part.to_str().unwrap(),
        "--after",
        &wrong,
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("first bad sequence number 4"));

    // Edit one line of the full export: named by its seq.
    let edited = content.replacen("\"req-4\"", "\"req-X\"", 1);
    assert_ne!(edited, content);
    std::fs::write(&full, edited).unwrap();
    let out = zenalyze(&["audit", "verify", "--jsonl", full.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("first bad sequence number 5"),
        "{}",
        text(&out.stderr)
    );
    // A line that is not JSON.
    let garbled = content.replacen("{\"seq\":2", "garbage", 1);
    std::fs::write(&full, garbled).unwrap();
    let out = zenalyze(&["audit", "verify", "--jsonl", full.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("first bad sequence number 2"),
        "{}",
        text(&out.stderr)
    );
}
