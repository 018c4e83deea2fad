//! Key Management Service endpoints (SPEC §3, docs/kms.md):
//! `POST /v1/encrypt`, `/v1/decrypt`, `/v1/rewrap`, `/v1/blind-index`
//! (single or batch), `POST /v1/keyrings/{name}/rotate` (scope `admin`),
//! and the operator's keyring administration under
//! `/v1/admin/tenants/{id}/keyrings`.
//!
//! Plug in with `AppBuilder::routes(kms_routes::router(kms))`; the
//! [`zenalyze_kms::Kms`] service travels as a request extension.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zenalyze_kms::format::{FormatError, DEFAULT_INDEX_BITS};
use zenalyze_kms::service::MAX_BATCH;
use zenalyze_kms::{CiphertextItem, EncryptItem, Kms, KmsError, Op, RootError};
use zenalyze_store::{
    Actor, Keyring, KeyringName, KeyringSettings, KeyringUpdate, OpaqueId, TenantId,
};
use zeroize::Zeroizing;

use crate::auth::{Admin, Caller};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{Problem, ProblemDocument, ProblemKind, PROBLEM_BASE, PROBLEM_CONTENT_TYPE};
use crate::records::rfc3339;
use crate::scopes;
use crate::state::{AppState, CheckStatus, HealthCheck};

/// Longest accepted batch `reference`.
pub const MAX_REFERENCE_LEN: usize = 256;

// ----------------------------------------------------------- problems --

/// A KMS problem: a standard gateway kind or a KMS-specific type.
#[derive(Debug, Clone)]
pub struct KmsProblem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: &'static str,
    code: Option<&'static str>,
}

impl KmsProblem {
    fn std(kind: ProblemKind, detail: &'static str, code: Option<&'static str>) -> Self {
        KmsProblem {
            status: kind.status(),
            slug: kind.slug(),
            title: kind.title(),
            detail,
            code,
        }
    }

    fn custom(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: &'static str,
    ) -> Self {
        KmsProblem {
            status,
            slug,
            title,
            detail,
            code: None,
        }
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The problem document (with the current request id).
    pub fn document(&self) -> ProblemDocument {
        ProblemDocument {
            r#type: format!("{PROBLEM_BASE}{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: Some(self.detail.to_owned()),
            code: self.code.map(str::to_owned),
            request_id: crate::request_id::current(),
        }
    }
}

impl IntoResponse for KmsProblem {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.document())).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        r
    }
}

impl From<Problem> for KmsProblem {
    fn from(p: Problem) -> Self {
        let kind = p.kind();
        // Keep the kind with a fixed detail for it.
        let detail: &'static str = match kind {
            ProblemKind::Unavailable => {
                "a dependency is unavailable; the request was not applied, retry later"
            }
            ProblemKind::Forbidden => {
                "this API key lacks the scope for this operation on this keyring"
            }
            ProblemKind::NotFound => "no such keyring",
            _ => "the request could not be processed",
        };
        KmsProblem::std(kind, detail, None)
    }
}

/// Maps a KMS error to its problem (never a 500 for caller mistakes).
pub fn problem_for(e: &KmsError) -> KmsProblem {
    use ProblemKind as K;
    match e {
        KmsError::InvalidName => KmsProblem::std(
            K::ValidationFailed,
            "keyring name must match [a-z0-9][a-z0-9-]{0,63}",
            Some("invalid_keyring_name"),
        ),
        KmsError::InvalidSettings(_) => KmsProblem::std(
            K::ValidationFailed,
            "auto_rotate_period_seconds must be from 3600 (1 hour) to 10 years; min_decryption_version at least 1",
            Some("invalid_settings"),
        ),
        KmsError::NotFound => KmsProblem::std(K::NotFound, "no such keyring", None),
        KmsError::Exists => KmsProblem::std(K::Conflict, "a keyring with this name already exists", Some("keyring_exists")),
        KmsError::DeletionNotAllowed => KmsProblem::std(
            K::Conflict,
            "deletion is not allowed for this keyring; set deletion_allowed to true first",
            Some("deletion_not_allowed"),
        ),
        KmsError::MinVersionTooHigh => KmsProblem::std(
            K::Conflict,
            "min_decryption_version cannot exceed the primary version",
            Some("min_version_above_primary"),
        ),
        KmsError::ConcurrentRotation => KmsProblem::std(
            K::Conflict,
            "another rotation happened at the same time; retry",
            Some("concurrent_rotation"),
        ),
        KmsError::Format(f) => format_problem(*f),
        KmsError::UnknownVersion => KmsProblem::custom(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-key-version",
            "Unknown key version",
            "the ciphertext names a key version this keyring does not have",
        ),
        KmsError::VersionRetired => KmsProblem::custom(
            StatusCode::UNPROCESSABLE_ENTITY,
            "key-version-retired",
            "Key version retired",
            "the ciphertext's key version is below the keyring's min_decryption_version; it no longer decrypts",
        ),
        KmsError::Root(r) => {
            let code = match r {
                RootError::Unavailable(_) => "root_unavailable",
                RootError::WrongRoot => "wrong_root",
                RootError::UnwrapFailed => "unwrap_failed",
                RootError::KeyFile { .. } => "root_key_file",
                RootError::Random => "random",
            };
            tracing::error!(error = %r, "root of trust failure");
            KmsProblem::custom(
                StatusCode::SERVICE_UNAVAILABLE,
                "kms-unavailable",
                "Key management unavailable",
                "the root of trust could not provide the keyring's keys; nothing was encrypted or decrypted, retry later",
            )
            .code(code)
        }
        KmsError::Store(_) => {
            tracing::error!(error = %e, "store failure in a key operation");
            KmsProblem::std(
                K::Unavailable,
                "a dependency is unavailable; the request was not applied, retry later",
                None,
            )
        }
    }
}

fn format_problem(f: FormatError) -> KmsProblem {
    use ProblemKind as K;
    let invalid_ct = |code, detail| {
        KmsProblem::custom(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-ciphertext",
            "Invalid ciphertext",
            detail,
        )
        .code(code)
    };
    match f {
        FormatError::Malformed => invalid_ct("malformed", "ciphertext must be zen:v<N>:<base64url without padding>"),
        FormatError::BadBase64 => invalid_ct("invalid_base64", "the ciphertext body is not unpadded base64url"),
        FormatError::TooShort => invalid_ct("too_short", "the ciphertext is shorter than IV and tag"),
        FormatError::TooLarge => KmsProblem::std(K::ValidationFailed, "the value exceeds 64 KiB", Some("too_large")),
        FormatError::ContextTooLarge => {
            KmsProblem::std(K::ValidationFailed, "context exceeds 1024 bytes", Some("context_too_large"))
        }
        FormatError::BadIndexBits => KmsProblem::std(
            K::ValidationFailed,
            "bits must be a multiple of 8 from 32 to 256",
            Some("invalid_bits"),
        ),
        FormatError::DecryptionFailed => KmsProblem::custom(
            StatusCode::UNPROCESSABLE_ENTITY,
            "decryption-failed",
            "Decryption failed",
            "the ciphertext does not decrypt with this tenant, keyring and context (or was altered)",
        ),
        FormatError::UnwrapFailed | FormatError::Crypto => KmsProblem::custom(
            StatusCode::SERVICE_UNAVAILABLE,
            "kms-unavailable",
            "Key management unavailable",
            "the root of trust could not provide the keyring's keys; nothing was encrypted or decrypted, retry later",
        ),
    }
}

fn bad_base64(field: &'static str) -> KmsProblem {
    KmsProblem::std(
        ProblemKind::ValidationFailed,
        match field {
            "context" => "context must be standard base64",
            "value" => "value must be standard base64",
            _ => "plaintext must be standard base64",
        },
        Some("invalid_base64"),
    )
}

fn b64(s: &str, field: &'static str) -> Result<Zeroizing<Vec<u8>>, KmsProblem> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(Zeroizing::new)
        .map_err(|_| bad_base64(field))
}

fn b64_opt(s: &Option<String>) -> Result<Option<Vec<u8>>, KmsProblem> {
    s.as_deref()
        .map(|c| b64(c, "context").map(|z| z.to_vec()))
        .transpose()
}

// ------------------------------------------------------------ schemas --

/// Body of `POST /v1/encrypt`: one `plaintext`, or a `batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    /// Keyring name, e.g. `encrypt-email`.
    #[schema(example = "encrypt-email")]
    pub keyring: String,
    /// Standard base64 of the plaintext (≤ 64 KiB); not with `batch`.
    pub plaintext: Option<String>,
    /// Standard base64 of a context bound into the associated data (≤ 1 KiB); not with `batch`.
    pub context: Option<String>,
    /// Up to 1000 items.
    pub batch: Option<Vec<EncryptBatchItem>>,
}

impl Drop for EncryptRequest {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(p) = &mut self.plaintext {
            p.zeroize();
        }
    }
}

/// One item of an encrypt batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptBatchItem {
    /// Standard base64 of the plaintext.
    pub plaintext: String,
    /// Standard base64 of the context.
    pub context: Option<String>,
    /// Echoed in the result (≤ 256 bytes).
    pub reference: Option<String>,
}

impl Drop for EncryptBatchItem {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.plaintext.zeroize();
    }
}

/// Body of `POST /v1/decrypt` and `POST /v1/rewrap`: one `ciphertext`, or a `batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiphertextRequest {
    /// Keyring name.
    pub keyring: String,
    /// `zen:v<N>:…`; not with `batch`.
    pub ciphertext: Option<String>,
    /// Standard base64 of the context used at encryption; not with `batch`.
    pub context: Option<String>,
    /// Up to 1000 items.
    pub batch: Option<Vec<CiphertextBatchItem>>,
}

/// One item of a decrypt or rewrap batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiphertextBatchItem {
    /// `zen:v<N>:…`.
    pub ciphertext: String,
    /// Standard base64 of the context.
    pub context: Option<String>,
    /// Echoed in the result (≤ 256 bytes).
    pub reference: Option<String>,
}

/// Body of `POST /v1/blind-index`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlindIndexRequest {
    /// Keyring name.
    pub keyring: String,
    /// Standard base64 of the value (e.g. a normalised e-mail address).
    pub value: String,
    /// Index length in bits: a multiple of 8 from 32 to 256 (default 128).
    pub bits: Option<u16>,
}

impl Drop for BlindIndexRequest {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.value.zeroize();
    }
}

/// Response of a single encryption or rewrap.
#[derive(Serialize, ToSchema)]
pub struct CiphertextResponse {
    /// `zen:v<N>:…`.
    #[schema(example = "zen:v3:2k9c…")]
    pub ciphertext: String,
    /// The key version used (the keyring's primary).
    pub key_version: u32,
}

/// Response of a single decryption.
#[derive(Serialize, ToSchema)]
pub struct PlaintextResponse {
    /// Standard base64 of the plaintext.
    pub plaintext: String,
}

impl Drop for PlaintextResponse {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.plaintext.zeroize();
    }
}

/// Response of a blind index.
#[derive(Serialize, ToSchema)]
pub struct BlindIndexResponse {
    /// Lowercase hex, `bits / 4` characters.
    pub index: String,
}

/// One result of a batch: the item's result or its problem (`error`).
#[derive(Serialize, ToSchema)]
pub struct BatchItemResult {
    /// The item's `reference`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Encrypt, rewrap: the ciphertext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Encrypt, rewrap: the key version used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// Decrypt: standard base64 of the plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
    /// The item's problem (RFC 9457 members) when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ProblemDocument>,
}

impl Drop for BatchItemResult {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(p) = &mut self.plaintext {
            p.zeroize();
        }
    }
}

/// Response of a batch: one result per item, in input order.
#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    /// Results in input order.
    pub batch: Vec<BatchItemResult>,
}

// ------------------------------------------------------------ helpers --

fn kms_caller(caller: &Caller) -> Result<zenalyze_kms::Caller, KmsProblem> {
    Ok(zenalyze_kms::Caller {
        tenant: caller.tenant_id.clone(),
        actor: Actor::ApiKey(caller.key_id.clone()),
        request_id: OpaqueId::parse(&caller.request_id)
            .map_err(|_| KmsProblem::from(Problem::internal()))?,
    })
}

async fn authorize(
    kms: &Kms,
    caller: &Caller,
    op: Op,
    keyring: &str,
) -> Result<zenalyze_kms::Caller, KmsProblem> {
    let kc = kms_caller(caller)?;
    if !scopes::allows_kms(&caller.scopes, op.scope_word(), keyring) {
        kms.audit_denied(&kc, op, keyring)
            .await
            .map_err(|e| problem_for(&e))?;
        return Err(KmsProblem::std(
            ProblemKind::Forbidden,
            "this API key lacks the scope for this operation on this keyring",
            None,
        ));
    }
    Ok(kc)
}

fn check_batch_len(n: usize) -> Result<(), KmsProblem> {
    if n == 0 {
        return Err(KmsProblem::std(
            ProblemKind::ValidationFailed,
            "batch must hold at least one item",
            Some("empty_batch"),
        ));
    }
    if n > MAX_BATCH {
        return Err(KmsProblem::std(
            ProblemKind::PayloadTooLarge,
            "batch holds more than 1000 items",
            Some("batch_too_large"),
        ));
    }
    Ok(())
}

fn check_reference(r: &Option<String>) -> Result<(), KmsProblem> {
    match r {
        Some(r) if r.len() > MAX_REFERENCE_LEN => Err(KmsProblem::std(
            ProblemKind::ValidationFailed,
            "reference must be at most 256 bytes",
            Some("reference_too_long"),
        )),
        _ => Ok(()),
    }
}

fn single_or_batch_error() -> KmsProblem {
    KmsProblem::std(
        ProblemKind::ValidationFailed,
        "send either a single item (plaintext/ciphertext with optional context) or a batch, not both",
        Some("single_or_batch"),
    )
}

fn error_item(reference: Option<String>, p: KmsProblem) -> BatchItemResult {
    BatchItemResult {
        reference,
        ciphertext: None,
        key_version: None,
        plaintext: None,
        error: Some(p.document()),
    }
}

// ------------------------------------------------------------ handlers --

/// Encrypt metadata with a platform keyring (single or batch).
#[utoipa::path(
    post,
    path = "/v1/encrypt",
    tag = "kms",
    request_body = EncryptRequest,
    responses(
        (status = 200, description = "Single: `CiphertextResponse`; batch: `BatchResponse`", body = CiphertextResponse),
        (status = 403, description = "The key lacks kms:encrypt for this keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "Batch over 1000 items", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Root of trust or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn encrypt(
    Extension(kms): Extension<Arc<Kms>>,
    caller: Caller,
    ApiJson(req): ApiJson<EncryptRequest>,
) -> Result<Response, KmsProblem> {
    let kc = authorize(&kms, &caller, Op::Encrypt, &req.keyring).await?;
    match (&req.plaintext, &req.batch) {
        (Some(p), None) => {
            let item = EncryptItem {
                plaintext: b64(p, "plaintext")?,
                context: b64_opt(&req.context)?,
            };
            let mut r = kms
                .encrypt(&kc, &req.keyring, vec![item])
                .await
                .map_err(|e| problem_for(&e))?;
            let sealed = r
                .pop()
                .ok_or_else(|| KmsProblem::from(Problem::internal()))?
                .map_err(|e| problem_for(&e))?;
            Ok(Json(CiphertextResponse {
                ciphertext: sealed.ciphertext,
                key_version: sealed.key_version,
            })
            .into_response())
        }
        (None, Some(batch)) if req.context.is_none() => {
            check_batch_len(batch.len())?;
            let mut items = Vec::with_capacity(batch.len());
            let mut pre: Vec<Option<KmsProblem>> = Vec::with_capacity(batch.len());
            for it in batch {
                check_reference(&it.reference)?;
                match (b64(&it.plaintext, "plaintext"), b64_opt(&it.context)) {
                    (Ok(plaintext), Ok(context)) => {
                        items.push(EncryptItem { plaintext, context });
                        pre.push(None);
                    }
                    (Err(p), _) | (_, Err(p)) => pre.push(Some(p)),
                }
            }
            let mut results = kms
                .encrypt(&kc, &req.keyring, items)
                .await
                .map_err(|e| problem_for(&e))?
                .into_iter();
            let mut out = Vec::with_capacity(batch.len());
            for (it, p) in batch.iter().zip(pre) {
                let reference = it.reference.clone();
                out.push(match p {
                    Some(p) => error_item(reference, p),
                    None => match results.next() {
                        Some(Ok(s)) => BatchItemResult {
                            reference,
                            ciphertext: Some(s.ciphertext),
                            key_version: Some(s.key_version),
                            plaintext: None,
                            error: None,
                        },
                        Some(Err(e)) => error_item(reference, problem_for(&e)),
                        None => error_item(reference, KmsProblem::from(Problem::internal())),
                    },
                });
            }
            Ok(Json(BatchResponse { batch: out }).into_response())
        }
        _ => Err(single_or_batch_error()),
    }
}

async fn ciphertext_op(
    kms: &Kms,
    caller: &Caller,
    req: &CiphertextRequest,
    op: Op,
) -> Result<Response, KmsProblem> {
    let kc = authorize(kms, caller, op, &req.keyring).await?;
    let (items, refs, pre): (
        Vec<CiphertextItem>,
        Vec<Option<String>>,
        Vec<Option<KmsProblem>>,
    ) = match (&req.ciphertext, &req.batch) {
        (Some(c), None) => (
            vec![CiphertextItem {
                ciphertext: c.clone(),
                context: b64_opt(&req.context)?,
            }],
            vec![None],
            vec![None],
        ),
        (None, Some(batch)) if req.context.is_none() => {
            check_batch_len(batch.len())?;
            let mut items = Vec::new();
            let mut refs = Vec::new();
            let mut pre = Vec::new();
            for it in batch {
                check_reference(&it.reference)?;
                refs.push(it.reference.clone());
                match b64_opt(&it.context) {
                    Ok(context) => {
                        items.push(CiphertextItem {
                            ciphertext: it.ciphertext.clone(),
                            context,
                        });
                        pre.push(None);
                    }
                    Err(p) => pre.push(Some(p)),
                }
            }
            (items, refs, pre)
        }
        _ => return Err(single_or_batch_error()),
    };
    let single = req.batch.is_none();
    let mut out: Vec<BatchItemResult> = Vec::with_capacity(refs.len());
    match op {
        Op::Decrypt => {
            let mut results = kms
                .decrypt(&kc, &req.keyring, &items)
                .await
                .map_err(|e| problem_for(&e))?
                .into_iter();
            for (reference, p) in refs.into_iter().zip(pre) {
                out.push(
                    match p.map(Err).unwrap_or_else(|| {
                        results
                            .next()
                            .unwrap_or(Err(KmsError::UnknownVersion))
                            .map_err(|e| problem_for(&e))
                    }) {
                        Ok(plain) => BatchItemResult {
                            reference,
                            ciphertext: None,
                            key_version: None,
                            plaintext: Some(
                                base64::engine::general_purpose::STANDARD.encode(plain.as_slice()),
                            ),
                            error: None,
                        },
                        Err(p) => error_item(reference, p),
                    },
                );
            }
        }
        _ => {
            let mut results = kms
                .rewrap(&kc, &req.keyring, &items)
                .await
                .map_err(|e| problem_for(&e))?
                .into_iter();
            for (reference, p) in refs.into_iter().zip(pre) {
                out.push(
                    match p.map(Err).unwrap_or_else(|| {
                        results
                            .next()
                            .unwrap_or(Err(KmsError::UnknownVersion))
                            .map_err(|e| problem_for(&e))
                    }) {
                        Ok(s) => BatchItemResult {
                            reference,
                            ciphertext: Some(s.ciphertext),
                            key_version: Some(s.key_version),
                            plaintext: None,
                            error: None,
                        },
                        Err(p) => error_item(reference, p),
                    },
                );
            }
        }
    }
    if single {
        let mut item = out
            .pop()
            .ok_or_else(|| KmsProblem::from(Problem::internal()))?;
        if let Some(doc) = item.error.take() {
            let status =
                StatusCode::from_u16(doc.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut r = (status, Json(doc)).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
            );
            return Ok(r);
        }
        return Ok(match op {
            Op::Decrypt => Json(PlaintextResponse {
                plaintext: item.plaintext.take().unwrap_or_default(),
            })
            .into_response(),
            _ => Json(serde_json::json!({
                "ciphertext": item.ciphertext.take().unwrap_or_default(),
                "key_version": item.key_version.unwrap_or_default(),
            }))
            .into_response(),
        });
    }
    Ok(Json(BatchResponse { batch: out }).into_response())
}

/// Decrypt platform ciphertexts (single or batch).
#[utoipa::path(
    post,
    path = "/v1/decrypt",
    tag = "kms",
    request_body = CiphertextRequest,
    responses(
        (status = 200, description = "Single: `PlaintextResponse`; batch: `BatchResponse`", body = PlaintextResponse),
        (status = 403, description = "The key lacks kms:decrypt for this keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid ciphertext, decryption failed, unknown or retired key version", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Root of trust or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn decrypt(
    Extension(kms): Extension<Arc<Kms>>,
    caller: Caller,
    ApiJson(req): ApiJson<CiphertextRequest>,
) -> Result<Response, KmsProblem> {
    ciphertext_op(&kms, &caller, &req, Op::Decrypt).await
}

/// Move ciphertexts to the primary key version without returning plaintext.
#[utoipa::path(
    post,
    path = "/v1/rewrap",
    tag = "kms",
    request_body = CiphertextRequest,
    responses(
        (status = 200, description = "Single: `CiphertextResponse`; batch: `BatchResponse`", body = CiphertextResponse),
        (status = 403, description = "The key lacks kms:rewrap for this keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid ciphertext, decryption failed, unknown or retired key version", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Root of trust or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn rewrap(
    Extension(kms): Extension<Arc<Kms>>,
    caller: Caller,
    ApiJson(req): ApiJson<CiphertextRequest>,
) -> Result<Response, KmsProblem> {
    ciphertext_op(&kms, &caller, &req, Op::Rewrap).await
}

/// Blind index of a value (deterministic per tenant and keyring).
#[utoipa::path(
    post,
    path = "/v1/blind-index",
    tag = "kms",
    request_body = BlindIndexRequest,
    responses(
        (status = 200, description = "The index", body = BlindIndexResponse),
        (status = 403, description = "The key lacks kms:blind-index for this keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid value or bits", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn blind_index(
    Extension(kms): Extension<Arc<Kms>>,
    caller: Caller,
    ApiJson(req): ApiJson<BlindIndexRequest>,
) -> Result<Json<BlindIndexResponse>, KmsProblem> {
    let kc = authorize(&kms, &caller, Op::BlindIndex, &req.keyring).await?;
    let value = b64(&req.value, "value")?;
    let bits = req.bits.unwrap_or(DEFAULT_INDEX_BITS);
    zenalyze_kms::format::check_index_bits(bits).map_err(format_problem)?;
    let mut r = kms
        .blind_index(&kc, &req.keyring, &[value], bits)
        .await
        .map_err(|e| problem_for(&e))?;
    let index = r
        .pop()
        .ok_or_else(|| KmsProblem::from(Problem::internal()))?
        .map_err(|e| problem_for(&e))?;
    Ok(Json(BlindIndexResponse { index }))
}

// -------------------------------------------------------- keyring admin --

/// A keyring (metadata only; key material never leaves the service).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyringView {
    /// Tenant id.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// The newest version, used for encryption.
    pub primary_version: u32,
    /// Versions below this no longer decrypt.
    pub min_decryption_version: u32,
    /// Automatic rotation period (seconds), `null` for manual rotation only.
    pub auto_rotate_period_seconds: Option<u64>,
    /// Whether the keyring may be deleted.
    pub deletion_allowed: bool,
    /// The root of trust that wraps its keys (`local:…`, `aws-kms:…`).
    pub root: String,
    /// When the primary version was created (RFC 3339).
    pub primary_created_at: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// The view of a keyring.
pub fn keyring_view(k: &Keyring) -> KeyringView {
    KeyringView {
        tenant_id: k.tenant_id.to_string(),
        name: k.name.to_string(),
        primary_version: k.primary_version,
        min_decryption_version: k.min_decryption_version,
        auto_rotate_period_seconds: k.auto_rotate_period_s,
        deletion_allowed: k.deletion_allowed,
        root: k.root_id.clone(),
        primary_created_at: rfc3339(k.primary_created_at),
        created_at: rfc3339(k.created_at),
        updated_at: rfc3339(k.updated_at),
    }
}

/// A tenant's keyrings.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyringList {
    /// Keyrings by name.
    pub keyrings: Vec<KeyringView>,
}

/// Body of `POST /v1/admin/tenants/{id}/keyrings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyringRequest {
    /// `[a-z0-9][a-z0-9-]{0,63}`, e.g. `encrypt-email`.
    pub name: String,
    /// Automatic rotation period in seconds (≥ 3600); absent for manual rotation only.
    pub auto_rotate_period_seconds: Option<u64>,
    /// Allow deletion (default false).
    pub deletion_allowed: Option<bool>,
}

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// Body of `PATCH /v1/admin/tenants/{id}/keyrings/{name}`; absent fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyringRequest {
    /// Versions below this stop decrypting (1 ..= primary version).
    pub min_decryption_version: Option<u32>,
    /// New rotation period in seconds (≥ 3600), or `null` to turn automatic rotation off.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>)]
    pub auto_rotate_period_seconds: Option<Option<u64>>,
    /// Allow or refuse deletion.
    pub deletion_allowed: Option<bool>,
}

fn tenant_path(id: &str) -> Result<TenantId, KmsProblem> {
    TenantId::parse(id).map_err(|_| KmsProblem::std(ProblemKind::NotFound, "no such tenant", None))
}

fn name_path(name: &str) -> Result<KeyringName, KmsProblem> {
    KeyringName::parse(name).map_err(|_| problem_for(&KmsError::NotFound))
}

fn admin_draft(
    admin: &Admin,
    op: &str,
    tenant: &TenantId,
) -> Result<zenalyze_store::AuditDraft, KmsProblem> {
    Ok(admin
        .audit(op)
        .map_err(KmsProblem::from)?
        .tenant(tenant.clone()))
}

/// Create a keyring for a tenant (version 1 and its blind-index secret).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{id}/keyrings",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (ten_…)")),
    request_body = CreateKeyringRequest,
    responses(
        (status = 201, description = "Created", body = KeyringView),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The keyring exists", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or settings", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_create_keyring(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateKeyringRequest>,
) -> Result<Response, KmsProblem> {
    let tenant = tenant_path(&id)?;
    let settings = KeyringSettings {
        auto_rotate_period_s: req.auto_rotate_period_seconds,
        deletion_allowed: req.deletion_allowed.unwrap_or(false),
    };
    let k = kms
        .create_keyring(
            &tenant,
            &req.name,
            settings,
            admin_draft(&admin, "kms.keyrings.create", &tenant)?,
        )
        .await
        .map_err(|e| match e {
            KmsError::NotFound => KmsProblem::std(ProblemKind::NotFound, "no such tenant", None),
            e => problem_for(&e),
        })?;
    Ok((StatusCode::CREATED, Json(keyring_view(&k))).into_response())
}

/// List a tenant's keyrings.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{id}/keyrings",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (ten_…)")),
    responses(
        (status = 200, description = "Keyrings", body = KeyringList),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_list_keyrings(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyringList>, KmsProblem> {
    let tenant = tenant_path(&id)?;
    let store = kms.store();
    if store
        .get_tenant(&tenant)
        .await
        .map_err(|e| problem_for(&e.into()))?
        .is_none()
    {
        return Err(KmsProblem::std(
            ProblemKind::NotFound,
            "no such tenant",
            None,
        ));
    }
    store
        .append_audit(admin_draft(&admin, "kms.keyrings.list", &tenant)?)
        .await
        .map_err(|e| problem_for(&e.into()))?;
    let list = kms
        .list_keyrings(&tenant)
        .await
        .map_err(|e| problem_for(&e))?;
    Ok(Json(KeyringList {
        keyrings: list.iter().map(keyring_view).collect(),
    }))
}

/// Get one keyring.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{id}/keyrings/{name}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Keyring name")),
    responses(
        (status = 200, description = "The keyring", body = KeyringView),
        (status = 401, description = "Missing or wrong admin token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_get_keyring(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> Result<Json<KeyringView>, KmsProblem> {
    let tenant = tenant_path(&id)?;
    let name = name_path(&name)?;
    let r = kms.get_keyring(&tenant, name.as_str()).await;
    let mut d = admin_draft(&admin, "kms.keyrings.get", &tenant)?.resource(
        name.resource_id()
            .ok_or_else(|| problem_for(&KmsError::NotFound))?,
    );
    if r.is_err() {
        d.result = zenalyze_store::AuditResult::NotFound;
    }
    kms.store()
        .append_audit(d)
        .await
        .map_err(|e| problem_for(&e.into()))?;
    Ok(Json(keyring_view(&r.map_err(|e| problem_for(&e))?)))
}

/// Change a keyring's settings.
#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{id}/keyrings/{name}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Keyring name")),
    request_body = UpdateKeyringRequest,
    responses(
        (status = 200, description = "New state", body = KeyringView),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "min_decryption_version above the primary version", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_update_keyring(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpdateKeyringRequest>,
) -> Result<Json<KeyringView>, KmsProblem> {
    let tenant = tenant_path(&id)?;
    let name = name_path(&name)?;
    let mut update = KeyringUpdate::of(tenant.clone(), name);
    update.min_decryption_version = req.min_decryption_version;
    update.auto_rotate_period_s = req.auto_rotate_period_seconds;
    update.deletion_allowed = req.deletion_allowed;
    let k = kms
        .update_keyring(update, admin_draft(&admin, "kms.keyrings.update", &tenant)?)
        .await
        .map_err(|e| problem_for(&e))?;
    Ok(Json(keyring_view(&k)))
}

/// Delete a keyring (only when `deletion_allowed`); its ciphertexts become undecryptable.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{id}/keyrings/{name}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Keyring name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Deletion not allowed", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_delete_keyring(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, KmsProblem> {
    let tenant = tenant_path(&id)?;
    kms.delete_keyring(
        &tenant,
        &name,
        admin_draft(&admin, "kms.keyrings.delete", &tenant)?,
    )
    .await
    .map_err(|e| problem_for(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a tenant's keyring (operator).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{id}/keyrings/{name}/rotate",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Keyring name")),
    responses(
        (status = 200, description = "New state", body = KeyringView),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
pub async fn admin_rotate_keyring(
    Extension(kms): Extension<Arc<Kms>>,
    admin: Admin,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> Result<Json<KeyringView>, KmsProblem> {
    let tenant = tenant_path(&id)?;
    let k = kms
        .rotate(
            &tenant,
            &name,
            admin_draft(&admin, "kms.keyrings.rotate", &tenant)?,
        )
        .await
        .map_err(|e| problem_for(&e))?;
    Ok(Json(keyring_view(&k)))
}

/// Rotate one of the caller's keyrings (scope `admin`).
#[utoipa::path(
    post,
    path = "/v1/keyrings/{name}/rotate",
    tag = "kms",
    params(("name" = String, Path, description = "Keyring name")),
    responses(
        (status = 200, description = "New state; every gateway instance encrypts with the new primary from now on", body = KeyringView),
        (status = 403, description = "The key lacks the admin scope", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such keyring", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn rotate(
    Extension(kms): Extension<Arc<Kms>>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<KeyringView>, KmsProblem> {
    let draft = caller
        .audit("kms.keyrings.rotate")
        .map_err(KmsProblem::from)?;
    if caller.require(scopes::ADMIN).is_err() {
        let mut d = draft.result(zenalyze_store::AuditResult::Denied);
        d.resource_id = KeyringName::parse(&name).ok().and_then(|n| n.resource_id());
        kms.store()
            .append_audit(d)
            .await
            .map_err(|e| problem_for(&e.into()))?;
        return Err(KmsProblem::std(
            ProblemKind::Forbidden,
            "rotating a keyring needs the admin scope",
            None,
        ));
    }
    let k = kms
        .rotate(&caller.tenant_id, &name, draft)
        .await
        .map_err(|e| problem_for(&e))?;
    Ok(Json(keyring_view(&k)))
}

/// The KMS routes, carrying `kms` as a request extension.
pub fn router(kms: Arc<Kms>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(encrypt))
        .routes(routes!(decrypt))
        .routes(routes!(rewrap))
        .routes(routes!(blind_index))
        .routes(routes!(rotate))
        .routes(routes!(admin_create_keyring, admin_list_keyrings))
        .routes(routes!(
            admin_get_keyring,
            admin_update_keyring,
            admin_delete_keyring
        ))
        .routes(routes!(admin_rotate_keyring))
        .layer(Extension(kms))
}

/// Readiness of the root of trust (`kms` in `GET /v1/health`). A result is
/// reused for [`KMS_CHECK_CACHE`], so load-balancer probes do not turn into
/// a stream of calls to AWS KMS.
#[derive(Debug)]
pub struct KmsCheck {
    kms: Arc<Kms>,
    last: std::sync::Mutex<Option<(std::time::Instant, CheckStatus)>>,
}

/// How long [`KmsCheck`] reuses its last result.
pub const KMS_CHECK_CACHE: Duration = Duration::from_secs(10);

impl KmsCheck {
    /// The readiness check of `kms`.
    pub fn new(kms: Arc<Kms>) -> Self {
        KmsCheck {
            kms,
            last: std::sync::Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl HealthCheck for KmsCheck {
    fn name(&self) -> &'static str {
        "kms"
    }

    async fn check(&self) -> CheckStatus {
        if let Ok(last) = self.last.lock() {
            if let Some((at, status)) = &*last {
                if at.elapsed() < KMS_CHECK_CACHE {
                    return status.clone();
                }
            }
        }
        let status =
            match tokio::time::timeout(Duration::from_secs(2), self.kms.root().check()).await {
                Ok(Ok(())) => CheckStatus::Up,
                _ => CheckStatus::Down("root of trust unavailable"),
            };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((std::time::Instant::now(), status.clone()));
        }
        status
    }
}

/// The Key Management Service of `zenalyze serve`, from the `[kms]`
/// section of its file and `ZENALYZE_KMS_*` / `ZENALYZE_REDIS_URL` (which
/// override the file; see docs/operations.md). Enabled when a provider or
/// a root key file is named in either; otherwise `None` (the KMS routes are
/// absent, with a warning). A configured but unusable root of trust or
/// Redis stops startup.
pub async fn start_from_config(
    store: &Arc<dyn zenalyze_store::Store>,
    file: &crate::config::KmsFileConfig,
) -> anyhow::Result<Option<Arc<Kms>>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let configured = env("ZENALYZE_KMS_PROVIDER").is_some()
        || env("ZENALYZE_KMS_ROOT_KEY_FILE").is_some()
        || file.enables();
    if !configured {
        tracing::warn!(
            "key management disabled: set [kms] provider / root_key_file (or ZENALYZE_KMS_PROVIDER / ZENALYZE_KMS_ROOT_KEY_FILE)"
        );
        return Ok(None);
    }
    let settings =
        zenalyze_kms::settings::KmsSettings::from_lookup(&|k| env(k).or_else(|| file.get(k)), None)
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let started = settings
        .start(store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("key management: {e}"))?;
    tracing::info!(
        root = started.kms.root().id(),
        redis = settings.redis_url.is_some(),
        "key management started"
    );
    Ok(Some(started.kms))
}

/// [`router`] when the service runs, else no routes.
pub fn router_or_empty(kms: &Option<Arc<Kms>>) -> OpenApiRouter<AppState> {
    match kms {
        Some(k) => router(k.clone()),
        None => OpenApiRouter::new(),
    }
}

/// How often the automatic rotation task looks for due keyrings.
pub const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The development keyrings of `zenalyze dev`.
pub const DEV_KEYRINGS: &[&str] = &["encrypt-username", "encrypt-email"];

/// Creates the keyrings in `names` for `tenant` unless they exist
/// (audited with actor `system`).
pub async fn ensure_keyrings(kms: &Kms, tenant: &TenantId, names: &[&str]) -> Result<(), KmsError> {
    for name in names {
        let kn = KeyringName::parse(name).map_err(|_| KmsError::InvalidName)?;
        if kms.store().get_keyring(tenant, &kn).await?.is_some() {
            continue;
        }
        let draft = crate::auth::audit_draft(
            Actor::System,
            "kms.keyrings.create",
            &crate::request_id::generate(),
        )
        .map_err(|_| KmsError::InvalidName)?
        .tenant(tenant.clone());
        match kms
            .create_keyring(tenant, name, KeyringSettings::default(), draft)
            .await
        {
            Ok(_) | Err(KmsError::Exists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
