//! `zenalyze enclave` and `zenalyze egress-proxy` as processes: an EHBP
//! request sealed to the served key config is answered by the offline
//! analyzer; the proxy refuses destinations off its allowlist.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Proc, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zenalyze");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("ready line in time");
    let v: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
    assert_eq!(v["event"], "listening");
    (Proc(child), v)
}

fn tcp_of(v: &serde_json::Value) -> String {
    v["address"]
        .as_str()
        .unwrap()
        .strip_prefix("tcp:")
        .unwrap()
        .to_owned()
}

/// Minimal HTTP/1.0 exchange (close-delimited answer).
fn http(addr: &str, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, out[end + 4..].to_vec())
}

#[test]
fn enclave_process_answers_ehbp_with_offline_analyzer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_p, ready) = spawn(&[
        "enclave",
        "--listen",
        "tcp:127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(ready["key_id"], 1);
    assert_eq!(ready["dev_root_sha256"].as_str().unwrap().len(), 64);
    let addr = tcp_of(&ready);
    let (status, headers, body) = http(
        &addr,
        "GET /.well-known/hpke-keys HTTP/1.0\r\nHost: e\r\n\r\n",
        b"",
    );
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/ohttp-keys"));
    let cfg = zenalyze_ehbp::KeyConfig::parse(&body).unwrap();
    let plaintext = br#"{"prompt":"How was my week?","inputs":[{"kind":"text","text":"Monday was hard. Tuesday I felt calm and grateful."}]}"#;
    let (sealed, ctx) = zenalyze_ehbp::seal_request(&cfg, plaintext, 4096).unwrap();
    let head = format!(
        "POST /v1/analyze HTTP/1.0\r\nHost: e\r\nEhbp-Encapsulated-Key: {}\r\nContent-Length: {}\r\n\r\n",
        sealed.encapsulated_key_hex,
        sealed.body.len()
    );
    let (status, headers, body) = http(&addr, &head, &sealed.body);
    assert_eq!(status, 200);
    let nonce = headers
        .iter()
        .find(|(k, _)| k == "ehbp-response-nonce")
        .map(|(_, v)| v.clone())
        .expect("nonce");
    let answer = ctx.open_response(&nonce, &body, 1 << 24).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(v["provider"], "offline");
    assert!(v.get("model").is_some());
    assert!(v["output"].is_object());

    // The key set and roots persist: a second process on the same dir serves the same config.
    let (_p2, ready2) = spawn(&[
        "enclave",
        "--listen",
        "tcp:127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(ready2["dev_root_sha256"], ready["dev_root_sha256"]);
    let (_, _, body2) = http(
        &tcp_of(&ready2),
        "GET /.well-known/hpke-keys HTTP/1.0\r\nHost: e\r\n\r\n",
        b"",
    );
    assert_eq!(body2, cfg.encode().to_vec());
}

#[test]
fn enclave_refuses_network_provider_without_egress_and_bad_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args([
            "enclave",
            "--listen",
            "tcp:127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--provider",
            "anthropic",
        ])
        .env("ANTHROPIC_API_KEY", "sk-test")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--egress"));
    let out = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args([
            "enclave",
            "--listen",
            "127.0.0.1:80",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn egress_proxy_process_refuses_unlisted_destinations() {
    let out = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args([
            "egress-proxy",
            "--listen",
            "tcp:127.0.0.1:0",
            "--allow",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (_p, ready) = spawn(&[
        "egress-proxy",
        "--listen",
        "tcp:127.0.0.1:0",
        "--allow",
        "api.openai.com:443",
    ]);
    assert_eq!(ready["allow"][0], "api.openai.com:443");
    let (status, _, _) = http(
        &tcp_of(&ready),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"",
    );
    assert_eq!(status, 403);
}
