//! `zenalyze attestation verify` on the real AWS Nitro fixtures.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output};

const PCR0: &str = "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b";
const PCR1: &str = "bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b214a414b7607236edf26fcb78654e63f";
const PCR2: &str = "d8f114da658de5481f8d9ec73907feb553560787522f705c92d7d96beed8e15e2aa611984e098c576832c292e8dc469a";
const PCR8: &str = "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb";

/// Inside the prod leaf window (08:57:59–11:58:02), 2 minutes after the
/// document timestamp (08:58:02.136).
const PROD_AT: &str = "2022-10-13T09:00:00Z";
/// Inside the debug-2022-10-12 leaf window (13:49:51–16:49:54).
const DEBUG_AT: &str = "2022-10-12T13:52:00Z";

fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("ZENALYZE_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    }
    .join("nitro");
    if dir.join("prod-2022-10-13.cose").is_file() {
        Some(dir)
    } else {
        // Written to the real stderr (not the captured test output) so that
        // the skip is visible in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: AWS Nitro fixtures not found at {} (set ZENALYZE_FIXTURES)",
            dir.display()
        );
        None
    }
}

fn zenalyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args(args)
        .output()
        .expect("run zenalyze")
}

fn pcr_args(pcr0: &str) -> Vec<&str> {
    vec![
        "--pcr0", pcr0, "--pcr1", PCR1, "--pcr2", PCR2, "--pcr8", PCR8,
    ]
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_refused(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected failure, got: {}", stdout(o));
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout when refused: {}",
        stdout(o)
    );
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr: {err}"
    );
    assert!(
        err.contains(needle),
        "stderr {err:?} should mention {needle:?}"
    );
}

#[test]
fn prod_document_valid_inside_the_window() {
    let Some(dir) = fixtures("prod_document_valid_inside_the_window") else {
        return;
    };
    let file = dir.join("prod-2022-10-13.cose");
    let file = file.to_str().unwrap();
    let nonce = {
        let index: String = std::fs::read_to_string(dir.join("index.json")).unwrap();
        let start = index.find("\"nonce_hex\": \"").unwrap() + 14;
        index[start..start + 512].to_string()
    };
    let mut args = vec!["attestation", "verify", file, "--at", PROD_AT];
    args.extend(pcr_args(PCR0));
    let o = zenalyze(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("VALID"), "{out}");
    assert!(
        out.contains("i-020b6af9246d90e92-enc0183d09086c24190"),
        "{out}"
    );
    assert!(out.contains("2022-10-13T08:58:02.136Z"), "{out}");
    assert!(out.contains(PCR0) && out.contains(PCR8), "{out}");
    assert!(out.contains("production"), "{out}");
    assert!(out.contains("NOT checked"), "{out}");

    // With the nonce, and the time as Unix seconds (09:00:00Z).
    args[4] = "1665651600";
    args.extend(["--nonce", nonce.as_str()]);
    let o = zenalyze(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(
        stdout(&o).contains("nonce:       checked"),
        "{}",
        stdout(&o)
    );

    // A wrong nonce is refused.
    let mut wrong = nonce.clone();
    wrong.replace_range(0..2, "00");
    let last = args.len() - 1;
    args[last] = wrong.as_str();
    assert_refused(&zenalyze(&args), "nonce");

    // The same through a JSON policy file.
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"measurements": [{{"pcr0": "{PCR0}", "pcr1": "{PCR1}", "pcr2": "{PCR2}", "pcr8": "{PCR8}"}}],
                "allow_debug": false, "max_age": 600}}"#
        ),
    )
    .unwrap();
    let o = zenalyze(&[
        "attestation",
        "verify",
        file,
        "--at",
        "2022-10-13T09:05:00Z",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    // max_age 600 s from the policy; --max-age overrides it.
    let o = zenalyze(&[
        "attestation",
        "verify",
        file,
        "--at",
        "2022-10-13T09:05:00Z",
        "--policy",
        policy.to_str().unwrap(),
        "--max-age",
        "60",
    ]);
    assert_refused(&o, "stale");
}

#[test]
fn prod_document_refused_outside_the_window() {
    let Some(dir) = fixtures("prod_document_refused_outside_the_window") else {
        return;
    };
    let file = dir.join("prod-2022-10-13.cose");
    for at in [
        "2022-10-13T08:57:00Z",
        "2022-10-13T11:58:03Z",
        "2025-01-01T00:00:00Z",
    ] {
        let mut args = vec!["attestation", "verify", file.to_str().unwrap(), "--at", at];
        args.extend(pcr_args(PCR0));
        args.extend(["--max-age", "100000000"]);
        assert_refused(&zenalyze(&args), "not valid at the verification time");
    }
    // Inside the leaf window but older than the default 300 s.
    let mut args = vec![
        "attestation",
        "verify",
        file.to_str().unwrap(),
        "--at",
        "2022-10-13T10:00:00Z",
    ];
    args.extend(pcr_args(PCR0));
    assert_refused(&zenalyze(&args), "stale");
}

#[test]
fn prod_document_refused_with_a_wrong_pcr() {
    let Some(dir) = fixtures("prod_document_refused_with_a_wrong_pcr") else {
        return;
    };
    let file = dir.join("prod-2022-10-13.cose");
    let wrong = format!("{}0", &PCR0[..95]);
    let mut args = vec![
        "attestation",
        "verify",
        file.to_str().unwrap(),
        "--at",
        PROD_AT,
    ];
    args.extend(pcr_args(&wrong));
    assert_refused(&zenalyze(&args), "measurement sets");
    // No PCRs at all: the empty policy refuses everything.
    let args = [
        "attestation",
        "verify",
        file.to_str().unwrap(),
        "--at",
        PROD_AT,
    ];
    assert_refused(&zenalyze(&args), "refuses everything");
    // A malformed PCR argument and a partial set are usage errors.
    let mut args = vec![
        "attestation",
        "verify",
        file.to_str().unwrap(),
        "--at",
        PROD_AT,
    ];
    args.extend(pcr_args("abcd"));
    assert!(!zenalyze(&args).status.success());
    let args = [
        "attestation",
        "verify",
        file.to_str().unwrap(),
        "--at",
        PROD_AT,
        "--pcr0",
        PCR0,
    ];
    assert!(!zenalyze(&args).status.success());
}

#[test]
fn debug_document_needs_allow_debug() {
    let Some(dir) = fixtures("debug_document_needs_allow_debug") else {
        return;
    };
    let file = dir.join("debug-2022-10-12.cose");
    let file = file.to_str().unwrap();
    // With production PCRs: refused as debug.
    let mut args = vec!["attestation", "verify", file, "--at", DEBUG_AT];
    args.extend(pcr_args(PCR0));
    assert_refused(&zenalyze(&args), "debug");
    // Without anything: the empty policy refuses.
    assert_refused(
        &zenalyze(&["attestation", "verify", file, "--at", DEBUG_AT]),
        "refuses everything",
    );
    // With --allow-debug: accepted, and flagged.
    let o = zenalyze(&[
        "attestation",
        "verify",
        file,
        "--at",
        DEBUG_AT,
        "--allow-debug",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains("DEBUG"), "{}", stdout(&o));
    // --allow-debug outside its window: refused.
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            file,
            "--at",
            "2022-10-12T17:00:00Z",
            "--allow-debug",
        ]),
        "not valid at the verification time",
    );
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let Some(dir) = fixtures("bad_inputs_are_one_line_errors") else {
        return;
    };
    let file = dir.join("prod-2022-10-13.cose");
    let file = file.to_str().unwrap();
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            file,
            "--at",
            "yesterday",
            "--allow-debug",
        ]),
        "RFC 3339",
    );
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            "/nonexistent/doc.cose",
            "--at",
            PROD_AT,
            "--allow-debug",
        ]),
        "cannot open",
    );
    // A base64 copy of the document verifies like the raw one.
    let tmp = tempfile::tempdir().unwrap();
    let b64 = tmp.path().join("doc.b64");
    let raw = std::fs::read(file).unwrap();
    std::fs::write(
        &b64,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw),
    )
    .unwrap();
    let mut args = vec![
        "attestation",
        "verify",
        b64.to_str().unwrap(),
        "--at",
        PROD_AT,
    ];
    args.extend(pcr_args(PCR0));
    let o = zenalyze(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    // A garbage file is refused.
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, b"\x00\x01not a document").unwrap();
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            junk.to_str().unwrap(),
            "--at",
            PROD_AT,
            "--allow-debug",
        ]),
        "document",
    );
    // A different root (the fixture root with one byte changed cannot
    // parse; use the AWS root's own PEM: same root, accepted).
    let root_pem = dir.join("aws-nitro-root-g1.pem");
    let mut args = vec![
        "attestation",
        "verify",
        file,
        "--at",
        PROD_AT,
        "--root",
        root_pem.to_str().unwrap(),
    ];
    args.extend(pcr_args(PCR0));
    assert!(zenalyze(&args).status.success());
    // A policy pinning another root fingerprint: refused as untrusted.
    let policy = tmp.path().join("p.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"root_sha256": "{}", "allow_debug": true}}"#,
            "ab".repeat(32)
        ),
    )
    .unwrap();
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            file,
            "--at",
            PROD_AT,
            "--policy",
            policy.to_str().unwrap(),
        ]),
        "untrusted root",
    );
    // Unknown policy fields are refused.
    std::fs::write(&policy, r#"{"allow_debug": true, "max_agee": 5}"#).unwrap();
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            file,
            "--at",
            PROD_AT,
            "--policy",
            policy.to_str().unwrap(),
        ]),
        "policy",
    );
}

#[test]
fn development_root_via_root_flag() {
    use zenalyze_attestation::dev::{DevDocumentRequest, DevRoot};
    // 2026-01-01T00:00:00Z
    let now_ms: u64 = 1_767_225_600_000;
    let root = DevRoot::generate(now_ms / 1000).unwrap();
    let doc = root
        .issue(&DevDocumentRequest::new("dev-enclave", now_ms).with_nonce(vec![0xab; 16]))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let doc_path = tmp.path().join("doc.cose");
    std::fs::write(&doc_path, &doc).unwrap();
    let bundle = tmp.path().join("attestation-root.pem");
    std::fs::write(&bundle, root.to_pem().unwrap().as_bytes()).unwrap();
    let cert = tmp.path().join("root.pem");
    std::fs::write(&cert, root.cert_pem().unwrap()).unwrap();
    let doc_arg = doc_path.to_str().unwrap();
    let at = "2026-01-01T00:00:10Z";
    let nonce = "ab".repeat(16);
    // The bundle (key + certificate) or the certificate alone, with debug.
    for root_file in [&bundle, &cert] {
        let o = zenalyze(&[
            "attestation",
            "verify",
            doc_arg,
            "--at",
            at,
            "--root",
            root_file.to_str().unwrap(),
            "--allow-debug",
            "--nonce",
            &nonce,
        ]);
        assert!(o.status.success(), "stderr: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("DEBUG") && out.contains("dev-enclave"),
            "{out}"
        );
        assert!(out.contains(&root.sha256_fingerprint_hex()), "{out}");
        assert!(out.contains("nonce:       checked"), "{out}");
        assert!(!out.contains("PRIVATE"), "{out}");
    }
    // Under the default AWS root: untrusted.
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            doc_arg,
            "--at",
            at,
            "--allow-debug",
        ]),
        "untrusted root",
    );
    // Pinned by fingerprint in a policy file.
    let policy = tmp.path().join("dev-policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"root_sha256": "{}", "allow_debug": true}}"#,
            root.sha256_fingerprint_hex()
        ),
    )
    .unwrap();
    let o = zenalyze(&[
        "attestation",
        "verify",
        doc_arg,
        "--at",
        at,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    // Without debug allowed: refused.
    assert_refused(
        &zenalyze(&[
            "attestation",
            "verify",
            doc_arg,
            "--at",
            at,
            "--root",
            cert.to_str().unwrap(),
        ]),
        "refuses everything",
    );
}
