//! A journal backend on axum, in the shape of the design's "Integration
//! with Zenalyze App": entries are encrypted in the browser (client SDK)
//! and stored for the logged-in user; AI requests are sealed in the browser
//! and forwarded. The backend never sees plaintext and never holds a user key.
//!
//! Environment: `ZENALYZE_API_KEY` (secret key), `ZENALYZE_BASE_URL`
//! (default `http://127.0.0.1:8080`), `LISTEN` (default `127.0.0.1:3000`),
//! `DEMO_SESSIONS` (`token=user_id,…`, the demo's logins).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use zenalyze_server::{
    AnalyzeOutcome, AnalyzeRequest, Error, ListRecords, ProblemType, SealedRequest, StoreEncrypted,
    ZenalyzeServer,
};

const INSTRUCTIONS: &str = "You are a supportive journaling assistant. Reflect the mood of the entries; never give medical advice.";

struct AppState {
    zen: ZenalyzeServer,
    /// Demo sessions: bearer token → opaque user id (use your real auth).
    sessions: HashMap<String, String>,
}

type Shared = Arc<AppState>;

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// Maps SDK errors to answers for the browser (nothing echoed).
fn fail(e: Error) -> Response {
    match &e {
        Error::InvalidEnvelope { code } => reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "not_an_envelope", "code": code}),
        ),
        Error::InvalidArgument(_) => {
            reply(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
        }
        Error::Api(api) if api.problem == ProblemType::NotFound => {
            reply(StatusCode::NOT_FOUND, json!({"error": "not_found"}))
        }
        Error::Api(api) if api.problem.is_rate_limit() => {
            let mut r = reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "rate_limited"}),
            );
            if let Some(d) = api.retry_after {
                if let Ok(v) = d.as_secs().to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            r
        }
        Error::Api(api) => reply(
            StatusCode::BAD_GATEWAY,
            json!({"error": "upstream", "requestId": api.request_id}),
        ),
        _ => reply(
            StatusCode::BAD_GATEWAY,
            json!({"error": "upstream_unreachable"}),
        ),
    }
}

fn user(state: &AppState, headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.sessions.get(t))
        .cloned()
}

fn login_required() -> Response {
    reply(StatusCode::UNAUTHORIZED, json!({"error": "login_required"}))
}

#[derive(Deserialize)]
struct NewEntry {
    #[serde(rename = "encryptedData")]
    encrypted_data: String,
}

async fn create(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<NewEntry>,
) -> Response {
    let Some(user_id) = user(&s, &headers) else {
        return login_required();
    };
    match s
        .zen
        .store_encrypted(
            StoreEncrypted::new(user_id, body.encrypted_data).metadata("kind", "journal"),
        )
        .await
    {
        Ok(rec) => reply(
            StatusCode::CREATED,
            json!({"id": rec.id, "createdAt": rec.created_at}),
        ),
        Err(e) => fail(e),
    }
}

#[derive(Deserialize)]
struct Page {
    cursor: Option<String>,
}

async fn list(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<Page>) -> Response {
    let Some(user_id) = user(&s, &headers) else {
        return login_required();
    };
    let mut query = ListRecords::new(user_id).limit(20);
    if let Some(c) = q.cursor {
        query = query.cursor(c);
    }
    match s.zen.list_records(query).await {
        Ok(page) => {
            let entries: Vec<_> = page
                .records
                .into_iter()
                .map(|r| json!({"id": r.id, "encryptedData": r.encrypted_data, "createdAt": r.created_at}))
                .collect();
            reply(
                StatusCode::OK,
                json!({"entries": entries, "nextCursor": page.next_cursor}),
            )
        }
        Err(e) => fail(e),
    }
}

async fn get_one(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(user_id) = user(&s, &headers) else {
        return login_required();
    };
    match s.zen.get_record(&id).await {
        // Records are tenant-scoped by the gateway; users are scoped here.
        Ok(r) if r.user_id == user_id => reply(
            StatusCode::OK,
            json!({"id": r.id, "encryptedData": r.encrypted_data, "createdAt": r.created_at}),
        ),
        Ok(_) => reply(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        Err(e) => fail(e),
    }
}

#[derive(Deserialize)]
struct Sealed {
    body: String,
    #[serde(rename = "encapsulatedKey")]
    encapsulated_key: String,
}

#[derive(Deserialize)]
struct AnalyzeBody {
    #[serde(rename = "sealedRequest")]
    sealed_request: Sealed,
    #[serde(rename = "recordIds", default)]
    record_ids: Vec<String>,
}

async fn analyze(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(b): Json<AnalyzeBody>,
) -> Response {
    let Some(user_id) = user(&s, &headers) else {
        return login_required();
    };
    for id in &b.record_ids {
        match s.zen.get_record(id).await {
            Ok(r) if r.user_id == user_id => {}
            Ok(_) => return reply(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
            Err(e) => return fail(e),
        }
    }
    let Ok(body) = STANDARD.decode(b.sealed_request.body.as_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    };
    let mut req = AnalyzeRequest::new(SealedRequest {
        body,
        encapsulated_key: b.sealed_request.encapsulated_key,
    })
    .instructions(INSTRUCTIONS);
    for id in b.record_ids {
        req = req.record_id(id);
    }
    match s.zen.analyze_with_ai(req).await {
        Ok(AnalyzeOutcome::Sealed(a)) => reply(
            StatusCode::OK,
            json!({"status": a.status, "responseNonce": a.response_nonce, "body": STANDARD.encode(&a.body)}),
        ),
        Ok(_) => reply(StatusCode::BAD_GATEWAY, json!({"error": "unexpected_job"})),
        Err(e) => fail(e),
    }
}

/// The journal routes.
fn app(state: Shared) -> Router {
    Router::new()
        .route("/journal", post(create).get(list))
        .route("/journal/analyze", post(analyze))
        .route("/journal/{id}", get(get_one))
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api_key = std::env::var("ZENALYZE_API_KEY").map_err(|_| "ZENALYZE_API_KEY is required")?;
    let base =
        std::env::var("ZENALYZE_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let zen = ZenalyzeServer::builder(api_key).base_url(base).build()?;
    let sessions = std::env::var("DEMO_SESSIONS")
        .unwrap_or_else(|_| "demo-session=usr_demo".into())
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(t, u)| (t.to_owned(), u.to_owned()))
        .collect();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("journal backend on http://{} ({zen:?})", listener.local_addr()?);
    axum::serve(listener, app(Arc::new(AppState { zen, sessions }))).await?;
    Ok(())
}
