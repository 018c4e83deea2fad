//! A client for the enclave API, for the gateway (and `zenalyze dev`): it
//! reaches one enclave over any transport (vsock, unix, tcp), fetches its key
//! config and attestation, checks its health and relays sealed AI requests
//! with the gateway's side data through `POST /internal/v1/analyze`.
//!
//! It never opens anything: it carries ciphertext and non-PHI side data only.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zenalyze_transport::{Address, Connector};

use crate::INTERNAL_ANALYZE_PATH;

/// Largest answer body the client accepts (sealed answers included).
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Client failures (no content).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The enclave could not be reached or the exchange failed.
    #[error("enclave unreachable or exchange failed: {0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("enclave did not answer in time")]
    Timeout,
    /// The answer was too large or malformed.
    #[error("malformed enclave answer: {0}")]
    Malformed(&'static str),
}

/// What the gateway sends beside the client's sealed request.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SideData {
    /// The customer backend's non-PHI instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Stored v1 envelopes (base64) by record id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub records: BTreeMap<String, String>,
}

/// An answer to relay to the client unchanged (status, EHBP nonce header,
/// content type, body).
#[derive(Debug, Clone)]
pub struct RelayedAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Ehbp-Response-Nonce`, present on sealed answers.
    pub response_nonce: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Body (ciphertext for sealed answers; problem JSON otherwise).
    pub body: Bytes,
}

/// A client of one enclave.
#[derive(Clone, Debug)]
pub struct EnclaveClient {
    client: Client<Connector, Full<Bytes>>,
    address: Address,
    timeout: Duration,
}

impl EnclaveClient {
    /// A client of the enclave at `address`, with a whole-exchange timeout.
    pub fn new(address: Address, timeout: Duration) -> Self {
        let client = Client::builder(TokioExecutor::new()).build(Connector::new(address.clone()));
        Self {
            client,
            address,
            timeout,
        }
    }

    /// The enclave's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    async fn exchange(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<RelayedAnswer, ClientError> {
        let fut = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let status = res.status().as_u16();
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let response_nonce = header(zenalyze_ehbp::RESPONSE_NONCE_HEADER);
            let content_type = header("content-type");
            let body = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| ClientError::Malformed("answer body too large or broken"))?
                .to_bytes();
            Ok(RelayedAnswer {
                status,
                response_nonce,
                content_type,
                body,
            })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    fn get(path: &str) -> Result<http::Request<Full<Bytes>>, ClientError> {
        http::Request::get(format!("http://enclave{path}"))
            .body(Full::new(Bytes::new()))
            .map_err(|_| ClientError::Malformed("invalid request path"))
    }

    /// `GET /.well-known/hpke-keys`: the raw key config.
    pub async fn key_config(&self) -> Result<zenalyze_ehbp::KeyConfig, ClientError> {
        let a = self.exchange(Self::get(zenalyze_ehbp::KEYS_PATH)?).await?;
        if a.status != 200 {
            return Err(ClientError::Malformed("key config not served"));
        }
        zenalyze_ehbp::KeyConfig::parse(&a.body).map_err(|_| ClientError::Malformed("key config"))
    }

    /// `GET /attestation?nonce=HEX`, relayed as is.
    pub async fn attestation(&self, nonce: &[u8]) -> Result<RelayedAnswer, ClientError> {
        self.exchange(Self::get(&format!(
            "/attestation?nonce={}",
            hex::encode(nonce)
        ))?)
        .await
    }

    /// `GET /health`: `Ok` with the health JSON when the enclave is ready.
    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        let a = self.exchange(Self::get("/health")?).await?;
        if a.status != 200 {
            return Err(ClientError::Malformed("enclave not healthy"));
        }
        serde_json::from_slice(&a.body).map_err(|_| ClientError::Malformed("health JSON"))
    }

    /// Relays a client's EHBP request (`Ehbp-Encapsulated-Key` value and
    /// framed body, untouched) with the gateway's side data.
    pub async fn analyze(
        &self,
        encapsulated_key: &str,
        sealed_body: &[u8],
        side: &SideData,
    ) -> Result<RelayedAnswer, ClientError> {
        let outer = serde_json::json!({
            "encapsulated_key": encapsulated_key,
            "sealed_body": base64::engine::general_purpose::STANDARD.encode(sealed_body),
            "instructions": side.instructions,
            "records": side.records,
        });
        let req = http::Request::post(format!("http://enclave{INTERNAL_ANALYZE_PATH}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(outer.to_string())))
            .map_err(|_| ClientError::Malformed("invalid request"))?;
        self.exchange(req).await
    }
}
