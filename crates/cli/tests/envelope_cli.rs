//! `zenalyze envelope …` as scripts use it: the real binary, real files.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");
const EMAIL: &str = "  Patient@Example.com ";
const PASSWORD: &str = "p\u{e4}ssw\u{f6}rd \u{1f510}";

fn run(args: &[&str], password: Option<&str>, stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("ZENALYZE_PASSWORD");
    if let Some(p) = password {
        cmd.env("ZENALYZE_PASSWORD", p);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn encrypt(plaintext: &[u8], extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["envelope", "encrypt", "--email", EMAIL];
    args.extend_from_slice(extra);
    let out = run(&args, Some(PASSWORD), plaintext);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A failure: non-zero exit, nothing on stdout, exactly one line on stderr.
fn assert_fails(out: &Output, needle: &str) {
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "stdout must be empty on failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

#[test]
fn text_round_trip_through_stdin_and_stdout() {
    let line = encrypt(b"dear diary", &[]);
    assert!(line.ends_with(b"\n"));
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
    let out = run(
        &["envelope", "decrypt", "--email", EMAIL],
        Some(PASSWORD),
        &line,
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, b"dear diary");
}

#[test]
fn binary_files_with_context_and_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (input, env, back, pw) = (
        dir.path().join("scan.pdf"),
        dir.path().join("scan.env"),
        dir.path().join("scan.out"),
        dir.path().join("pw"),
    );
    std::fs::write(&input, &data).unwrap();
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let p = |x: &Path| x.to_str().unwrap().to_owned();
    let out = run(
        &[
            "envelope",
            "encrypt",
            "--email",
            EMAIL,
            "--context",
            "rec_1",
            "--binary",
            "--in",
            &p(&input),
            "--out",
            &p(&env),
            "--password-file",
            &p(&pw),
        ],
        None,
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let raw = std::fs::read(&env).unwrap();
    assert_eq!(raw[0], 1);
    assert_eq!(raw.len(), 29 + data.len());
    let out = run(
        &[
            "envelope",
            "decrypt",
            "--email",
            EMAIL,
            "--context",
            "rec_1",
            "--in",
            &p(&env),
            "--out",
            &p(&back),
        ],
        Some(PASSWORD),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&back).unwrap(), data);
    // Wrong context: failure, and no output file is created.
    let other = dir.path().join("other.out");
    let out = run(
        &[
            "envelope",
            "decrypt",
            "--email",
            EMAIL,
            "--context",
            "rec_2",
            "--in",
            &p(&env),
            "--out",
            &p(&other),
        ],
        Some(PASSWORD),
        b"",
    );
    assert_fails(&out, "does not open");
    assert!(!other.exists());
}

#[test]
fn failures_are_one_line_and_print_nothing() {
    let line = encrypt(b"secret canary 4242", &["--context", "c"]);
    let dec = |pw: Option<&str>, input: &[u8], ctx: &str| {
        run(
            &["envelope", "decrypt", "--email", EMAIL, "--context", ctx],
            pw,
            input,
        )
    };
    assert_fails(&dec(Some("wrong"), &line, "c"), "does not open");
    assert_fails(&dec(Some(PASSWORD), &line, "d"), "does not open");
    let mut tampered = line.clone();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    assert_fails(&dec(Some(PASSWORD), &tampered, "c"), "does not open");
    assert_fails(
        &dec(Some(PASSWORD), b"hello, I am plaintext", "c"),
        "base64",
    );
    assert_fails(&dec(Some(PASSWORD), b"AQID", "c"), "shorter than");
    assert_fails(
        &dec(
            Some(PASSWORD),
            b"AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "c",
        ),
        "version",
    );
    assert_fails(&dec(None, &line, "c"), "ZENALYZE_PASSWORD");
    assert_fails(
        &run(&["envelope", "encrypt", "--email", EMAIL], None, b"x"),
        "ZENALYZE_PASSWORD",
    );
    assert_fails(
        &run(&["envelope", "encrypt", "--email", EMAIL], Some(""), b"x"),
        "empty",
    );
    assert_fails(
        &run(&["envelope", "encrypt", "--email", "  "], Some("pw"), b"x"),
        "email",
    );
}

#[test]
fn password_is_never_an_argument() {
    let out = run(
        &["envelope", "encrypt", "--email", EMAIL, "--password", "pw"],
        None,
        b"x",
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn inspect_prints_version_and_sizes() {
    let line = encrypt(b"12345", &[]);
    let out = run(&["envelope", "inspect"], None, &line);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("version: 1"), "{text}");
    assert!(text.contains("envelope_bytes: 34"), "{text}");
    assert!(text.contains("plaintext_bytes: 5"), "{text}");
    assert!(text.contains("encoding: base64"), "{text}");
    assert_fails(
        &run(&["envelope", "inspect"], None, b"not an envelope"),
        "base64",
    );
}

#[test]
fn decrypts_the_shared_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/v1.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in doc["positive"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["plaintext_hex"].is_string())
    {
        let aad = case["aad_hex"].as_str().map(|h| hex::decode(h).unwrap());
        let Some(ctx) = aad.map(String::from_utf8) else {
            let out = run(
                &[
                    "envelope",
                    "decrypt",
                    "--email",
                    case["email"].as_str().unwrap(),
                ],
                Some(case["password"].as_str().unwrap()),
                case["envelope_b64"].as_str().unwrap().as_bytes(),
            );
            assert!(out.status.success(), "{}", case["name"]);
            assert_eq!(
                hex::encode(out.stdout),
                case["plaintext_hex"].as_str().unwrap(),
                "{}",
                case["name"]
            );
            continue;
        };
        let Ok(ctx) = ctx else { continue }; // binary contexts cannot be passed as TEXT
        let out = run(
            &[
                "envelope",
                "decrypt",
                "--email",
                case["email"].as_str().unwrap(),
                "--context",
                &ctx,
            ],
            Some(case["password"].as_str().unwrap()),
            case["envelope_b64"].as_str().unwrap().as_bytes(),
        );
        assert!(out.status.success(), "{}", case["name"]);
        assert_eq!(
            hex::encode(out.stdout),
            case["plaintext_hex"].as_str().unwrap(),
            "{}",
            case["name"]
        );
    }
}
