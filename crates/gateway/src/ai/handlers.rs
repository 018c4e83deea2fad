//! Handlers of the AI endpoints.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zenalyze_enclave_pool::{Answer, PoolError, SideData};
use zenalyze_store::{AuditResult, RecordId};

use super::Ai;
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::scopes;

/// Request header with the customer backend's plaintext, non-PHI
/// instructions (UTF-8, at most [`MAX_INSTRUCTIONS_BYTES`]).
pub static INSTRUCTIONS_HEADER: HeaderName = HeaderName::from_static("zenalyze-instructions");
/// Request header with the comma-separated ids of stored records whose
/// envelopes the gateway adds beside the seal (at most [`MAX_RECORD_IDS`]).
pub static RECORD_IDS_HEADER: HeaderName = HeaderName::from_static("zenalyze-record-ids");
/// Largest `Zenalyze-Instructions` value: 4 KiB.
pub const MAX_INSTRUCTIONS_BYTES: usize = 4096;
/// Most record ids in one request.
pub const MAX_RECORD_IDS: usize = 64;
/// Smallest attestation challenge, in bytes.
pub const MIN_NONCE_BYTES: usize = 8;
/// Largest attestation challenge, in bytes.
pub const MAX_NONCE_BYTES: usize = 64;

/// Query of `GET /v1/ai/attestation`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttestationQuery {
    /// The client's fresh random challenge: hex, 8 to 64 bytes.
    pub nonce: String,
}

/// An attestation document and the key config it commits to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttestationView {
    /// COSE_Sign1 attestation document, standard base64.
    pub attestation_doc: String,
    /// The 41-byte HPKE key config (RFC 9458 `key_config`), standard base64;
    /// equal to the document's `public_key`.
    pub key_config: String,
    /// Id of the enclave that issued the document.
    pub enclave_id: String,
    /// `development` or `nitro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestor: Option<String>,
}

pub(crate) fn pool_problem(e: &PoolError) -> Problem {
    match e {
        PoolError::NoHealthyEnclave | PoolError::Config(_) => {
            Problem::new(ProblemKind::Unavailable)
                .code("no_healthy_enclave")
                .detail("no AI enclave is available; retry later")
        }
        PoolError::Overloaded => Problem::new(ProblemKind::Unavailable)
            .code("enclaves_overloaded")
            .detail("the AI enclaves are at capacity; retry later"),
        PoolError::Timeout => Problem::new(ProblemKind::Other(StatusCode::GATEWAY_TIMEOUT))
            .code("enclave_timeout")
            .detail("the AI enclave did not answer in time; the request may have run"),
        PoolError::Failed | PoolError::Malformed(_) => {
            Problem::new(ProblemKind::Other(StatusCode::BAD_GATEWAY))
                .code("enclave_failed")
                .detail("the AI enclave exchange failed; the request may have run")
        }
    }
}

fn parse_nonce(text: &str) -> Result<Vec<u8>, Problem> {
    let bad = || {
        Problem::new(ProblemKind::InvalidParameter)
            .detail("nonce must be 8 to 64 bytes in hex (16 to 128 hex digits)")
    };
    if text.len() > MAX_NONCE_BYTES * 2 {
        return Err(bad());
    }
    let bytes = hex::decode(text).map_err(|_| bad())?;
    if !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&bytes.len()) {
        return Err(bad());
    }
    Ok(bytes)
}

/// An attestation document of a healthy enclave for the caller's challenge.
#[utoipa::path(
    get,
    path = "/v1/ai/attestation",
    tag = "ai",
    params(AttestationQuery),
    responses(
        (status = 200, description = "Document and the key config it commits to", body = AttestationView),
        (status = 400, description = "Invalid nonce", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks ai:attestation", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "No healthy enclave", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn attestation(
    Extension(ai): Extension<Ai>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AttestationQuery>,
) -> Result<Response, Problem> {
    caller.require(scopes::AI_ATTESTATION)?;
    let nonce = parse_nonce(&q.nonce)?;
    let answer = ai
        .pool()
        .attestation(&nonce)
        .await
        .map_err(|e| pool_problem(&e))?;
    if answer.status != 200 {
        tracing::warn!(
            status = answer.status,
            enclave = %answer.enclave,
            "enclave refused attestation"
        );
        return Err(pool_problem(&PoolError::Failed));
    }
    let view: AttestationView = serde_json::from_slice(&answer.body)
        .map_err(|_| pool_problem(&PoolError::Malformed("attestation")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    // Validate what we relay: base64 document, a parseable key config.
    let key = b64
        .decode(&view.key_config)
        .map_err(|_| pool_problem(&PoolError::Malformed("key config")))?;
    zenalyze_ehbp::KeyConfig::parse_keys_body(&key)
        .map_err(|_| pool_problem(&PoolError::Malformed("key config")))?;
    b64.decode(&view.attestation_doc)
        .map_err(|_| pool_problem(&PoolError::Malformed("document")))?;
    let mut r = axum::Json(view).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The current HPKE key config of the enclaves (EHBP clients fetch it).
#[utoipa::path(
    get,
    path = "/.well-known/hpke-keys",
    tag = "ai",
    responses(
        (status = 200, description = "One RFC 9458 key_config (41 bytes)", content_type = "application/ohttp-keys"),
        (status = 503, description = "No healthy enclave", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn hpke_keys(Extension(ai): Extension<Ai>) -> Result<Response, Problem> {
    let body = ai.pool().key_config().await.map_err(|e| pool_problem(&e))?;
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(zenalyze_ehbp::KEYS_MEDIA_TYPE),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(r)
}

/// The bare EHBP 400 (never says which step failed).
pub(crate) fn ehbp_bad_request() -> Response {
    let mut r = (
        StatusCode::BAD_REQUEST,
        r#"{"type":"about:blank","title":"bad request","status":400}"#,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(zenalyze_ehbp::PROBLEM_MEDIA_TYPE),
    );
    r
}

/// The `Ehbp-Encapsulated-Key` header: present exactly once, 64 lowercase
/// hex digits.
pub(crate) fn encapsulated_key(headers: &HeaderMap) -> Option<String> {
    let mut values = headers
        .get_all(zenalyze_ehbp::ENCAPSULATED_KEY_HEADER)
        .iter();
    let v = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let s = v.to_str().ok()?;
    zenalyze_ehbp::parse_encapsulated_key(s).ok()?;
    Some(s.to_owned())
}

/// Side data of a request: instructions and record ids from the headers.
pub(crate) fn side_headers(
    headers: &HeaderMap,
) -> Result<(Option<String>, Vec<RecordId>), Problem> {
    let instructions = match headers.get(&INSTRUCTIONS_HEADER) {
        None => None,
        Some(v) => {
            let bytes = v.as_bytes();
            if bytes.len() > MAX_INSTRUCTIONS_BYTES {
                return Err(Problem::new(ProblemKind::ValidationFailed)
                    .detail("Zenalyze-Instructions must be at most 4096 bytes"));
            }
            let text = std::str::from_utf8(bytes).map_err(|_| {
                Problem::new(ProblemKind::InvalidParameter)
                    .detail("Zenalyze-Instructions must be UTF-8 text")
            })?;
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        }
    };
    let mut ids: Vec<RecordId> = Vec::new();
    for v in headers.get_all(&RECORD_IDS_HEADER) {
        let text = v.to_str().map_err(|_| bad_ids())?;
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let id = RecordId::parse(part).map_err(|_| bad_ids())?;
            if !ids.contains(&id) {
                ids.push(id);
            }
            if ids.len() > MAX_RECORD_IDS {
                return Err(Problem::new(ProblemKind::ValidationFailed)
                    .detail("at most 64 record ids per request"));
            }
        }
    }
    Ok((instructions, ids))
}

fn bad_ids() -> Problem {
    Problem::new(ProblemKind::InvalidParameter)
        .detail("Zenalyze-Record-Ids must be a comma-separated list of record ids (rec_…)")
}

/// Fetches the named records of the caller's tenant; a missing or foreign
/// one is audited (`not_found`) and refused with 404.
pub(crate) async fn fetch_records(
    state: &crate::state::AppState,
    caller: &Caller,
    ids: &[RecordId],
) -> Result<(SideData, Vec<(RecordId, zenalyze_store::UserId)>), Problem> {
    let mut side = SideData::default();
    let mut owners = Vec::with_capacity(ids.len());
    for id in ids {
        match state.store().get_record(&caller.tenant_id, id).await? {
            Some(r) => {
                owners.push((id.clone(), r.user_id.clone()));
                side.records.insert(id.to_string(), r.envelope);
            }
            None => {
                let mut draft = caller.audit("ai.analyze")?.resource(id.clone());
                draft.result = AuditResult::NotFound;
                state.store().append_audit(draft).await?;
                return Err(Problem::not_found().detail("no such record"));
            }
        }
    }
    Ok((side, owners))
}

/// The audit result of an enclave answer status.
pub(crate) fn result_of(status: u16) -> AuditResult {
    match status {
        200..=299 => AuditResult::Success,
        429 => AuditResult::RateLimited,
        400..=499 => AuditResult::Invalid,
        _ => AuditResult::Error,
    }
}

/// Audits an AI request: one `ai.analyze` event per record (resource =
/// record id, subject = its user), or one event without a resource. Fails
/// closed.
pub(crate) async fn audit_analyze(
    state: &crate::state::AppState,
    caller: &Caller,
    owners: &[(RecordId, zenalyze_store::UserId)],
    result: AuditResult,
) -> Result<(), Problem> {
    if owners.is_empty() {
        let mut d = caller.audit("ai.analyze")?;
        d.result = result;
        state.store().append_audit(d).await?;
    }
    for (id, user) in owners {
        let mut d = caller.audit("ai.analyze")?.resource(id.clone());
        d.subject = Some(user.clone());
        d.result = result;
        state.store().append_audit(d).await?;
    }
    Ok(())
}

/// The EHBP answer, relayed unchanged: status, `Ehbp-Response-Nonce`,
/// content type and body (streamed, without `Content-Length`).
pub(crate) fn relay(answer: Answer) -> Response {
    let body = answer.body;
    let mut r = Response::new(Body::from_stream(futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(body)
    })));
    *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = r.headers_mut();
    if let Some(ct) = answer
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(n) = answer
        .response_nonce
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        h.insert(zenalyze_ehbp::RESPONSE_NONCE_HEADER, n);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Analyze with an enclave: the body is an EHBP request sealed by the
/// client to the attested key config; the answer is the sealed EHBP answer.
#[utoipa::path(
    post,
    path = "/v1/ai/analyze",
    tag = "ai",
    params(
        ("Ehbp-Encapsulated-Key" = String, Header, description = "HPKE encapsulated key of the sealed body, 64 lowercase hex digits."),
        ("Zenalyze-Instructions" = Option<String>, Header, description = "The customer backend's plaintext, non-PHI instructions (UTF-8, ≤ 4096 bytes); they become the provider's system instructions."),
        ("Zenalyze-Record-Ids" = Option<String>, Header, description = "Comma-separated ids of the caller's stored records (≤ 64) whose envelopes the gateway adds beside the seal; the seal carries their keys."),
        ("Prefer" = Option<String>, Header, description = "`respond-async` answers 202 with a job id."),
        ("Callback-Url" = Option<String>, Header, description = "Webhook URL notified when the job ends (implies asynchronous processing); or the callback_url query parameter."),
        super::jobs::AnalyzeQuery,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "EHBP framed body: chunks of u32 BE length ‖ AES-256-GCM ciphertext."),
    responses(
        (status = 200, description = "Sealed answer (Ehbp-Response-Nonce set); also sealed 4xx/5xx errors from the enclave"),
        (status = 202, description = "Accepted asynchronously: {\"job_id\"}"),
        (status = 400, description = "EHBP framing/crypto failure or invalid side data", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks ai:analyze", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "A named record does not exist", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Stale key config (urn:ietf:params:ehbp:error:key-config)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "No healthy enclave", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn analyze(
    Extension(ai): Extension<Ai>,
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<super::jobs::AnalyzeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(scopes::AI_ANALYZE)?;
    let (asynchronous, callback) = super::jobs::wants_async(&headers, query.callback_url)?;
    let Some(enc) = encapsulated_key(&headers) else {
        return Ok(ehbp_bad_request());
    };
    if body.is_empty() {
        return Ok(ehbp_bad_request());
    }
    let (instructions, ids) = side_headers(&headers)?;
    let (mut side, owners) = fetch_records(&state, &caller, &ids).await?;
    side.instructions = instructions;
    if asynchronous {
        return super::jobs::start(ai, state, caller, callback, enc, body, side, owners).await;
    }
    let answer = match ai.pool().analyze(&enc, &body, &side).await {
        Ok(a) => a,
        Err(e) => {
            audit_analyze(&state, &caller, &owners, AuditResult::Error).await?;
            return Err(pool_problem(&e));
        }
    };
    tracing::info!(
        status = answer.status,
        enclave = %answer.enclave,
        sealed_bytes = body.len(),
        answer_bytes = answer.body.len(),
        records = owners.len(),
        "AI request relayed"
    );
    audit_analyze(&state, &caller, &owners, result_of(answer.status)).await?;
    Ok(relay(answer))
}
