//! Asynchronous AI jobs: `POST /v1/ai/analyze` with `Prefer: respond-async`
//! or a callback URL answers `202 {"job_id"}`; the sealed result (status,
//! response nonce, sealed body — only the client can open it) is kept in
//! the store until the job expires and served at `GET /v1/ai/jobs/{id}`; a
//! Standard Webhooks notification (ids, status and link only) goes to the
//! callback URL.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use zenalyze_enclave_pool::SideData;
use zenalyze_store::{JobCompletion, JobId, JobStatus, NewJob, RecordId, UserId};

use super::handlers::{audit_analyze, pool_problem, result_of};
use super::webhooks::{self, CallbackUrl, JobEvent, JobEventData, JobLinks};
use super::Ai;
use crate::auth::Caller;
use crate::extract::ApiPath;
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::records::rfc3339;
use crate::scopes;
use crate::state::AppState;

/// Request header naming the webhook URL (alternative to the
/// `callback_url` query parameter).
pub const CALLBACK_HEADER: &str = "callback-url";
/// Default lifetime of a job and its result: 24 hours.
pub const DEFAULT_JOB_TTL: Duration = Duration::from_secs(24 * 3600);
/// Interval of the purge of expired jobs.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Query of `POST /v1/ai/analyze`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyzeQuery {
    /// Webhook URL notified when the job ends (implies asynchronous
    /// processing).
    pub callback_url: Option<String>,
}

/// `202` answer of an asynchronous request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The job id.
    pub job_id: String,
    /// `pending`.
    pub status: &'static str,
    /// Links.
    pub links: JobLinks,
}

/// The sealed result of a finished job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResult {
    /// HTTP status of the enclave's answer.
    pub http_status: u16,
    /// `Ehbp-Response-Nonce` of a sealed answer (open the body with it).
    pub response_nonce: Option<String>,
    /// Content type of the answer.
    pub content_type: Option<String>,
    /// The answer body, standard base64 (sealed, or a problem document).
    pub body: String,
}

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The job id.
    pub job_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Completion time (RFC 3339).
    pub completed_at: Option<String>,
    /// Expiry time (RFC 3339).
    pub expires_at: String,
    /// The result, once finished.
    pub result: Option<JobResult>,
}

/// Whether the request asks for asynchronous processing, and the callback.
pub(crate) fn wants_async(
    headers: &HeaderMap,
    query_callback: Option<String>,
) -> Result<(bool, Option<String>), Problem> {
    let prefer = headers
        .get_all(header::HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    let header_cb = match headers.get(CALLBACK_HEADER) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    Problem::new(ProblemKind::InvalidParameter).detail("Callback-Url must be a URL")
                })?
                .to_owned(),
        ),
        None => None,
    };
    if header_cb.is_some() && query_callback.is_some() {
        return Err(Problem::new(ProblemKind::InvalidParameter)
            .detail("give the callback URL either as callback_url or as Callback-Url, not both"));
    }
    let cb = header_cb.or(query_callback);
    Ok((prefer || cb.is_some(), cb))
}

static LAST_PURGE: AtomicI64 = AtomicI64::new(0);

fn maybe_purge(state: &AppState) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let last = LAST_PURGE.load(Ordering::Relaxed);
    let every = i64::try_from(PURGE_EVERY.as_secs()).unwrap_or(600);
    if now - last < every
        || LAST_PURGE
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = state.store().clone();
    tokio::spawn(async move {
        match store.purge_jobs(OffsetDateTime::now_utc()).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired AI jobs purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "AI job purge failed"),
        }
    });
}

fn job_path(id: &JobId) -> String {
    format!("/v1/ai/jobs/{id}")
}

/// Starts an asynchronous job and answers 202.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start(
    ai: Ai,
    state: AppState,
    caller: Caller,
    callback: Option<String>,
    encapsulated_key: String,
    body: axum::body::Bytes,
    side: SideData,
    owners: Vec<(RecordId, UserId)>,
) -> Result<Response, Problem> {
    let settings = &ai.settings().webhooks;
    let (callback, secret) = match callback {
        None => (None, None),
        Some(text) => {
            let url: CallbackUrl =
                webhooks::parse_callback(&text, settings.policy).map_err(|e| {
                    Problem::new(ProblemKind::ValidationFailed)
                        .code("invalid_callback_url")
                        .detail(e.to_string())
                })?;
            let Some(wrap) = settings.wrap_key.clone() else {
                return Err(Problem::new(ProblemKind::Unavailable)
                    .code("webhooks_not_configured")
                    .detail("webhooks are not configured on this gateway"));
            };
            let row = state
                .store()
                .get_webhook_secret(&caller.tenant_id)
                .await?
                .ok_or_else(|| {
                    Problem::new(ProblemKind::Conflict)
                        .code("no_webhook_secret")
                        .detail("create a webhook secret (POST /v1/ai/webhook-secret) before using callbacks")
                })?;
            let secret = wrap
                .unwrap(&caller.tenant_id, &row.wrapped_secret)
                .ok_or_else(Problem::internal)?;
            (Some(url), Some(secret))
        }
    };
    let id = JobId::generate();
    let ttl = time::Duration::try_from(ai.settings().job_ttl).unwrap_or(time::Duration::DAY);
    state
        .store()
        .create_job(&NewJob {
            tenant_id: caller.tenant_id.clone(),
            id: id.clone(),
            callback_url: callback.as_ref().map(|c| c.as_str().to_owned()),
            expires_at: OffsetDateTime::now_utc() + ttl,
        })
        .await?;
    maybe_purge(&state);
    let job = id.clone();
    let task_state = state.clone();
    tokio::spawn(async move {
        run(
            ai,
            task_state,
            caller,
            job,
            callback,
            secret,
            encapsulated_key,
            body,
            side,
            owners,
        )
        .await;
    });
    let mut r = (
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            job_id: id.to_string(),
            status: "pending",
            links: JobLinks {
                self_: job_path(&id),
            },
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&job_path(&id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ai: Ai,
    state: AppState,
    caller: Caller,
    id: JobId,
    callback: Option<CallbackUrl>,
    secret: Option<zeroize::Zeroizing<String>>,
    encapsulated_key: String,
    body: axum::body::Bytes,
    side: SideData,
    owners: Vec<(RecordId, UserId)>,
) {
    let answer = ai.pool().analyze(&encapsulated_key, &body, &side).await;
    drop(side);
    let completion = match &answer {
        Ok(a) => {
            tracing::info!(
                status = a.status,
                enclave = %a.enclave,
                job_id = %id,
                sealed_bytes = body.len(),
                answer_bytes = a.body.len(),
                "AI job answered"
            );
            JobCompletion {
                status: if (200..300).contains(&a.status) {
                    JobStatus::Succeeded
                } else {
                    JobStatus::Failed
                },
                http_status: a.status,
                response_nonce: a.response_nonce.clone(),
                content_type: a.content_type.clone(),
                body: a.body.to_vec(),
            }
        }
        Err(e) => problem_completion(pool_problem(e)),
    };
    let audit_result = match &answer {
        Ok(a) => result_of(a.status),
        Err(_) => zenalyze_store::AuditResult::Error,
    };
    // Fail closed: without its audit event the sealed result is not kept.
    let completion = match audit_analyze(&state, &caller, &owners, audit_result).await {
        Ok(()) => completion,
        Err(_) => {
            tracing::error!(job_id = %id, "audit unavailable; AI job result discarded");
            problem_completion(
                Problem::new(ProblemKind::Unavailable)
                    .detail("the audit log is unavailable; the result was discarded"),
            )
        }
    };
    let status = completion.status;
    match state
        .store()
        .complete_job(&caller.tenant_id, &id, &completion)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job_id = %id, "AI job vanished before completion"),
        Err(e) => {
            tracing::error!(job_id = %id, error = %e, "AI job result could not be stored");
            return;
        }
    }
    if let (Some(url), Some(secret)) = (callback, secret) {
        let event = JobEvent {
            event_type: "ai.job.completed",
            timestamp: rfc3339(OffsetDateTime::now_utc()),
            data: JobEventData {
                job_id: id.as_str(),
                status: status.as_str(),
                links: JobLinks {
                    self_: job_path(&id),
                },
            },
        };
        let Ok(payload) = serde_json::to_vec(&event) else {
            return;
        };
        let msg_id = format!("msg_{id}");
        webhooks::deliver(&ai.settings().webhooks, &url, &secret, &msg_id, &payload).await;
    }
}

fn problem_completion(p: Problem) -> JobCompletion {
    let r = p.into_response();
    let status = r.status().as_u16();
    let doc = serde_json::json!({
        "type": "https://zenalyze.dev/problems/unavailable",
        "title": r.status().canonical_reason().unwrap_or("error"),
        "status": status,
    });
    JobCompletion {
        status: JobStatus::Failed,
        http_status: status,
        response_nonce: None,
        content_type: Some(crate::problem::PROBLEM_CONTENT_TYPE.to_owned()),
        body: doc.to_string().into_bytes(),
    }
}

/// A job and, once finished, its sealed result.
#[utoipa::path(
    get,
    path = "/v1/ai/jobs/{id}",
    tag = "ai",
    params(("id" = String, Path, description = "Job id (job_…)")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks ai:analyze", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such job (or expired)", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn get_job(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(scopes::AI_ANALYZE)?;
    let Ok(id) = JobId::parse(&id) else {
        return Err(Problem::not_found().detail("no such job"));
    };
    let job = state.store().get_job(&caller.tenant_id, &id).await?;
    let mut draft = caller.audit("ai.jobs.get")?.resource(id.clone());
    if job.is_none() {
        draft.result = zenalyze_store::AuditResult::NotFound;
    }
    state.store().append_audit(draft).await?;
    let Some(job) = job else {
        return Err(Problem::not_found().detail("no such job"));
    };
    let result = match (job.http_status, &job.body) {
        (Some(s), Some(b)) if job.status != JobStatus::Pending => Some(JobResult {
            http_status: s,
            response_nonce: job.response_nonce.clone(),
            content_type: job.content_type.clone(),
            body: base64::engine::general_purpose::STANDARD.encode(b),
        }),
        _ => None,
    };
    let view = JobView {
        job_id: job.id.to_string(),
        status: job.status.as_str(),
        created_at: rfc3339(job.created_at),
        completed_at: job.completed_at.map(rfc3339),
        expires_at: rfc3339(job.expires_at),
        result,
    };
    let mut r = axum::Json(view).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
