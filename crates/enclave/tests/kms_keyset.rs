//! Production key set through AWS KMS with a recipient attestation document,
//! against the loopback fake KMS of `zenalyze-fake-aws-kms` speaking KMS's
//! JSON 1.1 wire protocol (`X-Amz-Target: TrentService.*`), called by the
//! real aws-sdk-kms with SigV4-signed requests. The fake verifies attestation
//! documents with the development root, takes the RSA public key from them
//! and answers `CiphertextForRecipient` as KMS does. Only AWS itself and the
//! Nitro NSM are replaced (by this fake and the development attestor).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use zenalyze_ai_providers::offline::OfflineAnalyzer;
use zenalyze_enclave::attest::{AttestError, Attestor, DevAttestor};
use zenalyze_enclave::client::{EnclaveClient, SideData};
use zenalyze_enclave::keyset::{DATA_KEY_FILE, KEYSET_FILE, ROOT_KEY_FILE};
use zenalyze_enclave::kms::{self, KmsClient, KmsError, KmsSettings};
use zenalyze_enclave::{Clock, EnclaveBuilder, ManualClock, ScheduleParams, SystemClock};
use zenalyze_fake_aws_kms::{FakeKms, Mode, ACCESS_KEY, KEY_ARN, REGION, SECRET_KEY};
use zenalyze_kms_recipient::RecipientError;

fn settings(endpoint: String, deployment: &str) -> KmsSettings {
    let mut s = KmsSettings::new(KEY_ARN, deployment);
    s.region = Some(REGION.into());
    s.endpoint = Some(endpoint);
    s.timeout = Duration::from_secs(5);
    s.credentials = Some(aws_sdk_kms::config::Credentials::new(
        ACCESS_KEY, SECRET_KEY, None, None, "test",
    ));
    s
}

struct Env {
    _tmp: tempfile::TempDir,
    keys: std::path::PathBuf,
    attestor: Arc<DevAttestor>,
    kms: FakeKms,
}

/// A data directory for the key set, the development attestor of the
/// enclave (its root in a separate directory) and a fake KMS trusting that
/// root.
async fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let att_dir = tmp.path().join("attestation");
    std::fs::create_dir(&att_dir).unwrap();
    let attestor = Arc::new(
        DevAttestor::load_or_create(&att_dir, "enclave-test", SystemClock.now_ms()).unwrap(),
    );
    let kms = FakeKms::start(attestor.root()).await.unwrap();
    Env {
        _tmp: tmp,
        keys,
        attestor,
        kms,
    }
}

impl Env {
    fn settings(&self, deployment: &str) -> KmsSettings {
        settings(self.kms.endpoint(), deployment)
    }
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The tests of this file run one at a time: `credentials_from_the_parent_sign_the_kms_calls`
/// captures TRACE logs with a thread-local subscriber, and tracing's
/// per-callsite interest cache, shared by the whole process, let concurrent
/// tests on other threads make it miss the SDK's events.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

#[tokio::test]
async fn provisioning_then_start_serves_the_same_key_config_and_rotates() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod-eu")).await.unwrap();
    let now = SystemClock.now_ms();
    let prov = kms::provision(&client, &e.keys, now).await.unwrap();
    assert_eq!(mode_of(&e.keys.join(KEYSET_FILE)), 0o600);
    assert_eq!(mode_of(&e.keys.join(DATA_KEY_FILE)), 0o600);
    assert!(!e.keys.join(ROOT_KEY_FILE).exists());
    let wrapped = std::fs::read(e.keys.join(DATA_KEY_FILE)).unwrap();
    assert!(wrapped.starts_with(b"FAKEKMS1"));
    // A second provisioning never overwrites.
    assert!(matches!(
        kms::provision(&client, &e.keys, now).await.unwrap_err(),
        KmsError::KeySet(zenalyze_enclave::KeySetError::AlreadyExists(_))
    ));

    // Two enclaves start from the files, each unwrapping through KMS.
    let clock = Arc::new(ManualClock::new(now));
    let mut enclaves = Vec::new();
    for _ in 0..2 {
        let store = kms::open_key_store(&client, e.attestor.clone(), &e.keys, now)
            .await
            .unwrap();
        let enclave = EnclaveBuilder::new(&e.keys, Arc::new(OfflineAnalyzer::new()))
            .attestor(e.attestor.clone())
            .key_store(store)
            .clock(clock.clone())
            .rotation(Duration::from_secs(3600), Duration::from_secs(60))
            .build()
            .unwrap();
        assert_eq!(enclave.key_config(), prov.key_config);
        enclaves.push(enclave);
    }
    assert!(!e.keys.join(ROOT_KEY_FILE).exists());
    assert_eq!(e.kms.decrypts_with_recipient(), 2);
    assert!(e.kms.signed_requests() >= 3);

    // It serves that key config.
    let running = enclaves[0]
        .clone()
        .spawn(
            &"tcp:127.0.0.1:0".parse().unwrap(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let client_of_enclave = zenalyze_enclave::client::EnclaveClient::new(
        running.address.clone(),
        Duration::from_secs(5),
    );
    assert_eq!(
        client_of_enclave.key_config().await.unwrap(),
        prov.key_config
    );
    running.shutdown().await.unwrap();

    // Rotation is by epoch: after the default interval both enclaves serve
    // the same new key, and nothing is written to the directory.
    let sealed_before = std::fs::read(e.keys.join(KEYSET_FILE)).unwrap();
    clock.advance(Duration::from_secs(24 * 3600));
    enclaves[0].maintain().unwrap();
    enclaves[1].maintain().unwrap();
    let rotated = enclaves[0].key_config();
    assert_ne!(rotated, prov.key_config);
    assert_eq!(rotated.key_id(), prov.key_config.key_id().wrapping_add(1));
    assert_eq!(enclaves[1].key_config(), rotated);
    assert_eq!(std::fs::read(e.keys.join(DATA_KEY_FILE)).unwrap(), wrapped);
    assert_eq!(
        std::fs::read(e.keys.join(KEYSET_FILE)).unwrap(),
        sealed_before
    );
    let store = kms::open_key_store(&client, e.attestor.clone(), &e.keys, now)
        .await
        .unwrap();
    let fresh = EnclaveBuilder::new(&e.keys, Arc::new(OfflineAnalyzer::new()))
        .attestor(e.attestor.clone())
        .key_store(store)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(fresh.key_config(), rotated);
    assert!(!e.keys.join(ROOT_KEY_FILE).exists());
}

const PROMPT: &[u8] = br#"{"prompt":"summarise","inputs":[{"kind":"text","text":"slept well"}]}"#;

/// Posts `PROMPT` sealed to `cfg` to the enclave; the HTTP status (and
/// for a 422, checks it is the key-config problem).
async fn post_sealed(enclave: &EnclaveClient, cfg: &zenalyze_ehbp::KeyConfig) -> u16 {
    let (sealed, ctx) = zenalyze_ehbp::seal_request(cfg, PROMPT, 1024).unwrap();
    let a = enclave
        .analyze(
            &sealed.encapsulated_key_hex,
            &sealed.body,
            &SideData::default(),
        )
        .await
        .unwrap();
    match a.status {
        200 => {
            let nonce = a.response_nonce.as_deref().unwrap();
            let pt = ctx.open_response(nonce, &a.body, 1 << 24).unwrap();
            let v: Value = serde_json::from_slice(&pt).unwrap();
            assert!(v["output"].is_object() || v["output"].is_string(), "{v}");
        }
        422 => {
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(v["type"], "urn:ietf:params:ehbp:error:key-config");
        }
        _ => {}
    }
    a.status
}

fn listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| {
            let d = d.unwrap();
            (
                d.file_name().to_string_lossy().into_owned(),
                std::fs::read(d.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn two_hosts_without_a_shared_disk_follow_the_same_key_schedule() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod-eu")).await.unwrap();
    let params = ScheduleParams {
        interval_secs: 3600,
        grace_secs: 600,
    };
    // Invalid parameters are refused before KMS is called.
    let before = e.kms.signed_requests();
    let bad = ScheduleParams {
        interval_secs: 3600,
        grace_secs: 3599,
    };
    assert!(matches!(
        kms::provision_schedule(&client, &e.keys, 0, bad)
            .await
            .unwrap_err(),
        KmsError::KeySet(zenalyze_enclave::KeySetError::Schedule(_))
    ));
    assert_eq!(e.kms.signed_requests(), before);

    // Epoch 1000 (interval 1 h), half-way through.
    let epoch_ms = 3_600_000u64;
    let t0 = 1000 * epoch_ms + epoch_ms / 2;
    let prov = kms::provision_schedule(&client, &e.keys, t0, params)
        .await
        .unwrap();
    assert_eq!(prov.key_config.key_id(), (1000 % 256) as u8);

    // Two hosts: each its own copy of the provisioned files, its own clock.
    let tmp = tempfile::tempdir().unwrap();
    let mut hosts = Vec::new();
    for name in ["host-a", "host-b"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for f in [KEYSET_FILE, DATA_KEY_FILE] {
            std::fs::copy(e.keys.join(f), dir.join(f)).unwrap();
        }
        let clock = Arc::new(ManualClock::new(t0));
        // The attestation for KMS is verified at the real time; the key
        // schedule runs on the injected clock.
        let store = kms::open_key_store(&client, e.attestor.clone(), &dir, SystemClock.now_ms())
            .await
            .unwrap();
        let enclave = EnclaveBuilder::new(&dir, Arc::new(OfflineAnalyzer::new()))
            .attestor(e.attestor.clone())
            .key_store(store)
            .clock(clock.clone())
            .build()
            .unwrap();
        let running = enclave
            .spawn(
                &"tcp:127.0.0.1:0".parse().unwrap(),
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        let ec = EnclaveClient::new(running.address.clone(), Duration::from_secs(10));
        let files = listing(&dir);
        hosts.push((dir, clock, running, ec, files));
    }
    assert_eq!(e.kms.decrypts_with_recipient(), 2);
    let (a, b) = (&hosts[0], &hosts[1]);
    let old = a.3.key_config().await.unwrap();
    assert_eq!(old, prov.key_config);
    assert_eq!(b.3.key_config().await.unwrap(), old);
    assert_eq!(post_sealed(&a.3, &old).await, 200);
    assert_eq!(post_sealed(&b.3, &old).await, 200);
    // A key of the same deployment name but another seed is refused.
    let stranger = zenalyze_ehbp::ServerKey::generate(old.key_id()).key_config();
    assert_eq!(post_sealed(&a.3, &stranger).await, 422);

    // Past the boundary (epoch 1001 + 1 s): both switch to the same new key.
    for h in &hosts {
        h.1.advance(Duration::from_millis(epoch_ms / 2 + 1000));
    }
    let new = a.3.key_config().await.unwrap();
    assert_ne!(new, old);
    assert_eq!(new.key_id(), (1001 % 256) as u8);
    assert_eq!(b.3.key_config().await.unwrap(), new);
    // The attestation document commits to the new key config.
    let att = a.3.attestation(&[7u8; 16]).await.unwrap();
    let att: Value = serde_json::from_slice(&att.body).unwrap();
    assert_eq!(
        B64.decode(att["key_config"].as_str().unwrap()).unwrap(),
        new.encode().to_vec()
    );
    // In grace (10 min), the old key still opens at either host.
    assert_eq!(post_sealed(&a.3, &old).await, 200);
    assert_eq!(post_sealed(&b.3, &old).await, 200);
    assert_eq!(post_sealed(&b.3, &new).await, 200);
    // After grace it is refused with the key-config problem at both.
    for h in &hosts {
        h.1.advance(Duration::from_secs(600));
    }
    assert_eq!(post_sealed(&a.3, &old).await, 422);
    assert_eq!(post_sealed(&b.3, &old).await, 422);
    assert_eq!(post_sealed(&a.3, &new).await, 200);

    // Clock skew: host A crosses into epoch 1002 while host B lags behind.
    // B is 60 s before the boundary (outside the 30 s skew window), A 5 s
    // past it.
    let now = a.1.now_ms();
    let boundary = 1002 * epoch_ms;
    a.1.advance(Duration::from_millis(boundary + 5000 - now));
    b.1.advance(Duration::from_millis(boundary - 60_000 - now));
    let newer = a.3.key_config().await.unwrap();
    assert_eq!(newer.key_id(), (1002 % 256) as u8);
    assert_eq!(b.3.key_config().await.unwrap(), new);
    assert_eq!(post_sealed(&b.3, &newer).await, 422);
    // 10 s before the boundary, B already opens requests sealed to A's key,
    // while still serving its own current key; A opens B's (grace).
    b.1.advance(Duration::from_secs(50));
    assert_eq!(post_sealed(&b.3, &newer).await, 200);
    assert_eq!(b.3.key_config().await.unwrap(), new);
    assert_eq!(post_sealed(&a.3, &new).await, 200);

    // Maintenance observes epochs without touching the disk; no host wrote
    // anything (no shared disk needed, none used).
    for h in &hosts {
        h.2.enclave.maintain().unwrap();
        assert_eq!(listing(&h.0), h.4);
    }
    assert_eq!(e.kms.decrypts_with_recipient(), 2);
    for h in hosts {
        h.2.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn another_deployment_does_not_unwrap() {
    let _serial = serial().await;
    let e = env().await;
    let a = KmsClient::new(&e.settings("prod-a")).await.unwrap();
    kms::provision(&a, &e.keys, SystemClock.now_ms())
        .await
        .unwrap();
    let b = KmsClient::new(&e.settings("prod-b")).await.unwrap();
    let err = kms::open_key_store(&b, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext { .. }), "{err}");
    // A wrapped key from another deployment swapped in is refused too.
    let other = e.keys.with_file_name("other");
    kms::provision(&b, &other, SystemClock.now_ms())
        .await
        .unwrap();
    std::fs::copy(other.join(DATA_KEY_FILE), e.keys.join(DATA_KEY_FILE)).unwrap();
    let err = kms::open_key_store(&a, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext { .. }), "{err}");
    // The right deployment with a swapped key set: the data key opens, the
    // key set does not.
    std::fs::copy(other.join(DATA_KEY_FILE), e.keys.join(DATA_KEY_FILE)).unwrap();
    let err = kms::open_key_store(&b, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(err, KmsError::KeySet(zenalyze_enclave::KeySetError::Unseal)),
        "{err}"
    );
}

#[tokio::test]
async fn plaintext_answers_are_refused() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod")).await.unwrap();
    kms::provision(&client, &e.keys, SystemClock.now_ms())
        .await
        .unwrap();
    for mode in [Mode::PlaintextInstead, Mode::PlaintextAndRecipient] {
        e.kms.set_mode(mode);
        let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
            .await
            .unwrap_err();
        assert!(
            matches!(err, KmsError::PlaintextReturned),
            "{mode:?}: {err}"
        );
        assert!(err.to_string().contains("CiphertextForRecipient"));
    }
}

#[tokio::test]
async fn tampered_answers_are_refused() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod")).await.unwrap();
    kms::provision(&client, &e.keys, SystemClock.now_ms())
        .await
        .unwrap();
    e.kms.set_mode(Mode::WrongRecipient);
    let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(err, KmsError::Recipient(RecipientError::KeyDecryption)),
        "{err}"
    );
    e.kms.set_mode(Mode::TruncatedAnswer);
    let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(err, KmsError::Recipient(RecipientError::Malformed(_))),
        "{err}"
    );
    e.kms.set_mode(Mode::DenyAll);
    let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied { .. }), "{err}");
    assert!(err.to_string().contains("AccessDeniedException"));
}

/// Flips one byte of every document of the inner attestor.
struct Tampering(Arc<DevAttestor>);

impl Attestor for Tampering {
    fn attest(
        &self,
        public_key: &[u8],
        user_data: Option<&[u8]>,
        nonce: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, AttestError> {
        let mut doc = self.0.attest(public_key, user_data, nonce, now_ms)?;
        let n = doc.len();
        doc[n - 10] ^= 1;
        Ok(doc)
    }

    fn kind(&self) -> &'static str {
        "development"
    }
}

#[tokio::test]
async fn tampered_or_foreign_attestation_is_refused_and_nothing_starts() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod")).await.unwrap();
    kms::provision(&client, &e.keys, SystemClock.now_ms())
        .await
        .unwrap();
    let err = kms::open_key_store(
        &client,
        Arc::new(Tampering(e.attestor.clone())),
        &e.keys,
        SystemClock.now_ms(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, KmsError::Service { code, .. } if code == "ValidationException"),
        "{err}"
    );
    // An attestor under another (untrusted) root.
    let other_dir = tempfile::tempdir().unwrap();
    let foreign = Arc::new(
        DevAttestor::load_or_create(other_dir.path(), "enclave-x", SystemClock.now_ms()).unwrap(),
    );
    let err = kms::open_key_store(&client, foreign, &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid attestation document"),
        "{err}"
    );
    assert_eq!(e.kms.decrypts_with_recipient(), 0);
}

#[tokio::test]
async fn unreachable_kms_is_a_clear_error() {
    let _serial = serial().await;
    let tmp = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut s = settings(format!("http://{closed}"), "prod");
    s.timeout = Duration::from_secs(2);
    let client = KmsClient::new(&s).await.unwrap();
    let err = kms::provision(&client, tmp.path(), SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::Unreachable {
                operation: "GenerateDataKey",
                ..
            }
        ),
        "{err}"
    );
    assert!(!tmp.path().join(KEYSET_FILE).exists());
    // Start-up: a provisioned directory, KMS down: no key store, so no enclave.
    std::fs::write(tmp.path().join(DATA_KEY_FILE), b"FAKEKMS1 blob").unwrap();
    let att = Arc::new(DevAttestor::load_or_create(tmp.path(), "e", SystemClock.now_ms()).unwrap());
    let err = kms::open_key_store(&client, att, tmp.path(), SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::Unreachable {
                operation: "Decrypt",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("unreachable"));
}

#[tokio::test]
async fn not_provisioned_is_refused_without_calling_kms() {
    let _serial = serial().await;
    let e = env().await;
    let client = KmsClient::new(&e.settings("prod")).await.unwrap();
    let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::KeySet(zenalyze_enclave::KeySetError::NotProvisioned(_))
        ),
        "{err}"
    );
    assert_eq!(e.kms.signed_requests(), 0);
    assert!(KmsClient::new(&e.settings("Bad Name")).await.is_err());
}

// ---- through the egress proxy, over TLS --------------------------------

async fn start_egress(allow: &str) -> String {
    let mut cfg = zenalyze_egress::ProxyConfig::new(allow.parse().unwrap());
    cfg.deny_private = false;
    let listener = zenalyze_transport::Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_address().unwrap().to_string();
    tokio::spawn(zenalyze_egress::serve(listener, cfg));
    addr
}

#[tokio::test]
async fn through_the_egress_proxy_over_tls() {
    let _serial = serial().await;
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let attestor = Arc::new(
        DevAttestor::load_or_create(tmp.path(), "enclave-egress", SystemClock.now_ms()).unwrap(),
    );
    let fake = FakeKms::start_tls(attestor.root()).await.unwrap();
    let port = fake.addr().port();
    let proxy = start_egress(&format!("localhost:{port}")).await;
    let mut s = settings(fake.endpoint(), "prod");
    s.extra_ca_pem = fake.tls_ca_pem().map(|pem| pem.as_bytes().to_vec());
    s.egress = Some(proxy.parse().unwrap());
    let client = KmsClient::new(&s).await.unwrap();
    let prov = kms::provision(&client, &keys, SystemClock.now_ms())
        .await
        .unwrap();
    let store = kms::open_key_store(&client, attestor.clone(), &keys, SystemClock.now_ms())
        .await
        .unwrap();
    let enclave = EnclaveBuilder::new(&keys, Arc::new(OfflineAnalyzer::new()))
        .attestor(attestor.clone())
        .key_store(store)
        .build()
        .unwrap();
    assert_eq!(enclave.key_config(), prov.key_config);
    assert_eq!(fake.decrypts_with_recipient(), 1);

    // A proxy whose allowlist does not name the KMS endpoint: no way out.
    let closed_proxy = start_egress("kms.eu-west-1.amazonaws.com:443").await;
    let mut s2 = s.clone();
    s2.egress = Some(closed_proxy.parse().unwrap());
    s2.timeout = Duration::from_secs(3);
    let client = KmsClient::new(&s2).await.unwrap();
    let err = kms::open_key_store(&client, attestor.clone(), &keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::Unreachable { .. }), "{err}");
    assert_eq!(fake.decrypts_with_recipient(), 1);

    // Without the test CA the endpoint's certificate is not trusted.
    let mut s3 = s.clone();
    s3.extra_ca_pem = None;
    s3.timeout = Duration::from_secs(3);
    let client = KmsClient::new(&s3).await.unwrap();
    let err = kms::open_key_store(&client, attestor, &keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::Unreachable { .. }), "{err}");
}

// ---- AWS credentials from the parent ------------------------------------

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PARENT_KEY: &str = "ASIAPARENTROLE0001";
const PARENT_SECRET: &str = "parentSECRET/CANARY+9f2b7e11";
const PARENT_TOKEN: &str = "parentTOKEN-CANARY-4c1d";

/// A credentials server on a Unix socket serving static credentials.
async fn start_credentials_server(dir: &std::path::Path) -> zenalyze_transport::Address {
    let address: zenalyze_transport::Address = format!("unix:{}", dir.join("creds.sock").display())
        .parse()
        .unwrap();
    let listener = zenalyze_transport::Listener::bind(&address).await.unwrap();
    let creds = aws_sdk_kms::config::Credentials::new(
        PARENT_KEY,
        PARENT_SECRET,
        Some(PARENT_TOKEN.to_owned()),
        Some(std::time::SystemTime::now() + Duration::from_secs(3600)),
        "test-parent",
    );
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(creds);
    tokio::spawn(zenalyze_enclave::credentials::serve_credentials(
        listener, provider,
    ));
    address
}

#[tokio::test]
async fn credentials_from_the_parent_sign_the_kms_calls() {
    let _serial = serial().await;
    use zenalyze_enclave::credentials::{fetch_credentials, CredentialsError};
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let e = env().await;
    let client = KmsClient::new(&e.settings("prod")).await.unwrap();
    kms::provision(&client, &e.keys, SystemClock.now_ms())
        .await
        .unwrap();
    // From now on KMS accepts only requests signed with the parent's key.
    e.kms.set_access_key(PARENT_KEY);
    let err = kms::open_key_store(&client, e.attestor.clone(), &e.keys, SystemClock.now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied { .. }), "{err}");
    assert!(err.to_string().contains("not SigV4-signed"), "{err}");

    let sock_dir = tempfile::tempdir().unwrap();
    let creds_addr = start_credentials_server(sock_dir.path()).await;
    let creds = fetch_credentials(&creds_addr, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(creds.access_key_id(), PARENT_KEY);
    let mut s = e.settings("prod");
    s.credentials = Some(creds);
    let decrypts = e.kms.decrypts_with_recipient();
    let parent_client = KmsClient::new(&s).await.unwrap();
    drop(s);
    let store = kms::open_key_store(
        &parent_client,
        e.attestor.clone(),
        &e.keys,
        SystemClock.now_ms(),
    )
    .await
    .unwrap();
    drop(parent_client);
    assert_eq!(e.kms.decrypts_with_recipient(), decrypts + 1);
    EnclaveBuilder::new(&e.keys, Arc::new(OfflineAnalyzer::new()))
        .attestor(e.attestor.clone())
        .key_store(store)
        .build()
        .unwrap();

    // An unreachable endpoint: a clear error, quickly.
    let missing: zenalyze_transport::Address =
        format!("unix:{}", sock_dir.path().join("none.sock").display())
            .parse()
            .unwrap();
    let err = fetch_credentials(&missing, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, CredentialsError::Channel { .. }), "{err}");
    assert!(err.to_string().contains("none.sock"), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    // A wrong endpoint that never answers: timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr: zenalyze_transport::Address = format!("tcp:{}", silent.local_addr().unwrap())
        .parse()
        .unwrap();
    let err = fetch_credentials(&silent_addr, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no answer within"), "{err}");
    // A wrong endpoint speaking something else (the fake KMS's HTTP port).
    let http_addr: zenalyze_transport::Address = format!("tcp:{}", e.kms.addr()).parse().unwrap();
    let err = fetch_credentials(&http_addr, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(err, CredentialsError::Malformed { .. }), "{err}");
    // A client with a wrong request gets an error answer, not credentials.
    let mut raw = zenalyze_transport::connect(&creds_addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut answer)
        .await
        .unwrap();
    assert_eq!(answer, b"{\"error\":\"bad request\"}\n");

    // Logs: the exchange is logged, the secret and token never.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("AWS credentials served"), "{logs}");
    assert!(logs.contains("credentials request refused"), "{logs}");
    // The capture includes the SDK's own TRACE logs of the signed Decrypt
    // (they name the access key id, which is not secret); the secret access
    // key and the session token never appear.
    assert!(logs.contains("KMS.Decrypt"), "SDK logs captured");
    assert!(!logs.contains("CANARY"), "{logs}");
}
