//! Extractors whose rejections are problem documents that never echo the
//! submitted data.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::borrow::Cow;

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
/// may quote submitted values). Field names from the endpoint's own schema
/// are named (the missing field, the accepted fields); submitted names and
/// values never are.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Problem::new(ProblemKind::InvalidBody).detail(schema_error_detail(&e.to_string()))
        }
        _ => Problem::new(ProblemKind::MalformedJson).detail("the request body is not valid JSON"),
    })
}

/// A field name of a schema: what serde puts between backticks.
fn is_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The detail of a schema mismatch, from serde's message. serde words them
/// `missing field `x``, and `unknown field `y`, expected one of `a`, `b``
/// (or `expected `a``); `y` was submitted, `x`, `a` and `b` are the schema's.
fn schema_error_detail(text: &str) -> Cow<'static, str> {
    let text = text.split(" at line ").next().unwrap_or(text);
    if let Some(rest) = text.strip_prefix("missing field `") {
        return match rest.strip_suffix('`') {
            Some(name) if is_schema_name(name) => {
                format!("the required field `{name}` is missing from the request body").into()
            }
            _ => "a required field is missing from the request body".into(),
        };
    }
    if text.starts_with("unknown field `") {
        // The list is serde's tail, after the LAST ", expected " (the
        // submitted name could contain the phrase).
        let accepted: Option<Vec<&str>> = text.rsplit_once(", expected ").and_then(|(_, list)| {
            let list = list.strip_prefix("one of ").unwrap_or(list);
            list.split(", ")
                .flat_map(|item| item.split(" or "))
                .map(|item| {
                    item.strip_prefix('`')
                        .and_then(|i| i.strip_suffix('`'))
                        .filter(|name| is_schema_name(name))
                })
                .collect()
        });
        return match accepted {
            Some(names) if !names.is_empty() => format!(
                "the request body has a field this endpoint does not accept (accepted: `{}`)",
                names.join("`, `")
            )
            .into(),
            _ => "the request body has a field this endpoint does not accept".into(),
        };
    }
    if text.starts_with("invalid type") || text.starts_with("invalid value") {
        return "a field of the request body has the wrong type".into();
    }
    "the request body does not match the expected schema".into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        keyring: String,
        bits: Option<u16>,
    }

    fn detail_of(json: &str) -> String {
        let p = parse_json::<Body>(json.as_bytes()).unwrap_err();
        assert_eq!(p.kind(), ProblemKind::InvalidBody);
        p.document().detail.unwrap()
    }

    #[test]
    fn real_serde_messages_map_to_named_schema_fields() {
        assert_eq!(
            detail_of(r#"{"bits": 8}"#),
            "the required field `keyring` is missing from the request body"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "Jane Doe": 1}"#),
            "the request body has a field this endpoint does not accept (accepted: `keyring`, `bits`)"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "bits": "Jane Doe"}"#),
            "a field of the request body has the wrong type"
        );
        for json in [
            r#"{"keyring": "k", "Jane Doe": 1}"#,
            r#"{"keyring": "k", "bits": "Jane Doe"}"#,
        ] {
            assert!(!detail_of(json).contains("Jane"));
        }
    }

    #[test]
    fn schema_errors_name_schema_fields_and_never_submitted_ones() {
        assert_eq!(
            schema_error_detail("missing field `keyring` at line 1 column 2"),
            "the required field `keyring` is missing from the request body"
        );
        assert_eq!(
            schema_error_detail("unknown field `x`, expected `keyring` at line 1 column 9"),
            "the request body has a field this endpoint does not accept (accepted: `keyring`)"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `Jane`, expected `Doe`, expected `keyring` or `bits` at line 1 column 9"
            ),
            "the request body has a field this endpoint does not accept (accepted: `keyring`, `bits`)"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `x, expected `Jane`, there are no fields at line 1 column 9"
            ),
            "the request body has a field this endpoint does not accept"
        );
        assert_eq!(
            schema_error_detail("unknown field `x`, there are no fields at line 1 column 9"),
            "the request body has a field this endpoint does not accept"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `John Doe`, expected one of `keyring`, `plaintext`, `context` at line 1 column 9"
            ),
            "the request body has a field this endpoint does not accept (accepted: `keyring`, `plaintext`, `context`)"
        );
        assert_eq!(
            schema_error_detail(
                "invalid type: string \"Jane Doe, DOB 1970\", expected u16 at line 1 column 30"
            ),
            "a field of the request body has the wrong type"
        );
        assert_eq!(
            schema_error_detail("missing field `we ird` at line 1 column 2"),
            "a required field is missing from the request body"
        );
    }
}
