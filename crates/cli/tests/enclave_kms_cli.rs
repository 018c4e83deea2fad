//! The production enclave key-set verbs of the `zenalyze` binary, run as
//! processes against the loopback fake AWS KMS of `zenalyze-fake-aws-kms`:
//!
//! * `zenalyze enclave provision-keyset` (parent side, AWS credentials from
//!   the standard environment variables) writes the sealed key schedule
//!   and the wrapped data key (0600) and prints one JSON line;
//! * `zenalyze enclave credentials-server` serves the parent's credentials
//!   on a Unix socket, and `zenalyze enclave --keyset kms
//!   --kms-credentials unix:PATH` (no AWS credentials in its environment)
//!   unwraps the data key with `Decrypt` + a recipient attestation document
//!   of its development attestor, then serves EHBP;
//! * failures (KMS unreachable, access denied, no credentials server) stop
//!   the verb with one `zenalyze: error: ...` line, and nothing is served.
//!
//! Every child process is killed when its guard drops (also on panic).
#![cfg(feature = "aws-kms")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use zenalyze_attestation::dev::DevRoot;
use zenalyze_enclave::client::{EnclaveClient, SideData};
use zenalyze_enclave::keyset::{DATA_KEY_FILE, KEYSET_FILE, ROOT_KEY_FILE};
use zenalyze_enclave::DevAttestor;
use zenalyze_fake_aws_kms::{FakeKms, Mode, ACCESS_KEY, KEY_ARN, REGION, SECRET_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_zenalyze");
const DEPLOYMENT: &str = "prod-cli";
/// The rotation interval provisioned by these tests (one hour).
const INTERVAL_SECS: u64 = 3600;

/// The parent's (instance role) credentials, served to the enclave; the
/// secret and the token must never appear in a log.
const PARENT_KEY: &str = "ASIAPARENTCLI0001";
const PARENT_SECRET: &str = "parentSECRET/CANARY+cli7e11";
const PARENT_TOKEN: &str = "parentTOKEN-CANARY-cli4c1d";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The key id of the provisioned schedule at `ms` (epoch modulo 256).
fn key_id_at(ms: u64) -> u8 {
    ((ms / (INTERVAL_SECS * 1000)) % 256) as u8
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| {
            let d = d.unwrap();
            (
                d.file_name().to_string_lossy().into_owned(),
                std::fs::read(d.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The `zenalyze` command with nothing of the machine's AWS set-up: no
/// `AWS_*` or `ZENALYZE_*` variable is inherited, the shared config and
/// credentials files are empty files of `tmp`, instance metadata is off.
/// Credentials, when a process should have them, are added by the caller.
fn zenalyze(tmp: &Path) -> Command {
    let (config, credentials) = (tmp.join("aws-config"), tmp.join("aws-credentials"));
    for f in [&config, &credentials] {
        std::fs::write(f, b"").unwrap();
    }
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("ZENALYZE_") || k == "RUST_LOG" {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    cmd
}

/// Adds AWS credentials and region through the standard variables.
fn with_env_credentials(cmd: &mut Command, key: &str, secret: &str, token: Option<&str>) {
    cmd.env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", REGION);
    if let Some(t) = token {
        cmd.env("AWS_SESSION_TOKEN", t);
    }
}

/// Runs a one-shot command to completion (killed if it exceeds `within`).
async fn run(cmd: Command, within: Duration) -> Output {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::time::timeout(within, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("zenalyze did not finish within {within:?}"))
        .expect("run zenalyze")
}

/// `zenalyze enclave provision-keyset` into `out`, signed with the
/// fake's default access key from the environment.
async fn provision(tmp: &Path, kms: &FakeKms, out: &Path) -> Output {
    let mut cmd = zenalyze(tmp);
    with_env_credentials(&mut cmd, ACCESS_KEY, SECRET_KEY, None);
    cmd.args(["enclave", "provision-keyset", "--out"])
        .arg(out)
        .args(["--kms-key-id", KEY_ARN, "--deployment", DEPLOYMENT])
        .args(["--kms-endpoint", &kms.endpoint()])
        .args(["--rotation-interval-secs", &INTERVAL_SECS.to_string()])
        .args(["--grace-secs", "600"]);
    run(cmd, Duration::from_secs(60)).await
}

/// The single error line of a failed command: stderr's only line starting
/// with `zenalyze: error:`, which must be its last line.
fn error_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("zenalyze: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {text}");
    assert_eq!(text.lines().last(), Some(errors[0]), "{text}");
    errors[0].to_owned()
}

/// A long-running `zenalyze` process: stdout read line by line on a
/// thread, stderr in a file; killed and reaped on drop.
struct Proc {
    name: &'static str,
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let stderr = dir.join(format!("{name}.stderr"));
        let file = std::fs::File::create(&stderr).unwrap();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("spawn zenalyze");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            name,
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The "listening" line, parsed.
    async fn ready(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.recv()).await;
        let Ok(Some(line)) = line else {
            panic!("{}: no ready line; stderr: {}", self.name, self.stderr());
        };
        let v: Value = serde_json::from_str(&line).expect("ready JSON");
        assert_eq!(v["event"], "listening", "{}: {v}", self.name);
        v
    }

    /// Waits for the process to exit on its own.
    async fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {within:?}; stderr: {}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Everything the process printed on stdout (after it exited).
    async fn rest_of_stdout(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            v.push(line);
        }
        v
    }
}

/// Polls `f` until it holds (or panics after `within`).
async fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The enclave's data directory with its development attestation root
/// (what the Nitro Secure Module is in production), created up front so
/// the fake KMS can trust that root.
fn enclave_dir(tmp: &Path) -> (PathBuf, DevRoot) {
    use std::os::unix::fs::DirBuilderExt;
    let data = tmp.join("enclave");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data)
        .unwrap();
    let attestor = DevAttestor::load_or_create(&data, "root-setup", now_ms()).unwrap();
    let pem = attestor.root().to_pem().unwrap();
    (data, DevRoot::from_pem(&pem).unwrap())
}

/// The two provisioned files, as the parent ships them to the enclave.
fn ship(from: &Path, to: &Path) {
    for f in [KEYSET_FILE, DATA_KEY_FILE] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// `zenalyze enclave --keyset kms` arguments (development attestor, the
/// fake as KMS endpoint, region by flag).
fn enclave_cmd(tmp: &Path, data: &Path, kms: &FakeKms, listen: &str) -> Command {
    let mut cmd = zenalyze(tmp);
    cmd.args(["enclave", "--listen", listen, "--data-dir"])
        .arg(data)
        .args(["--keyset", "kms", "--attestor", "development"])
        .args(["--kms-key-id", KEY_ARN, "--deployment", DEPLOYMENT])
        .args(["--kms-endpoint", &kms.endpoint(), "--region", REGION])
        .args(["--kms-timeout-secs", "5", "--enclave-id", "enclave-kms-cli"]);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_keyset_writes_the_schedule_0600_and_prints_one_json_line() {
    let tmp = tempfile::tempdir().unwrap();
    let kms = FakeKms::start(&DevRoot::generate(now_ms() / 1000).unwrap())
        .await
        .unwrap();
    let out = tmp.path().join("keys");
    let before = now_ms();
    let o = provision(tmp.path(), &kms, &out).await;
    let after = now_ms();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["event"], "provisioned");
    assert_eq!(v["deployment"], DEPLOYMENT);
    assert_eq!(v["kms_key_id"], KEY_ARN);
    assert_eq!(v["keyset"], out.join(KEYSET_FILE).to_str().unwrap());
    assert_eq!(v["data_key"], out.join(DATA_KEY_FILE).to_str().unwrap());
    assert_eq!(v["rotation_interval_secs"], INTERVAL_SECS);
    assert_eq!(v["grace_secs"], 600);
    let cfg =
        zenalyze_ehbp::KeyConfig::parse(&hex::decode(v["key_config"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(v["key_id"], cfg.key_id());
    assert!([key_id_at(before), key_id_at(after)].contains(&cfg.key_id()));

    // Exactly the two files, 0600 in a 0700 directory; the data key is
    // the KMS blob, and no development root key exists.
    assert_eq!(mode_of(&out), 0o700);
    assert_eq!(mode_of(&out.join(KEYSET_FILE)), 0o600);
    assert_eq!(mode_of(&out.join(DATA_KEY_FILE)), 0o600);
    assert!(!out.join(ROOT_KEY_FILE).exists());
    let files = listing(&out);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, [DATA_KEY_FILE, KEYSET_FILE]);
    assert!(std::fs::read(out.join(DATA_KEY_FILE))
        .unwrap()
        .starts_with(b"FAKEKMS1"));
    assert_eq!(kms.signed_requests(), 1, "one GenerateDataKey");
    assert_eq!(kms.decrypts_with_recipient(), 0);

    // A second provisioning into the same directory is refused before KMS
    // is called, and nothing is overwritten.
    let o = provision(tmp.path(), &kms, &out).await;
    assert!(!o.status.success());
    let err = error_line(&o.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(kms.signed_requests(), 1);
    assert_eq!(listing(&out), files);
}

const PROMPT: &[u8] = br#"{"prompt":"summarise","inputs":[{"kind":"text","text":"slept well"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_enclave_unwraps_with_the_parents_credentials_and_serves_ehbp() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, root) = enclave_dir(tmp.path());
    let kms = FakeKms::start(&root).await.unwrap();

    // Parent: provision, ship the files to the enclave.
    let parent = tmp.path().join("parent");
    let t_provision = now_ms();
    let o = provision(tmp.path(), &kms, &parent).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let prov: Value = serde_json::from_slice(&o.stdout).unwrap();
    let provisioned = zenalyze_ehbp::KeyConfig::parse(
        &hex::decode(prov["key_config"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    ship(&parent, &data);
    let shipped = listing(&data);

    // From now on KMS accepts only requests signed with the parent role's
    // key, which only the credentials server has.
    kms.set_access_key(PARENT_KEY);
    let sock = tmp.path().join("creds.sock");
    let mut creds_cmd = zenalyze(tmp.path());
    with_env_credentials(
        &mut creds_cmd,
        PARENT_KEY,
        PARENT_SECRET,
        Some(PARENT_TOKEN),
    );
    creds_cmd
        .args(["enclave", "credentials-server", "--listen"])
        .arg(format!("unix:{}", sock.display()));
    let mut creds = Proc::spawn("credentials-server", creds_cmd, tmp.path());
    let ready = creds.ready().await;
    assert_eq!(ready["address"], format!("unix:{}", sock.display()));

    // The enclave: no AWS credentials in its environment.
    let mut cmd = enclave_cmd(tmp.path(), &data, &kms, "tcp:127.0.0.1:0");
    cmd.arg("--kms-credentials")
        .arg(format!("unix:{}", sock.display()));
    assert!(!cmd.get_envs().any(|(k, v)| v.is_some()
        && [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN"
        ]
        .iter()
        .any(|name| k == *name)));
    let signed_before = kms.signed_requests();
    let mut enclave = Proc::spawn("enclave", cmd, tmp.path());
    let ready = enclave.ready().await;
    let t_ready = now_ms();
    assert_eq!(ready["keyset"], "kms");
    assert_eq!(ready["attestor"], "development");
    assert_eq!(ready["enclave_id"], "enclave-kms-cli");
    assert_eq!(ready["dev_root_sha256"], root.sha256_fingerprint_hex());
    assert_eq!(
        kms.decrypts_with_recipient(),
        1,
        "one Decrypt with Recipient"
    );
    assert_eq!(kms.signed_requests(), signed_before + 1);

    let address: zenalyze_transport::Address = ready["address"].as_str().unwrap().parse().unwrap();
    let client = EnclaveClient::new(address, Duration::from_secs(10));
    let served = client.key_config().await.unwrap();
    assert_eq!(ready["key_id"], served.key_id());
    if key_id_at(t_provision) == key_id_at(t_ready) {
        // Same rotation epoch as at provisioning: the same key.
        assert_eq!(served, provisioned);
    } else {
        assert_eq!(served.key_id(), provisioned.key_id().wrapping_add(1));
    }

    // The attestation document verifies under the development root and
    // commits to the served key config and the challenge.
    let nonce = [0x5au8; 16];
    let att = client.attestation(&nonce).await.unwrap();
    assert_eq!(att.status, 200);
    let att: Value = serde_json::from_slice(&att.body).unwrap();
    let doc = B64
        .decode(att["attestation_doc"].as_str().unwrap())
        .unwrap();
    let verified =
        zenalyze_attestation::verify(&doc, &root.development_policy(), Some(&nonce), now_ms())
            .unwrap();
    assert_eq!(verified.public_key.as_deref(), Some(&served.encode()[..]));
    assert_eq!(
        B64.decode(att["key_config"].as_str().unwrap()).unwrap(),
        served.encode().to_vec()
    );

    // A request sealed to the served key is answered by the analyzer.
    let (sealed, ctx) = zenalyze_ehbp::seal_request(&served, PROMPT, 1024).unwrap();
    let a = client
        .analyze(
            &sealed.encapsulated_key_hex,
            &sealed.body,
            &SideData::default(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let pt = ctx
        .open_response(a.response_nonce.as_deref().unwrap(), &a.body, 1 << 24)
        .unwrap();
    let v: Value = serde_json::from_slice(&pt).unwrap();
    assert_eq!(v["provider"], "offline");
    assert!(v["output"].is_object(), "{v}");

    // Credentials are needed at start-up only: without the server the
    // enclave keeps serving.
    drop(creds);
    assert_eq!(client.key_config().await.unwrap(), served);

    // The exchange is logged; the secret and the token never are. The
    // enclave wrote nothing to its data directory.
    let creds_log = tmp.path().join("credentials-server.stderr");
    eventually(Duration::from_secs(5), "credentials served log", || {
        std::fs::read_to_string(&creds_log)
            .unwrap_or_default()
            .contains("AWS credentials served")
    })
    .await;
    for log in [
        std::fs::read_to_string(&creds_log).unwrap(),
        enclave.stderr(),
    ] {
        assert!(!log.contains("CANARY"), "{log}");
    }
    assert_eq!(listing(&data), shipped);
    assert!(!data.join(ROOT_KEY_FILE).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_failures_stop_the_verbs_with_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();

    // KMS unreachable (a closed local port): provisioning fails quickly
    // and writes no key set.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = tmp.path().join("unreachable");
    let mut cmd = zenalyze(tmp.path());
    with_env_credentials(&mut cmd, ACCESS_KEY, SECRET_KEY, None);
    cmd.args(["enclave", "provision-keyset", "--out"])
        .arg(&out)
        .args(["--kms-key-id", KEY_ARN, "--deployment", DEPLOYMENT])
        .args(["--kms-endpoint", &format!("http://{closed}")])
        .args(["--kms-timeout-secs", "2"]);
    let t0 = Instant::now();
    let o = run(cmd, Duration::from_secs(30)).await;
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    let err = error_line(&o.stderr);
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    assert!(
        err.starts_with(
            "zenalyze: error: key set provisioning failed: AWS KMS unreachable during GenerateDataKey"
        ),
        "{err}"
    );
    assert!(!out.join(KEYSET_FILE).exists());
    assert!(!out.join(DATA_KEY_FILE).exists());

    // A provisioned enclave whose KMS key policy denies it: it exits with
    // the denial and never listens.
    let (data, root) = enclave_dir(tmp.path());
    let kms = FakeKms::start(&root).await.unwrap();
    let parent = tmp.path().join("parent");
    let o = provision(tmp.path(), &kms, &parent).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ship(&parent, &data);
    kms.set_mode(Mode::DenyAll);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let signed = kms.signed_requests();
    let mut cmd = enclave_cmd(tmp.path(), &data, &kms, &format!("tcp:127.0.0.1:{port}"));
    with_env_credentials(&mut cmd, ACCESS_KEY, SECRET_KEY, None);
    let mut denied = Proc::spawn("enclave-denied", cmd, tmp.path());
    let status = denied.exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert_eq!(denied.rest_of_stdout().await, Vec::<String>::new());
    let err = error_line(denied.stderr().as_bytes());
    assert!(
        err.starts_with(
            "zenalyze: error: cannot unwrap the HPKE key set with AWS KMS; refusing to start: AWS KMS denied Decrypt: AccessDeniedException"
        ),
        "{err}"
    );
    assert_eq!(kms.signed_requests(), signed + 1, "the Decrypt was made");
    assert_eq!(kms.decrypts_with_recipient(), 0);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // No credentials server where --kms-credentials points: refused
    // before any KMS call.
    kms.set_mode(Mode::Normal);
    let missing = tmp.path().join("none.sock");
    let mut cmd = enclave_cmd(tmp.path(), &data, &kms, &format!("tcp:127.0.0.1:{port}"));
    cmd.arg("--kms-credentials")
        .arg(format!("unix:{}", missing.display()));
    let mut orphan = Proc::spawn("enclave-no-creds", cmd, tmp.path());
    let status = orphan.exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert_eq!(orphan.rest_of_stdout().await, Vec::<String>::new());
    let err = error_line(orphan.stderr().as_bytes());
    assert!(
        err.starts_with(
            "zenalyze: error: cannot fetch AWS credentials from the parent; refusing to start"
        ),
        "{err}"
    );
    assert!(err.contains("none.sock"), "{err}");
    assert_eq!(kms.signed_requests(), signed + 1, "no KMS call");

    // A credentials server on a parent without any AWS credentials refuses
    // to start.
    let mut cmd = zenalyze(tmp.path());
    cmd.args(["enclave", "credentials-server", "--listen"])
        .arg(format!("unix:{}", tmp.path().join("empty.sock").display()))
        .env("AWS_REGION", REGION);
    let o = run(cmd, Duration::from_secs(30)).await;
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    let err = error_line(&o.stderr);
    assert!(
        err.starts_with("zenalyze: error: the parent has no AWS credentials to serve"),
        "{err}"
    );
}
