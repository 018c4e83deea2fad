//! Extractors whose rejections are problem documents that never echo the
//! submitted data.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::problem::{Problem, ProblemKind};

/// JSON body extractor: 400 for malformed JSON, 422 for schema mismatches
/// (wrong types, missing or unknown fields), 413 beyond the body limit, 415
/// without `Content-Type: application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson { value, .. } = RawJson::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// Like [`ApiJson`], also keeping the raw body (for idempotency
/// fingerprints).
#[derive(Debug, Clone)]
pub struct RawJson<T> {
    /// The parsed value.
    pub value: T,
    /// The body as received.
    pub bytes: Bytes,
}

impl<T, S> FromRequest<S> for RawJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(ProblemKind::UnsupportedMediaType)
                .detail("send the body as Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_problem(e.status()))?;
        let value = parse_json(&bytes)?;
        Ok(RawJson { value, bytes })
    }
}

fn body_problem(status: StatusCode) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(ProblemKind::PayloadTooLarge)
            .detail("the request body exceeds the configured limit")
    } else {
        Problem::new(ProblemKind::MalformedJson).detail("the request body could not be read")
    }
}

/// Parses JSON, mapping errors to problems without serde's message (which
/// may quote submitted values).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let text = e.to_string();
            let detail = if text.contains("unknown field") {
                "the request body has a field this endpoint does not accept"
            } else if text.contains("missing field") {
                "a required field is missing from the request body"
            } else if text.contains("invalid type") || text.contains("invalid value") {
                "a field of the request body has the wrong type"
            } else {
                "the request body does not match the expected schema"
            };
            Problem::new(ProblemKind::InvalidBody).detail(detail)
        }
        _ => Problem::new(ProblemKind::MalformedJson).detail("the request body is not valid JSON"),
    })
}

/// Path parameters; any rejection is a 404 (an id that cannot exist).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(Problem::not_found()),
            Err(_) => Err(Problem::internal()),
        }
    }
}

/// Query string; a rejection is a 400 problem naming no values.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) | Err(_) => {
                Err(Problem::new(ProblemKind::InvalidParameter)
                    .detail("the query string has a missing, unknown or malformed parameter"))
            }
        }
    }
}
