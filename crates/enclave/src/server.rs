//! The enclave's HTTP API (axum).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use zenalyze_ai_providers::{Provider, ProviderError};
use zenalyze_ehbp::framing::DEFAULT_MAX_CHUNK_LEN;
use zenalyze_ehbp::{
    key_config_problem_json, open_request, random_response_nonce, Code, KeyConfig,
    ENCAPSULATED_KEY_HEADER, KEYS_MEDIA_TYPE, PROBLEM_MEDIA_TYPE, RESPONSE_NONCE_HEADER,
};
use zeroize::Zeroizing;

use crate::attest::Attestor;
use crate::body::{build_request, BodyError, SideData};
use crate::keyset::{KeySet, KeyStore};
use crate::metrics::{memory, Metrics};
use crate::schedule::ScheduledKeys;
use crate::Clock;

/// Plaintext bytes per sealed response chunk.
pub const RESPONSE_CHUNK: usize = 16 * 1024;
/// Time allowed to receive a request body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Time allowed for a whole request (provider calls included); on expiry
/// the handler is dropped, which zeroizes its plaintext.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Largest accepted attestation challenge (bytes).
pub const MAX_NONCE_LEN: usize = 512;

/// Shared state of one enclave process.
pub(crate) struct AppState {
    pub keys: Keys,
    pub attestor: Arc<dyn Attestor>,
    pub provider: Arc<dyn Provider>,
    pub clock: Arc<dyn Clock>,
    pub enclave_id: String,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    pub seq: AtomicU64,
    /// Bounds the requests holding plaintext at once.
    pub permits: tokio::sync::Semaphore,
}

/// Where the enclave's HPKE keys come from.
pub(crate) enum Keys {
    /// A v1 key set rotated by re-sealing it in a (shared) data directory:
    /// development, and production key sets provisioned before key schedules.
    Rotating {
        set: RwLock<KeySet>,
        store: KeyStore,
        grace_ms: u64,
        rotation_ms: u64,
    },
    /// A v2 key schedule: epoch keys derived from the provisioned seed.
    Scheduled(ScheduledKeys),
}

impl Keys {
    pub fn current_config(&self, now_ms: u64) -> KeyConfig {
        match self {
            Keys::Rotating { set, .. } => match set.read() {
                Ok(k) => k.current.key.key_config(),
                Err(p) => p.into_inner().current.key.key_config(),
            },
            Keys::Scheduled(s) => s.current_config(now_ms),
        }
    }

    /// Opens an EHBP request with the keys live at `now_ms`.
    pub fn open(
        &self,
        now_ms: u64,
        enc: &str,
        body: &[u8],
    ) -> Result<zenalyze_ehbp::OpenedRequest, zenalyze_ehbp::EhbpError> {
        match self {
            Keys::Rotating { set, grace_ms, .. } => {
                let keys = match set.read() {
                    Ok(k) => k,
                    Err(p) => p.into_inner(),
                };
                open_request(
                    keys.live_keys(now_ms, *grace_ms),
                    enc,
                    body,
                    DEFAULT_MAX_CHUNK_LEN,
                )
            }
            Keys::Scheduled(s) => s.with_live_keys(now_ms, |keys| {
                open_request(keys, enc, body, DEFAULT_MAX_CHUNK_LEN)
            }),
        }
    }
}

impl AppState {
    pub fn current_config(&self) -> KeyConfig {
        self.keys.current_config(self.clock.now_ms())
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route(zenalyze_ehbp::KEYS_PATH, get(keys))
        .route("/attestation", get(attestation))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/analyze", post(analyze))
        .route("/internal/v1/analyze", post(analyze_internal))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_READ_TIMEOUT,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(DefaultBodyLimit::max(
            limit.saturating_mul(2).saturating_add(64 * 1024),
        ))
        .with_state(state)
}

async fn keys(State(s): State<Arc<AppState>>) -> Response {
    let cfg = s.current_config().encode();
    (
        [
            (header::CONTENT_TYPE, KEYS_MEDIA_TYPE),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        cfg.to_vec(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AttestQuery {
    nonce: Option<String>,
}

async fn attestation(State(s): State<Arc<AppState>>, Query(q): Query<AttestQuery>) -> Response {
    let nonce = match q.nonce.as_deref().map(hex::decode) {
        Some(Ok(n)) if !n.is_empty() && n.len() <= MAX_NONCE_LEN => n,
        _ => {
            s.metrics
                .requests
                .with_label_values(&["attestation", "bad_nonce"])
                .inc();
            return problem(
                StatusCode::BAD_REQUEST,
                "about:blank",
                "nonce must be 1..=512 bytes of hex",
            );
        }
    };
    let cfg = s.current_config().encode();
    let now = s.clock.now_ms();
    let attestor = s.attestor.clone();
    let cfg_vec = cfg.to_vec();
    let doc =
        tokio::task::spawn_blocking(move || attestor.attest(&cfg_vec, None, &nonce, now)).await;
    match doc {
        Ok(Ok(doc)) => {
            s.metrics
                .requests
                .with_label_values(&["attestation", "ok"])
                .inc();
            let b64 = base64::engine::general_purpose::STANDARD;
            Json(serde_json::json!({
                "attestation_doc": b64.encode(doc),
                "key_config": b64.encode(cfg),
                "enclave_id": s.enclave_id,
                "attestor": s.attestor.kind(),
            }))
            .into_response()
        }
        _ => {
            s.metrics
                .requests
                .with_label_values(&["attestation", "error"])
                .inc();
            tracing::error!("attestation document could not be issued");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "attestation unavailable",
            )
        }
    }
}

async fn health(State(s): State<Arc<AppState>>) -> Response {
    let cfg = s.current_config();
    Json(serde_json::json!({
        "status": "ok",
        "enclave_id": s.enclave_id,
        "attestor": s.attestor.kind(),
        "provider": s.provider.name(),
        "key_id": cfg.key_id(),
        "requests_in_flight": s.metrics.in_flight.get(),
        "memory": memory(),
    }))
    .into_response()
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

fn problem(status: StatusCode, kind: &str, title: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_MEDIA_TYPE)],
        serde_json::json!({"type": kind, "title": title, "status": status.as_u16()}).to_string(),
    )
        .into_response()
}

/// The answer to a request that failed before a response context existed:
/// 422 key-config problem, or a bare 400 that does not say which step failed.
fn open_failure(code: Code) -> Response {
    if code == Code::KeyConfigMismatch {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, PROBLEM_MEDIA_TYPE)],
            key_config_problem_json(),
        )
            .into_response()
    } else {
        problem(StatusCode::BAD_REQUEST, "about:blank", "bad request")
    }
}

fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut it = headers.get_all(name).iter();
    let first = it.next()?;
    if it.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

async fn analyze(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(enc) = single_header(&headers, ENCAPSULATED_KEY_HEADER) else {
        s.metrics
            .requests
            .with_label_values(&["analyze", "not_ehbp"])
            .inc();
        return open_failure(Code::InvalidEncapsulatedKey);
    };
    if body.len() > s.max_body_bytes {
        return open_failure(Code::ChunkTooLarge);
    }
    process(&s, "analyze", enc, &body, &SideData::default()).await
}

/// Outer JSON of the internal endpoint the gateway uses: the EHBP request
/// (encapsulated key + framed body, untouched) and the side data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InternalRequest {
    encapsulated_key: String,
    sealed_body: String,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    records: std::collections::BTreeMap<String, String>,
}

async fn analyze_internal(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<InternalRequest>(&body) else {
        s.metrics
            .requests
            .with_label_values(&["analyze_internal", "bad_outer"])
            .inc();
        return problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            "outer request does not match the schema",
        );
    };
    let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(req.sealed_body.as_bytes())
    else {
        return open_failure(Code::FramingTruncated);
    };
    if sealed.len() > s.max_body_bytes {
        return open_failure(Code::ChunkTooLarge);
    }
    let side = SideData {
        instructions: req.instructions,
        records: req.records,
    };
    process(
        &s,
        "analyze_internal",
        &req.encapsulated_key,
        &sealed,
        &side,
    )
    .await
}

fn error_answer(code: &str, message: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        serde_json::json!({"error": {"code": code, "message": message}})
            .to_string()
            .into_bytes(),
    )
}

fn body_error_status(e: &BodyError) -> StatusCode {
    match e {
        BodyError::Schema(_) | BodyError::BytesData(_) | BodyError::MaxTokens => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn provider_error_status(e: &ProviderError) -> StatusCode {
    match e {
        ProviderError::InputRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ProviderError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ProviderError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ProviderError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

async fn process(
    s: &AppState,
    endpoint: &'static str,
    enc: &str,
    body: &[u8],
    side: &SideData,
) -> Response {
    // Plaintext exists only while a permit is held: this bounds its memory.
    let Ok(_permit) = s.permits.acquire().await else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "about:blank",
            "shutting down",
        );
    };
    let request_id = s.seq.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let now = s.clock.now_ms();
    let opened = s.keys.open(now, enc, body);
    s.metrics
        .open_seconds
        .observe(started.elapsed().as_secs_f64());
    let opened = match opened {
        Ok(o) => o,
        Err(e) => {
            let outcome = if e.code() == Code::KeyConfigMismatch {
                "key_config"
            } else {
                "bad_request"
            };
            s.metrics
                .requests
                .with_label_values(&[endpoint, outcome])
                .inc();
            tracing::info!(
                request_id,
                endpoint,
                body_len = body.len(),
                class = e.code().as_str(),
                "EHBP request refused"
            );
            return open_failure(e.code());
        }
    };
    s.metrics.in_flight.inc();
    let plaintext_opened = Instant::now();
    let zenalyze_ehbp::OpenedRequest {
        plaintext,
        key_id,
        response: response_ctx,
    } = opened;
    let plaintext_len = plaintext.len();
    let mut provider_elapsed = None;

    // Everything holding plaintext lives in this block and is zeroized on drop.
    let (status, outcome, sealed) = {
        let built = build_request(&plaintext, side);
        drop(plaintext);
        let (status, outcome, answer) = match built {
            Err(e) => (
                body_error_status(&e),
                e.code(),
                error_answer(e.code(), &e.to_string()),
            ),
            Ok(req) => {
                let t = Instant::now();
                let result = s.provider.analyze(&req).await;
                provider_elapsed = Some(t.elapsed());
                drop(req);
                match result {
                    Ok(analysis) => match analysis.to_json_bytes() {
                        Ok(json) => (StatusCode::OK, "ok", json),
                        Err(_) => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "encode_error",
                            error_answer("internal", "answer could not be encoded"),
                        ),
                    },
                    Err(e) => (
                        provider_error_status(&e),
                        "provider_error",
                        error_answer("provider_error", &e.to_string()),
                    ),
                }
            }
        };
        let sealed = random_response_nonce().and_then(|nonce| {
            response_ctx
                .seal_response(&nonce, &answer, RESPONSE_CHUNK)
                .map(|b| (nonce, b))
        });
        drop(answer);
        drop(response_ctx);
        (status, outcome, sealed)
    };
    let lifetime = plaintext_opened.elapsed();
    s.metrics.plaintext_lifetime.observe(lifetime.as_secs_f64());
    if let Some(p) = provider_elapsed {
        s.metrics.provider_seconds.observe(p.as_secs_f64());
    }
    s.metrics.in_flight.dec();
    s.metrics
        .requests
        .with_label_values(&[endpoint, outcome])
        .inc();
    tracing::info!(
        request_id,
        endpoint,
        key_id,
        body_len = body.len(),
        plaintext_len,
        status = status.as_u16(),
        outcome,
        provider_ms = provider_elapsed.map(|d| d.as_millis() as u64),
        plaintext_lifetime_us = lifetime.as_micros() as u64,
        total_us = started.elapsed().as_micros() as u64,
        "EHBP request served"
    );
    match sealed {
        Ok((nonce, body)) => {
            let mut res = Response::new(Body::from_stream(futures_util::stream::once(async {
                Ok::<_, std::convert::Infallible>(Bytes::from(body))
            })));
            *res.status_mut() = status;
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&hex::encode(nonce)) {
                h.insert(RESPONSE_NONCE_HEADER, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => {
            tracing::error!(request_id, "response sealing failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "internal error",
            )
        }
    }
}
