//! A loopback fake of AWS KMS, for tests only (`publish = false`).
//!
//! It replaces AWS itself in the tests of the enclave's production key set
//! (`zenalyze-enclave` with `kms`, `zenalyze enclave provision-keyset`,
//! `zenalyze enclave --keyset kms`), which call it with the real
//! `aws-sdk-kms` through an endpoint override. What it fakes, and what it
//! checks:
//!
//! * KMS's JSON 1.1 wire protocol: `POST /` with
//!   `Content-Type: application/x-amz-json-1.1` and
//!   `X-Amz-Target: TrentService.GenerateDataKey` or
//!   `TrentService.Decrypt`; errors are KMS's `{"__type", "message"}`
//!   bodies with status 400 (`SerializationException`,
//!   `IncompleteSignatureException`, `AccessDeniedException`,
//!   `NotFoundException`, `ValidationException`,
//!   `InvalidCiphertextException`, `UnknownOperationException`).
//! * A SigV4-shaped `Authorization` header (`AWS4-HMAC-SHA256
//!   Credential=AKID/DATE/REGION/kms/aws4_request, SignedHeaders=…,
//!   Signature=<64 hex>` plus `X-Amz-Date`), signed with the expected
//!   access key id ([`ACCESS_KEY`] unless changed with
//!   [`FakeKms::set_access_key`]) for [`REGION`]. The signature itself is
//!   not recomputed.
//! * One key, [`KEY_ARN`]. `GenerateDataKey` (`KeySpec: AES_256`) returns a
//!   fresh data key and a blob (`FAKEKMS1` ‖ nonce ‖ AES-256-GCM under a
//!   per-instance master key, the encryption context as AAD), so a blob
//!   opens only with the same encryption context on the same fake.
//! * A key policy requiring attestation on `Decrypt`: a `Recipient` with
//!   `KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256` and an attestation
//!   document verified with the development root given at start (debug
//!   documents allowed). The answer is `CiphertextForRecipient`, the data
//!   key sealed to the document's `public_key` with
//!   `zenalyze-kms-recipient`'s encoder (indefinite-length BER, as KMS
//!   writes it), never `Plaintext`.
//! * Error modes ([`Mode`]) to test the enclave's refusals: plaintext
//!   answers, a recipient answer sealed to another key, a truncated answer,
//!   access denied for everything.
//!
//! [`FakeKms::start`] serves plain HTTP on `127.0.0.1`;
//! [`FakeKms::start_tls`] serves HTTPS for `localhost` with a fresh
//! self-signed certificate (its PEM in [`FakeKms::tls_ca_pem`]). Both serve
//! on the calling Tokio runtime until it shuts down.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use zenalyze_attestation::dev::DevRoot;
use zenalyze_attestation::Policy;
use zenalyze_kms_recipient::encode::{seal_for_recipient, Form};
use zenalyze_kms_recipient::RecipientKey;

/// The only key the fake knows (`KeyId` of every request).
pub const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/0f9c2e8a-zenalyze-test";
/// The region requests must be signed for.
pub const REGION: &str = "eu-west-1";
/// The access key id requests must be signed with, by default.
pub const ACCESS_KEY: &str = "AKIDZENALYZETEST";
/// A secret access key to go with [`ACCESS_KEY`] (the fake does not
/// recompute signatures, so any secret is accepted).
pub const SECRET_KEY: &str = "zenalyze-test-secret";

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KMS as it behaves for an attested enclave.
    Normal,
    /// Answers `Plaintext` and no `CiphertextForRecipient`.
    PlaintextInstead,
    /// Answers both.
    PlaintextAndRecipient,
    /// Seals `CiphertextForRecipient` to another RSA key.
    WrongRecipient,
    /// Truncates `CiphertextForRecipient`.
    TruncatedAnswer,
    /// Refuses every (signed) request with `AccessDeniedException` (key
    /// policy without this principal).
    DenyAll,
}

struct Fake {
    master: LessSafeKey,
    policy: Policy,
    mode: Mutex<Mode>,
    /// The access key id requests must be signed with.
    access_key: Mutex<String>,
    signed_requests: AtomicUsize,
    decrypts_with_recipient: AtomicUsize,
}

/// The lock's value, even if a panicking test thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn kms_error(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": code, "message": message}).to_string(),
    )
        .into_response()
}

fn internal(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": "KMSInternalException", "message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/kms/aws4_request,
/// SignedHeaders=…, Signature=<64 hex>`.
fn sigv4_shaped(headers: &HeaderMap, access_key: &str) -> bool {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return false;
    };
    let parts: BTreeMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    let cred_ok = parts.get("Credential").is_some_and(|c| {
        let f: Vec<&str> = c.split('/').collect();
        f.len() == 5
            && f[0] == access_key
            && f[1].len() == 8
            && f[2] == REGION
            && f[3] == "kms"
            && f[4] == "aws4_request"
    });
    let signed_ok = parts.get("SignedHeaders").is_some_and(|h| {
        h.split(';').any(|x| x == "host") && h.split(';').any(|x| x == "x-amz-date")
    });
    let sig_ok = parts
        .get("Signature")
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    cred_ok && signed_ok && sig_ok && headers.contains_key("x-amz-date")
}

fn context_aad(ctx: &Value) -> Option<Vec<u8>> {
    let map: BTreeMap<String, String> = serde_json::from_value(ctx.clone()).ok()?;
    serde_json::to_vec(&map).ok()
}

async fn handle(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: String) -> Response {
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-amz-json-1.1")
    {
        return kms_error("SerializationException", "wrong content type");
    }
    let access_key = lock(&fake.access_key).clone();
    if !sigv4_shaped(&headers, &access_key) {
        return kms_error("IncompleteSignatureException", "not SigV4-signed");
    }
    fake.signed_requests.fetch_add(1, Ordering::SeqCst);
    let mode = *lock(&fake.mode);
    if mode == Mode::DenyAll {
        return kms_error(
            "AccessDeniedException",
            "User is not authorized to perform kms:Decrypt (test policy)",
        );
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return kms_error("SerializationException", "bad JSON");
    };
    if req["KeyId"] != KEY_ARN {
        return kms_error("NotFoundException", "key not found");
    }
    let Some(aad) = context_aad(&req["EncryptionContext"]) else {
        return kms_error("ValidationException", "bad encryption context");
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match target {
        "TrentService.GenerateDataKey" => generate_data_key(&fake, &req, &aad),
        "TrentService.Decrypt" => decrypt(&fake, &req, &aad, mode),
        _ => kms_error("UnknownOperationException", target),
    }
}

fn generate_data_key(fake: &Fake, req: &Value, aad: &[u8]) -> Response {
    if req["KeySpec"] != "AES_256" {
        return kms_error("ValidationException", "KeySpec");
    }
    let mut dk = [0u8; 32];
    let mut nonce = [0u8; 12];
    if aws_lc_rs::rand::fill(&mut dk).is_err() || aws_lc_rs::rand::fill(&mut nonce).is_err() {
        return internal("no randomness");
    }
    let mut ct = dk.to_vec();
    if fake
        .master
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut ct)
        .is_err()
    {
        return internal("sealing failed");
    }
    let blob = [b"FAKEKMS1".as_slice(), &nonce, &ct].concat();
    ok(json!({
        "KeyId": KEY_ARN,
        "CiphertextBlob": B64.encode(blob),
        "Plaintext": B64.encode(dk),
    }))
}

fn decrypt(fake: &Fake, req: &Value, aad: &[u8], mode: Mode) -> Response {
    let blob = req["CiphertextBlob"]
        .as_str()
        .and_then(|b| B64.decode(b).ok())
        .unwrap_or_default();
    let Some(rest) = blob.strip_prefix(b"FAKEKMS1".as_slice()) else {
        return kms_error("InvalidCiphertextException", "not a ciphertext blob");
    };
    if rest.len() < 12 {
        return kms_error("InvalidCiphertextException", "short");
    }
    let (nonce, ct) = rest.split_at(12);
    let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
        return kms_error("InvalidCiphertextException", "short");
    };
    let mut buf = ct.to_vec();
    let Ok(dk) = fake.master.open_in_place(nonce, Aad::from(aad), &mut buf) else {
        return kms_error("InvalidCiphertextException", "");
    };
    let dk = dk.to_vec();
    // Key policy: only attested enclaves (dev root, debug allowed here).
    let recipient = &req["Recipient"];
    if recipient.is_null() {
        return kms_error(
            "AccessDeniedException",
            "attestation required by key policy",
        );
    }
    if recipient["KeyEncryptionAlgorithm"] != "RSAES_OAEP_SHA_256" {
        return kms_error("ValidationException", "KeyEncryptionAlgorithm");
    }
    let doc = recipient["AttestationDocument"]
        .as_str()
        .and_then(|d| B64.decode(d).ok())
        .unwrap_or_default();
    let verified = match zenalyze_attestation::verify(&doc, &fake.policy, None, now_ms()) {
        Ok(v) => v,
        Err(e) => {
            return kms_error(
                "ValidationException",
                &format!("invalid attestation document: {e}"),
            )
        }
    };
    let Some(spki) = verified.public_key else {
        return kms_error("ValidationException", "no public key in attestation");
    };
    fake.decrypts_with_recipient.fetch_add(1, Ordering::SeqCst);
    let cfr = match mode {
        Mode::WrongRecipient => match RecipientKey::generate() {
            Ok(other) => seal_for_recipient(other.public_key_der(), &dk, Form::IndefiniteBer),
            Err(_) => return internal("no RSA key"),
        },
        _ => seal_for_recipient(&spki, &dk, Form::IndefiniteBer),
    };
    let Ok(mut cfr) = cfr else {
        return kms_error("ValidationException", "public key is not RSA");
    };
    let body = match mode {
        Mode::PlaintextInstead => json!({"KeyId": KEY_ARN, "Plaintext": B64.encode(&dk)}),
        Mode::PlaintextAndRecipient => json!({
            "KeyId": KEY_ARN,
            "Plaintext": B64.encode(&dk),
            "CiphertextForRecipient": B64.encode(&cfr),
        }),
        Mode::TruncatedAnswer => {
            cfr.truncate(cfr.len().saturating_sub(3));
            json!({"KeyId": KEY_ARN, "CiphertextForRecipient": B64.encode(&cfr)})
        }
        _ => json!({
            "KeyId": KEY_ARN,
            "CiphertextForRecipient": B64.encode(&cfr),
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }),
    };
    ok(body)
}

fn io_error(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_owned())
}

fn new_fake(dev_root: &DevRoot) -> std::io::Result<Arc<Fake>> {
    let mut master = [0u8; 32];
    aws_lc_rs::rand::fill(&mut master).map_err(|_| io_error("no randomness"))?;
    let master = UnboundKey::new(&AES_256_GCM, &master).map_err(|_| io_error("master key"))?;
    Ok(Arc::new(Fake {
        master: LessSafeKey::new(master),
        policy: dev_root.development_policy(),
        mode: Mutex::new(Mode::Normal),
        access_key: Mutex::new(ACCESS_KEY.to_owned()),
        signed_requests: AtomicUsize::new(0),
        decrypts_with_recipient: AtomicUsize::new(0),
    }))
}

fn router(fake: Arc<Fake>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .with_state(fake)
}

/// A running fake KMS (see the [crate] documentation). It serves on the
/// Tokio runtime it was started on, until that runtime shuts down.
pub struct FakeKms {
    fake: Arc<Fake>,
    addr: SocketAddr,
    tls_ca_pem: Option<String>,
}

impl FakeKms {
    /// Starts a fake KMS over plain HTTP on an ephemeral port of
    /// `127.0.0.1`, trusting attestation documents of `dev_root`. Must be
    /// called within a Tokio runtime.
    pub async fn start(dev_root: &DevRoot) -> std::io::Result<Self> {
        let fake = new_fake(dev_root)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            fake,
            addr,
            tls_ca_pem: None,
        })
    }

    /// Starts a fake KMS over HTTPS on an ephemeral port of `127.0.0.1`,
    /// with a fresh self-signed certificate for `localhost` (its PEM in
    /// [`tls_ca_pem`](Self::tls_ca_pem)), trusting attestation documents
    /// of `dev_root`. Must be called within a Tokio runtime.
    pub async fn start_tls(dev_root: &DevRoot) -> std::io::Result<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::service::TowerToHyperService;
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(|e| io_error(&format!("certificate: {e}")))?;
        let cert_pem = ck.cert.pem();
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der())
            .map_err(|e| io_error(&format!("certificate key: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| io_error(&format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key_der)
        .map_err(|e| io_error(&format!("TLS certificate: {e}")))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = new_fake(dev_root)?;
        let app = router(fake.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        Ok(Self {
            fake,
            addr,
            tls_ca_pem: Some(cert_pem),
        })
    }

    /// The listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for the SDK's endpoint override:
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` when started
    /// with [`start_tls`](Self::start_tls).
    pub fn endpoint(&self) -> String {
        match self.tls_ca_pem {
            None => format!("http://{}", self.addr),
            Some(_) => format!("https://localhost:{}", self.addr.port()),
        }
    }

    /// The PEM certificate to trust for [`start_tls`](Self::start_tls)
    /// (`None` for plain HTTP).
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls_ca_pem.as_deref()
    }

    /// Changes how the fake answers from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.fake.mode) = mode;
    }

    /// Changes the access key id requests must be signed with (initially
    /// [`ACCESS_KEY`]); others are refused with
    /// `IncompleteSignatureException`.
    pub fn set_access_key(&self, access_key: &str) {
        *lock(&self.fake.access_key) = access_key.to_owned();
    }

    /// Requests that passed the signature shape check so far (whatever
    /// the answer).
    pub fn signed_requests(&self) -> usize {
        self.fake.signed_requests.load(Ordering::SeqCst)
    }

    /// `Decrypt` requests with a valid recipient attestation document so
    /// far (each answered in the current [`Mode`]).
    pub fn decrypts_with_recipient(&self) -> usize {
        self.fake.decrypts_with_recipient.load(Ordering::SeqCst)
    }
}
