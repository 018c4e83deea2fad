//! Client-side AI through the Zenalyze gateway (cargo feature `ai`).
//!
//! Every [`ZenalyzeAi::analyze`] call follows one sequence, and nothing
//! leaves the device unsealed:
//!
//! 1. fetch `GET /v1/ai/attestation?nonce=…` with a fresh random 32-byte
//!    challenge;
//! 2. verify the document against the [`Policy`] with
//!    [`zenalyze_attestation::verify`] (production: the pinned AWS Nitro
//!    root and the allowed PCR sets; development: the development root's
//!    fingerprint with `allow_debug`) — fail closed;
//! 3. check that the key config served beside the document equals the one
//!    the document commits to in `public_key` (otherwise nothing is sealed);
//! 4. seal the request (prompt, inputs, record keys) with EHBP
//!    (`zenalyze-ehbp`) to that key config;
//! 5. `POST /v1/ai/analyze`, with the ids of the stored records to add in
//!    `Zenalyze-Record-Ids` (the gateway adds their envelopes beside the
//!    seal; only the keys travel inside it);
//! 6. open the sealed answer with this request's response context.
//!
//! On a `422 urn:ietf:params:ehbp:error:key-config` answer (the key rotated
//! between attestation and request) it attests again once and retries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use zenalyze_client::ai::{Input, Policy, TrustedRoot, ZenalyzeAi};
//! use zenalyze_client::ZenalyzeEncryption;
//!
//! // Development: pin the development root printed by `zenalyze dev`.
//! let root = TrustedRoot::from_sha256_hex("5f1c…")?;
//! let ai = ZenalyzeAi::new("http://127.0.0.1:8080", "zk_pub_…", Policy::development(root))?;
//!
//! let me = ZenalyzeEncryption::new("ada@example.com", "correct horse")?;
//! let analysis = ai
//!     .analyze(
//!         "How did my week go?",
//!         vec![Input::text("A free-text note"), Input::record("rec_123", &me)],
//!     )
//!     .await?;
//! println!("{}: {}", analysis.provider, analysis.output);
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zenalyze_ehbp::{EhbpError, KeyConfig, ResponseContext};
use zeroize::Zeroizing;

pub use zenalyze_attestation::{MeasurementSet, Policy, TrustedRoot, VerifyError};

use crate::ZenalyzeEncryption;

/// Size of the attestation challenge, in bytes.
pub const NONCE_LEN: usize = 32;
/// Plaintext bytes per sealed chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Largest sealed chunk accepted in an answer.
pub const MAX_ANSWER_CHUNK: u32 = 16 * 1024 * 1024;
/// Request header with the customer backend's non-PHI instructions.
pub const INSTRUCTIONS_HEADER: &str = "zenalyze-instructions";
/// Request header with the ids of the stored records to add.
pub const RECORD_IDS_HEADER: &str = "zenalyze-record-ids";

/// What can go wrong (never carries content).
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// The base URL or API key is unusable.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The gateway could not be reached or the exchange broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The attestation document failed verification (fail closed).
    #[error("attestation refused: {0}")]
    Attestation(#[from] VerifyError),
    /// The served key config differs from the one the document commits to.
    #[error("the key config does not match the attested one")]
    KeyConfigMismatch,
    /// The document commits to no key config.
    #[error("the attestation document carries no key config")]
    NoAttestedKey,
    /// The gateway answered with an error (problem document outside the seal).
    #[error("gateway error {status}: {problem_type}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The problem `type`.
        problem_type: String,
        /// The problem `detail`, if any (written by the server).
        detail: Option<String>,
    },
    /// The enclave answered with a sealed error (opened here).
    #[error("enclave error {status}: {code}")]
    Enclave {
        /// HTTP status.
        status: u16,
        /// Error code (`invalid_request`, `record_open_failed`, …).
        code: String,
        /// Message (from inside the seal; may name a field).
        message: String,
    },
    /// EHBP sealing or opening failed.
    #[error("EHBP: {0}")]
    Ehbp(#[from] EhbpError),
    /// An answer did not have the expected shape.
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
    /// A stored record input's key could not be encoded.
    #[error("record input: {0}")]
    Input(&'static str),
}

/// One input of an analysis.
pub enum Input<'a> {
    /// Free text.
    Text(String),
    /// Any JSON value.
    Json(serde_json::Value),
    /// Binary data with its media type.
    Bytes {
        /// Media type, e.g. `image/png`.
        media_type: String,
        /// The data.
        data: Vec<u8>,
    },
    /// A record stored at the gateway, opened inside the enclave with this
    /// user's key (the only key shared, and only inside the seal).
    Record {
        /// The record id (`rec_…`).
        record_id: String,
        /// The user whose key opens it.
        owner: &'a ZenalyzeEncryption,
    },
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Text(t) => write!(f, "Input::Text(len={})", t.len()),
            Input::Json(_) => f.write_str("Input::Json(..)"),
            Input::Bytes { media_type, data } => {
                write!(f, "Input::Bytes({media_type}, len={})", data.len())
            }
            Input::Record { record_id, .. } => write!(f, "Input::Record({record_id})"),
        }
    }
}

impl<'a> Input<'a> {
    /// A text input.
    pub fn text(text: impl Into<String>) -> Self {
        Input::Text(text.into())
    }

    /// A JSON input.
    pub fn json(value: serde_json::Value) -> Self {
        Input::Json(value)
    }

    /// A binary input.
    pub fn bytes(media_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Input::Bytes {
            media_type: media_type.into(),
            data: data.into(),
        }
    }

    /// A stored record, opened in the enclave with `owner`'s key.
    pub fn record(record_id: impl Into<String>, owner: &'a ZenalyzeEncryption) -> Self {
        Input::Record {
            record_id: record_id.into(),
            owner,
        }
    }
}

/// Optional parts of a request.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Model name (provider default when `None`).
    pub model: Option<String>,
    /// Most output tokens.
    pub max_tokens: Option<u32>,
    /// Non-PHI instructions sent in clear beside the seal
    /// (`Zenalyze-Instructions`, ≤ 4 KiB). Typically set by a backend.
    pub instructions: Option<String>,
}

/// Token usage reported by the provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Usage {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// The opened answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Analysis {
    /// `offline`, `openai-compatible` or `anthropic`.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The answer: a string for LLMs, an object for the offline analyzer.
    pub output: serde_json::Value,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Time spent in the enclave, in milliseconds.
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    /// A note from the provider.
    #[serde(default)]
    pub note: Option<String>,
}

/// A verified attestation: the enclave and the key config it commits to.
#[derive(Debug, Clone)]
pub struct Attested {
    /// The key config to seal to (equal to the document's `public_key`).
    pub key_config: KeyConfig,
    /// The enclave that issued the document.
    pub enclave_id: String,
    /// The verified document.
    pub document: zenalyze_attestation::VerifiedDocument,
}

#[derive(Deserialize)]
struct AttestationView {
    attestation_doc: String,
    key_config: String,
    enclave_id: String,
}

#[derive(Deserialize)]
struct ProblemView {
    #[serde(rename = "type", default)]
    problem_type: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Deserialize)]
struct SealedError {
    error: SealedErrorBody,
}

#[derive(Deserialize)]
struct SealedErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// The AI client: attests, seals, sends, opens.
pub struct ZenalyzeAi {
    http: reqwest::Client,
    base_url: String,
    api_key: Zeroizing<String>,
    policy: Policy,
}

impl fmt::Debug for ZenalyzeAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZenalyzeAi")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn transport(e: reqwest::Error) -> AiError {
    // reqwest errors name the URL, never a body.
    AiError::Transport(e.without_url().to_string())
}

impl ZenalyzeAi {
    /// A client of the gateway at `base_url` (e.g. `https://api.zenalyze.dev`)
    /// with an API key (a publishable `zk_pub_…` key is enough) verifying
    /// attestation with `policy`.
    pub fn new(base_url: &str, api_key: &str, policy: Policy) -> Result<Self, AiError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(180))
            .build()
            .map_err(|_| AiError::Config("HTTP client"))?;
        Self::with_http_client(http, base_url, api_key, policy)
    }

    /// Like [`ZenalyzeAi::new`] with a caller-configured `reqwest` client.
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        api_key: &str,
        policy: Policy,
    ) -> Result<Self, AiError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(AiError::Config("base URL must be http(s)"));
        }
        if api_key.is_empty() || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AiError::Config("API key"));
        }
        Ok(Self {
            http,
            base_url: base.to_owned(),
            api_key: Zeroizing::new(api_key.to_owned()),
            policy,
        })
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.api_key.as_str())
    }

    async fn problem(res: reqwest::Response) -> AiError {
        let status = res.status().as_u16();
        let body = res.bytes().await.unwrap_or_default();
        let p: Option<ProblemView> = serde_json::from_slice(&body).ok();
        AiError::Api {
            status,
            problem_type: p
                .as_ref()
                .and_then(|p| p.problem_type.clone())
                .unwrap_or_else(|| "about:blank".into()),
            detail: p.and_then(|p| p.detail),
        }
    }

    /// Steps 1–3: fetches an attestation for a fresh challenge, verifies it
    /// against the policy and checks the served key config against the one
    /// the document commits to.
    pub async fn attest(&self) -> Result<Attested, AiError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| AiError::Config("random source"))?;
        let url = format!(
            "{}/v1/ai/attestation?nonce={}",
            self.base_url,
            hex::encode(nonce)
        );
        let res = self
            .http
            .get(url)
            .header("authorization", self.auth())
            .send()
            .await
            .map_err(transport)?;
        if res.status().as_u16() != 200 {
            return Err(Self::problem(res).await);
        }
        let body = res.bytes().await.map_err(transport)?;
        let view: AttestationView =
            serde_json::from_slice(&body).map_err(|_| AiError::Malformed("attestation JSON"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = b64
            .decode(&view.attestation_doc)
            .map_err(|_| AiError::Malformed("attestation_doc"))?;
        let served = b64
            .decode(&view.key_config)
            .map_err(|_| AiError::Malformed("key_config"))?;
        let document = zenalyze_attestation::verify(&doc, &self.policy, Some(&nonce), now_ms())?;
        let committed = document
            .public_key
            .as_deref()
            .ok_or(AiError::NoAttestedKey)?;
        let committed =
            KeyConfig::parse_keys_body(committed).map_err(|_| AiError::NoAttestedKey)?;
        let served = KeyConfig::parse_keys_body(&served).map_err(|_| AiError::KeyConfigMismatch)?;
        if served != committed {
            return Err(AiError::KeyConfigMismatch);
        }
        Ok(Attested {
            key_config: committed,
            enclave_id: view.enclave_id,
            document,
        })
    }

    /// Analyzes `inputs` with `prompt` (see the module docs for the
    /// sequence).
    pub async fn analyze(&self, prompt: &str, inputs: Vec<Input<'_>>) -> Result<Analysis, AiError> {
        self.analyze_with(prompt, inputs, &AnalyzeOptions::default())
            .await
    }

    /// [`ZenalyzeAi::analyze`] with a model, a token limit or instructions.
    pub async fn analyze_with(
        &self,
        prompt: &str,
        inputs: Vec<Input<'_>>,
        options: &AnalyzeOptions,
    ) -> Result<Analysis, AiError> {
        let (plaintext, record_ids) = request_body(prompt, &inputs, options)?;
        let mut attested = self.attest().await?;
        let mut retried = false;
        loop {
            match self
                .send(&attested.key_config, &plaintext, &record_ids, options)
                .await
            {
                Err(AiError::Api {
                    status: 422,
                    problem_type,
                    ..
                }) if problem_type == zenalyze_ehbp::KEY_CONFIG_PROBLEM_TYPE && !retried => {
                    retried = true;
                    attested = self.attest().await?;
                }
                other => return other,
            }
        }
    }

    async fn send(
        &self,
        config: &KeyConfig,
        plaintext: &[u8],
        record_ids: &[String],
        options: &AnalyzeOptions,
    ) -> Result<Analysis, AiError> {
        let (sealed, ctx): (_, ResponseContext) =
            zenalyze_ehbp::seal_request(config, plaintext, CHUNK_SIZE)?;
        let mut req = self
            .http
            .post(format!("{}/v1/ai/analyze", self.base_url))
            .header("authorization", self.auth())
            .header("content-type", "application/octet-stream")
            .header(
                zenalyze_ehbp::ENCAPSULATED_KEY_HEADER,
                sealed.encapsulated_key_hex.as_str(),
            );
        if !record_ids.is_empty() {
            req = req.header(RECORD_IDS_HEADER, record_ids.join(","));
        }
        if let Some(i) = &options.instructions {
            req = req.header(INSTRUCTIONS_HEADER, i.as_str());
        }
        let res = req.body(sealed.body).send().await.map_err(transport)?;
        let status = res.status().as_u16();
        let nonce = res
            .headers()
            .get(zenalyze_ehbp::RESPONSE_NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(nonce) = nonce else {
            return Err(Self::problem(res).await);
        };
        let body = res.bytes().await.map_err(transport)?;
        let opened = ctx.open_response(&nonce, &body, MAX_ANSWER_CHUNK)?;
        if status == 200 {
            return serde_json::from_slice(&opened).map_err(|_| AiError::Malformed("answer JSON"));
        }
        let e: SealedError =
            serde_json::from_slice(&opened).map_err(|_| AiError::Malformed("sealed error"))?;
        Err(AiError::Enclave {
            status,
            code: e.error.code,
            message: e.error.message,
        })
    }
}

/// The sealed body's JSON (zeroized on drop) and the record ids to name.
fn request_body(
    prompt: &str,
    inputs: &[Input<'_>],
    options: &AnalyzeOptions,
) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), AiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ids = Vec::new();
    let mut items = Vec::with_capacity(inputs.len());
    for i in inputs {
        items.push(match i {
            Input::Text(t) => serde_json::json!({"kind": "text", "text": t}),
            Input::Json(v) => serde_json::json!({"kind": "json", "value": v}),
            Input::Bytes { media_type, data } => {
                serde_json::json!({"kind": "bytes", "media_type": media_type, "data": b64.encode(data)})
            }
            Input::Record { record_id, owner } => {
                if record_id.is_empty() || record_id.contains(',') {
                    return Err(AiError::Input("record id"));
                }
                if !ids.contains(record_id) {
                    ids.push(record_id.clone());
                }
                let key = Zeroizing::new(b64.encode(owner.key().expose_secret()));
                serde_json::json!({"kind": "record", "record_id": record_id, "key": key.as_str()})
            }
        });
    }
    let mut body = serde_json::json!({"prompt": prompt, "inputs": items});
    if let Some(m) = &options.model {
        body["model"] = m.clone().into();
    }
    if let Some(t) = options.max_tokens {
        body["max_tokens"] = t.into();
    }
    let bytes =
        Zeroizing::new(serde_json::to_vec(&body).map_err(|_| AiError::Input("request JSON"))?);
    zeroize_json(body);
    Ok((bytes, ids))
}

/// Overwrites every string of a JSON value before dropping it.
fn zeroize_json(mut v: serde_json::Value) {
    use zeroize::Zeroize;
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => s.zeroize(),
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_shape_and_record_ids() {
        let me = ZenalyzeEncryption::from_key(zenalyze_crypto::UserKey::from_bytes([7u8; 32]));
        let (body, ids) = request_body(
            "p",
            &[
                Input::text("t"),
                Input::record("rec_1", &me),
                Input::record("rec_1", &me),
                Input::bytes("image/png", vec![1, 2]),
            ],
            &AnalyzeOptions {
                max_tokens: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids, vec!["rec_1".to_owned()]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["inputs"][1]["kind"], "record");
        assert_eq!(
            v["inputs"][1]["key"],
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        assert_eq!(v["inputs"][3]["data"], "AQI=");
        assert_eq!(v["max_tokens"], 5);
        assert!(request_body("p", &[Input::record("a,b", &me)], &Default::default()).is_err());
    }

    #[test]
    fn config_checks() {
        let p = Policy::development(TrustedRoot::from_sha256([1u8; 32]));
        assert!(ZenalyzeAi::new("ftp://x", "zk_pub_a", p.clone()).is_err());
        assert!(ZenalyzeAi::new("http://x", "bad key", p.clone()).is_err());
        let ai = ZenalyzeAi::new("http://x/", "zk_pub_a", p).unwrap();
        assert!(!format!("{ai:?}").contains("zk_pub_a"));
    }
}
