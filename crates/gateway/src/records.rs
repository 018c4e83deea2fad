//! Encrypted records: `POST/GET/DELETE /v1/records…`.
//!
//! The gateway checks that an envelope is a well-formed v1 envelope
//! (structure only — it cannot decrypt it), stores it for the caller's
//! tenant, and audits every access. Another tenant's record id behaves
//! exactly like a nonexistent one.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zenalyze_crypto::envelope;
use zenalyze_store::{
    Cursor, IdempotencyClaim, Mutation, NewRecord, OpaqueId, Outcome, Record, RecordId,
    StoredResponse, UserId, WriteUnit,
};

use crate::auth::Caller;
use crate::extract::{ApiPath, ApiQuery, RawJson};
use crate::keys::sha256;
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::scopes;
use crate::state::AppState;

/// `Idempotency-Key` request header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// `Idempotent-Replayed: true` marks a replayed response.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Body of `POST /v1/records`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecordRequest {
    /// The customer's opaque id of the end user (1–128 characters of
    /// `[A-Za-z0-9._:-]`; never an e-mail or a name).
    #[schema(example = "usr_8f14e45f")]
    pub user_id: String,
    /// The v1 envelope, standard base64 with padding.
    #[schema(example = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub envelope: String,
    /// Non-secret string metadata (never PHI): at most 32 entries, keys
    /// 1–64 characters of `[A-Za-z0-9._:-]`, values ≤512 bytes.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Response of `POST /v1/records`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRecord {
    /// Record id (`rec_…`).
    pub id: String,
    /// The end user.
    pub user_id: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Envelope size in bytes (binary form).
    pub size: u64,
}

/// A stored record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    /// Record id (`rec_…`).
    pub id: String,
    /// The end user.
    pub user_id: String,
    /// The v1 envelope, standard base64 with padding.
    pub envelope: String,
    /// Metadata as stored.
    pub metadata: BTreeMap<String, String>,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordList {
    /// Records, newest first.
    pub records: Vec<RecordView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /v1/records`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this end user's records (recommended).
    pub user_id: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn view(r: Record) -> RecordView {
    RecordView {
        id: r.id.to_string(),
        user_id: r.user_id.to_string(),
        envelope: envelope::encode_base64(&r.envelope),
        metadata: r.metadata,
        created_at: rfc3339(r.created_at),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn parse_user_id(s: &str) -> Result<UserId, Problem> {
    UserId::parse(s).map_err(|_| {
        Problem::new(ProblemKind::ValidationFailed)
            .detail("user_id must be 1 to 128 characters of [A-Za-z0-9._:-] (an opaque id, never an e-mail or a name)")
    })
}

fn validate_metadata(state: &AppState, m: &BTreeMap<String, String>) -> Result<(), Problem> {
    if m.len() > state.limits().metadata_max_entries {
        return Err(
            Problem::new(ProblemKind::ValidationFailed).detail("metadata has too many entries")
        );
    }
    zenalyze_store::model::validate_metadata(m).map_err(|_| {
        Problem::new(ProblemKind::ValidationFailed).detail(
            "metadata keys must be 1 to 64 characters of [A-Za-z0-9._:-] and values at most 512 bytes without control characters",
        )
    })
}

fn decode_envelope(state: &AppState, text: &str) -> Result<Vec<u8>, Problem> {
    // Reject oversize envelopes before decoding them.
    let max_text = state
        .limits()
        .max_envelope_bytes
        .div_ceil(3)
        .saturating_mul(4);
    if text.len() > max_text {
        return Err(Problem::new(ProblemKind::PayloadTooLarge)
            .detail("the envelope exceeds the configured maximum size"));
    }
    let bytes = envelope::decode_base64(text).map_err(|e| {
        Problem::new(ProblemKind::InvalidEnvelope)
            .code(e.code())
            .detail("envelope must be a v1 envelope (version byte 0x01, 12-byte IV, 16-byte tag, ciphertext) in standard base64 with padding")
    })?;
    if bytes.len() > state.limits().max_envelope_bytes {
        return Err(Problem::new(ProblemKind::PayloadTooLarge)
            .detail("the envelope exceeds the configured maximum size"));
    }
    Ok(bytes)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<OpaqueId>, Problem> {
    match headers.get(&IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| OpaqueId::parse(s).ok())
            .map(Some)
            .ok_or_else(|| {
                Problem::new(ProblemKind::InvalidIdempotencyKey)
                    .detail("Idempotency-Key must be 1 to 128 characters of [A-Za-z0-9._:-]")
            }),
    }
}

/// Store an encrypted record.
#[utoipa::path(
    post,
    path = "/v1/records",
    tag = "records",
    request_body = CreateRecordRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key with the same body replays the first response (≤128 chars of [A-Za-z0-9._:-])."),
    ),
    responses(
        (status = 201, description = "Stored", body = CreatedRecord),
        (status = 400, description = "Malformed JSON or header", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks records:write", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Same Idempotency-Key in flight", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "Body or envelope too large", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid envelope, user_id or metadata; or Idempotency-Key reused with another body", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable; nothing stored", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["records:write"]))
)]
pub async fn create_record(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawJson<CreateRecordRequest>,
) -> Result<Response, Problem> {
    caller.require(scopes::RECORDS_WRITE)?;
    let idem = idempotency_key(&headers)?;
    let req = body.value;
    let user_id = parse_user_id(&req.user_id)?;
    let metadata = req.metadata.unwrap_or_default();
    validate_metadata(&state, &metadata)?;
    let envelope_bytes = decode_envelope(&state, &req.envelope)?;
    let new = NewRecord::new(
        caller.tenant_id.clone(),
        user_id.clone(),
        envelope_bytes,
        metadata,
    )
    .map_err(Problem::from)?;

    let store = state.store();
    if let Some(key) = &idem {
        let mut material = Vec::with_capacity(body.bytes.len() + 20);
        material.extend_from_slice(b"POST /v1/records\n");
        material.extend_from_slice(&body.bytes);
        let fingerprint = sha256(&material);
        match store
            .claim_idempotency_key(&caller.tenant_id, key, &fingerprint)
            .await
            .map_err(Problem::from)?
        {
            IdempotencyClaim::Claimed => {}
            IdempotencyClaim::InProgress => {
                return Err(Problem::new(ProblemKind::IdempotencyInProgress).detail(
                    "a request with this Idempotency-Key is still being processed; retry later",
                ))
            }
            IdempotencyClaim::FingerprintMismatch => {
                return Err(Problem::new(ProblemKind::IdempotencyKeyReused)
                    .detail("this Idempotency-Key was used with a different request"))
            }
            IdempotencyClaim::Completed(stored) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
                let mut r = json_response(status, stored.body);
                r.headers_mut().insert(
                    IDEMPOTENT_REPLAYED.clone(),
                    HeaderValue::from_static("true"),
                );
                return Ok(r);
            }
        }
    }

    let audit = caller.audit("records.create")?.subject(user_id);
    let applied = match store
        .apply(WriteUnit::new(Mutation::InsertRecord(new), audit))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            if let Some(key) = &idem {
                if let Err(re) = store.release_idempotency_key(&caller.tenant_id, key).await {
                    tracing::warn!(error = %re, "could not release idempotency key");
                }
            }
            return Err(Problem::from(e));
        }
    };
    let record = match applied.outcome {
        Outcome::RecordInserted(r) => r,
        _ => {
            if let Some(key) = &idem {
                let _ = store.release_idempotency_key(&caller.tenant_id, key).await;
            }
            return Err(Problem::not_found().detail("the tenant of this key no longer exists"));
        }
    };
    let created = CreatedRecord {
        id: record.id.to_string(),
        user_id: record.user_id.to_string(),
        created_at: rfc3339(record.created_at),
        size: record.size,
    };
    let body = serde_json::to_vec(&created).map_err(|_| Problem::internal())?;
    if let Some(key) = &idem {
        let stored = StoredResponse {
            status: StatusCode::CREATED.as_u16(),
            body: body.clone(),
        };
        if let Err(e) = store
            .complete_idempotency_key(&caller.tenant_id, key, &stored)
            .await
        {
            tracing::warn!(error = %e, "could not store the idempotent response");
        }
    }
    let mut response = json_response(StatusCode::CREATED, body);
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/records/{}", record.id)) {
        response.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(response)
}

/// List records (newest first).
#[utoipa::path(
    get,
    path = "/v1/records",
    tag = "records",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of records", body = RecordList),
        (status = 400, description = "Invalid query parameter or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks records:read", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["records:read"]))
)]
pub async fn list_records(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    caller.require(scopes::RECORDS_READ)?;
    let limits = state.limits();
    let limit = q.limit.unwrap_or(limits.list_default_limit);
    if limit == 0 || limit > limits.list_max_limit {
        return Err(Problem::new(ProblemKind::InvalidParameter)
            .detail(format!("limit must be 1 to {}", limits.list_max_limit)));
    }
    let user = q.user_id.as_deref().map(parse_user_id).transpose()?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c).map_err(|_| {
                Problem::new(ProblemKind::InvalidParameter)
                    .detail("cursor is not a next_cursor returned by this API")
            })
        })
        .transpose()?;
    let audit = caller.audit("records.list")?;
    let page = state
        .store()
        .list_records_audited(
            &caller.tenant_id,
            user.as_ref(),
            limit,
            cursor.as_ref(),
            audit,
        )
        .await
        .map_err(Problem::from)?;
    let list = RecordList {
        records: page.records.into_iter().map(view).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    };
    let body = serde_json::to_vec(&list).map_err(|_| Problem::internal())?;
    Ok(json_response(StatusCode::OK, body))
}

fn parse_record_id(id: &str) -> Result<RecordId, Problem> {
    RecordId::parse(id).map_err(|_| Problem::not_found().detail("no such record"))
}

/// Fetch one record.
#[utoipa::path(
    get,
    path = "/v1/records/{id}",
    tag = "records",
    params(("id" = String, Path, description = "Record id (rec_…)")),
    responses(
        (status = 200, description = "The record", body = RecordView),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks records:read", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such record for this tenant", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["records:read"]))
)]
pub async fn get_record(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(scopes::RECORDS_READ)?;
    let id = parse_record_id(&id)?;
    let audit = caller.audit("records.get")?;
    let record = state
        .store()
        .get_record_audited(&caller.tenant_id, &id, audit)
        .await
        .map_err(Problem::from)?
        .ok_or_else(|| Problem::not_found().detail("no such record"))?;
    let body = serde_json::to_vec(&view(record)).map_err(|_| Problem::internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// Delete one record.
#[utoipa::path(
    delete,
    path = "/v1/records/{id}",
    tag = "records",
    params(("id" = String, Path, description = "Record id (rec_…)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks records:delete", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such record for this tenant", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable; nothing deleted", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["records:delete"]))
)]
pub async fn delete_record(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(scopes::RECORDS_DELETE)?;
    let id = parse_record_id(&id)?;
    let audit = caller.audit("records.delete")?;
    let applied = state
        .store()
        .apply(WriteUnit::new(
            Mutation::DeleteRecord {
                tenant_id: caller.tenant_id.clone(),
                record_id: id,
            },
            audit,
        ))
        .await
        .map_err(Problem::from)?;
    match applied.outcome {
        Outcome::RecordDeleted => Ok(StatusCode::NO_CONTENT.into_response()),
        _ => Err(Problem::not_found().detail("no such record")),
    }
}

/// The records routes, with their body limit.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_record, list_records))
        .routes(routes!(get_record, delete_record))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.limits().records_body_bytes(),
        ))
}
