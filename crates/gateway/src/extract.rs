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
/// are named (the missing field, the accepted fields, where a wrong type
/// sits); submitted names and values never are.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            // Errors are rare: only then parse again to learn where it was.
            let at = error_location::<T>(bytes);
            Problem::new(ProblemKind::InvalidBody)
                .detail(schema_error_detail(&e.to_string(), at.as_deref()))
        }
        _ => Problem::new(ProblemKind::MalformedJson).detail("the request body is not valid JSON"),
    })
}

/// Where a data error sits, as the top-level field and the array indices
/// right under it (`batch[3]`). Deeper segments are left out: below a map
/// field (record `metadata`) they are submitted keys. Every request body is
/// a struct, so the first segment is one of its fields.
fn error_location<T: DeserializeOwned>(bytes: &[u8]) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let err = serde_path_to_error::deserialize::<_, T>(&mut de).err()?;
    let mut segments = err.path().iter();
    let mut at = match segments.next()? {
        Segment::Map { key } if is_schema_name(key) => key.clone(),
        _ => return None,
    };
    for segment in segments {
        match segment {
            Segment::Seq { index } => at.push_str(&format!("[{index}]")),
            _ => break,
        }
    }
    Some(at)
}

/// A field name of a schema: what serde puts between backticks.
fn is_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The detail of a schema mismatch, from serde's message and the error's
/// location (see [`error_location`]). serde words them `missing field `x``,
/// `unknown field `y`, expected one of `a`, `b`` (or `expected `a``) and
/// `invalid type: …`; `y` and the values were submitted, `x`, `a` and `b`
/// are the schema's.
fn schema_error_detail(text: &str, at: Option<&str>) -> Cow<'static, str> {
    let text = text.split(" at line ").next().unwrap_or(text);
    if let Some(rest) = text.strip_prefix("missing field `") {
        return match (rest.strip_suffix('`').filter(|n| is_schema_name(n)), at) {
            (Some(name), Some(at)) => {
                format!("the required field `{name}` is missing from `{at}`").into()
            }
            (Some(name), None) => {
                format!("the required field `{name}` is missing from the request body").into()
            }
            _ => "a required field is missing from the request body".into(),
        };
    }
    if text.starts_with("unknown field `") {
        // The location is not used: its last segment would be the
        // submitted name.
        return match expected_names(text) {
            Some(names) => format!(
                "the request body has a field this endpoint does not accept (accepted: `{}`)",
                names.join("`, `")
            )
            .into(),
            None => "the request body has a field this endpoint does not accept".into(),
        };
    }
    if text.starts_with("unknown variant `") {
        return match (expected_names(text), at) {
            (Some(names), Some(at)) => {
                format!("`{at}` must be one of `{}`", names.join("`, `")).into()
            }
            _ => "a field of the request body has a value this endpoint does not accept".into(),
        };
    }
    if text.starts_with("invalid type")
        || text.starts_with("invalid value")
        || text.starts_with("invalid length")
    {
        return match at {
            Some(at) => format!("`{at}` has the wrong type or value").into(),
            None => "a field of the request body has the wrong type or value".into(),
        };
    }
    match at {
        Some(at) => format!("`{at}` does not match the expected schema").into(),
        None => "the request body does not match the expected schema".into(),
    }
}

/// The schema names serde lists at the end of `unknown field`/`unknown
/// variant` messages: after the LAST ", expected " (the submitted name
/// before it could contain the phrase), `one of `a`, `b`` or `` `a` or `b` ``.
/// `None` unless every item is a schema name.
fn expected_names(text: &str) -> Option<Vec<&str>> {
    let (_, list) = text.rsplit_once(", expected ")?;
    let list = list.strip_prefix("one of ").unwrap_or(list);
    let names: Option<Vec<&str>> = list
        .split(", ")
        .flat_map(|item| item.split(" or "))
        .map(|item| {
            item.strip_prefix('`')
                .and_then(|i| i.strip_suffix('`'))
                .filter(|name| is_schema_name(name))
        })
        .collect();
    names.filter(|n| !n.is_empty())
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
    struct Item {
        plaintext: String,
        reference: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Tier {
        Free,
        Pro,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        keyring: String,
        bits: Option<u16>,
        tier: Option<Tier>,
        batch: Option<Vec<Item>>,
        metadata: Option<std::collections::BTreeMap<String, String>>,
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
            "the request body has a field this endpoint does not accept \
             (accepted: `keyring`, `bits`, `tier`, `batch`, `metadata`)"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "JaneDoe": 1}"#),
            "the request body has a field this endpoint does not accept \
             (accepted: `keyring`, `bits`, `tier`, `batch`, `metadata`)"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "bits": "Jane Doe"}"#),
            "`bits` has the wrong type or value"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "bits": 70000}"#),
            "`bits` has the wrong type or value"
        );
        assert_eq!(
            detail_of(
                r#"{"keyring": "k", "batch": [{"plaintext": "a"}, {"plaintext": "b"}, {"plaintext": 7}]}"#
            ),
            "`batch[2]` has the wrong type or value"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "batch": [{"plaintext": "a"}, {"reference": "r"}]}"#),
            "the required field `plaintext` is missing from `batch[1]`"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "batch": [{"plaintext": "a", "JaneDoe": 1}]}"#),
            "the request body has a field this endpoint does not accept \
             (accepted: `plaintext`, `reference`)"
        );
        assert_eq!(
            detail_of(r#"{"keyring": "k", "tier": "JaneDoe"}"#),
            "`tier` must be one of `free`, `pro`"
        );
        // Below a map field the keys are submitted: the location stops at the field.
        assert_eq!(
            detail_of(r#"{"keyring": "k", "metadata": {"JaneDoe": 5}}"#),
            "`metadata` has the wrong type or value"
        );
        for json in [
            r#"{"keyring": "k", "Jane Doe": 1}"#,
            r#"{"keyring": "k", "JaneDoe": 1}"#,
            r#"{"keyring": "k", "bits": "Jane Doe"}"#,
            r#"{"keyring": "k", "metadata": {"JaneDoe": 5}}"#,
            r#"{"keyring": "k", "tier": "JaneDoe"}"#,
            r#"{"keyring": "k", "batch": [{"plaintext": "a", "JaneDoe": 1}]}"#,
        ] {
            assert!(!detail_of(json).contains("Jane"), "{json}");
        }
    }

    #[test]
    fn schema_errors_name_schema_fields_and_never_submitted_ones() {
        assert_eq!(
            schema_error_detail("missing field `keyring` at line 1 column 2", None),
            "the required field `keyring` is missing from the request body"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `x`, expected `keyring` at line 1 column 9",
                None
            ),
            "the request body has a field this endpoint does not accept (accepted: `keyring`)"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `Jane`, expected `Doe`, expected `keyring` or `bits` at line 1 column 9",
                Some("Jane")
            ),
            "the request body has a field this endpoint does not accept (accepted: `keyring`, `bits`)"
        );
        assert_eq!(
            schema_error_detail(
                "unknown field `x, expected `Jane`, there are no fields at line 1 column 9",
                None
            ),
            "the request body has a field this endpoint does not accept"
        );
        assert_eq!(
            schema_error_detail(
                "invalid type: string \"Jane Doe, DOB 1970\", expected u16 at line 1 column 30",
                None
            ),
            "a field of the request body has the wrong type or value"
        );
        assert_eq!(
            schema_error_detail(
                "missing field `we ird` at line 1 column 2",
                Some("batch[0]")
            ),
            "a required field is missing from the request body"
        );
    }
}
