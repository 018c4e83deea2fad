//! The sealed request body (SPEC §5) and its conversion into a provider
//! request, opening referenced records with the keys the client sealed in.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use zenalyze_ai_providers::{zeroize_json, AnalysisRequest, Input};
use zenalyze_crypto::envelope;
use zenalyze_crypto::UserKey;
use zeroize::{Zeroize, Zeroizing};

/// Largest accepted `max_tokens`.
pub const MAX_TOKENS_LIMIT: u32 = 1_000_000;

/// The JSON inside the EHBP seal. Unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedBody {
    prompt: String,
    inputs: Vec<SealedInput>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum SealedInput {
    Text { text: String },
    Json { value: serde_json::Value },
    Bytes { media_type: String, data: String },
    Record { record_id: String, key: String },
}

impl Drop for SealedBody {
    fn drop(&mut self) {
        self.prompt.zeroize();
        if let Some(m) = self.model.as_mut() {
            m.zeroize();
        }
    }
}

impl Drop for SealedInput {
    fn drop(&mut self) {
        match self {
            SealedInput::Text { text } => text.zeroize(),
            SealedInput::Json { value } => zeroize_json(value),
            SealedInput::Bytes { media_type, data } => {
                media_type.zeroize();
                data.zeroize();
            }
            SealedInput::Record { record_id, key } => {
                record_id.zeroize();
                key.zeroize();
            }
        }
    }
}

/// Side data the gateway sends beside the seal (never inside it): the
/// customer backend's non-PHI instructions and the stored record envelopes
/// fetched by id (v1 envelopes, base64).
#[derive(Default, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideData {
    /// System-prompt style instructions (not PHI).
    #[serde(default)]
    pub instructions: Option<String>,
    /// Record id → base64 v1 envelope.
    #[serde(default)]
    pub records: BTreeMap<String, String>,
}

/// Why a sealed body is refused. Each becomes a sealed error answer; none
/// carries content except [`BodyError::Schema`], whose serde message (for
/// example `unknown field `promt``) goes only into the sealed answer and
/// never into logs.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not JSON of the schema (unknown field, wrong type, missing field).
    #[error("request body does not match the schema: {0}")]
    Schema(String),
    /// A `bytes` input whose `data` is not base64.
    #[error("input {0}: data is not valid base64")]
    BytesData(usize),
    /// A `record` input whose `key` is not base64 of 32 bytes.
    #[error("input {0}: key is not a base64 32-byte key")]
    RecordKey(usize),
    /// A `record` input whose envelope was not supplied beside the request.
    #[error("input {0}: record envelope not supplied")]
    RecordMissing(usize),
    /// A `record` input whose envelope does not open with its key.
    #[error("input {0}: record does not open with the given key")]
    RecordOpen(usize),
    /// `max_tokens` out of range.
    #[error("max_tokens must be between 1 and 1000000")]
    MaxTokens,
}

impl BodyError {
    /// Stable machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::Schema(_) => "invalid_request",
            BodyError::BytesData(_) => "invalid_bytes",
            BodyError::RecordKey(_) => "invalid_record_key",
            BodyError::RecordMissing(_) => "record_not_supplied",
            BodyError::RecordOpen(_) => "record_open_failed",
            BodyError::MaxTokens => "invalid_max_tokens",
        }
    }
}

/// Parses the opened plaintext and builds the provider request, opening
/// record envelopes from `side` with the keys from the seal. Every
/// intermediate buffer is zeroized.
pub fn build_request(plaintext: &[u8], side: &SideData) -> Result<AnalysisRequest, BodyError> {
    let mut body: SealedBody =
        serde_json::from_slice(plaintext).map_err(|e| BodyError::Schema(schema_message(&e)))?;
    if body
        .max_tokens
        .is_some_and(|m| m == 0 || m > MAX_TOKENS_LIMIT)
    {
        return Err(BodyError::MaxTokens);
    }
    let mut req = AnalysisRequest::new(std::mem::take(&mut body.prompt));
    req.model = body.model.take();
    req.max_tokens = body.max_tokens;
    req.instructions = side.instructions.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    for (i, input) in body.inputs.iter_mut().enumerate() {
        let converted = match input {
            SealedInput::Text { text } => Input::Text(std::mem::take(text)),
            SealedInput::Json { value } => Input::Json(value.take()),
            SealedInput::Bytes { media_type, data } => {
                let bytes = b64
                    .decode(data.as_bytes())
                    .map_err(|_| BodyError::BytesData(i))?;
                Input::Bytes {
                    media_type: std::mem::take(media_type),
                    data: bytes,
                }
            }
            SealedInput::Record { record_id, key } => {
                let key_bytes = Zeroizing::new(
                    b64.decode(key.as_bytes())
                        .map_err(|_| BodyError::RecordKey(i))?,
                );
                let user_key = UserKey::from_slice(&key_bytes).ok_or(BodyError::RecordKey(i))?;
                let env_b64 = side
                    .records
                    .get(record_id.as_str())
                    .ok_or(BodyError::RecordMissing(i))?;
                let env = envelope::decode_base64(env_b64).map_err(|_| BodyError::RecordOpen(i))?;
                let mut plaintext = envelope::open_v1(&user_key, &env, None)
                    .map_err(|_| BodyError::RecordOpen(i))?;
                Input::Record {
                    record_id: std::mem::take(record_id),
                    // Moves the buffer (no copy) into the zeroize-on-drop input.
                    plaintext: std::mem::take(&mut *plaintext),
                }
            }
        };
        req.inputs.push(converted);
    }
    Ok(req)
}

/// serde_json's message without line/column noise; it names fields and
/// types, which the client wrote, and goes only into the sealed answer.
fn schema_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_kinds() {
        let body = br#"{"prompt":"p","inputs":[{"kind":"text","text":"t"},{"kind":"json","value":{"a":1}},{"kind":"bytes","media_type":"text/plain","data":"aGk="}],"model":"m","max_tokens":5}"#;
        let req = build_request(body, &SideData::default()).unwrap();
        assert_eq!(req.prompt, "p");
        assert_eq!(req.inputs.len(), 3);
        assert_eq!(req.model.as_deref(), Some("m"));
        assert_eq!(req.max_tokens, Some(5));
    }

    #[test]
    fn unknown_fields_refused_everywhere() {
        for body in [
            &br#"{"prompt":"p","inputs":[],"promt":"x"}"#[..],
            br#"{"prompt":"p","inputs":[{"kind":"text","text":"t","extra":1}]}"#,
            br#"{"prompt":"p","inputs":[{"kind":"video","url":"x"}]}"#,
            br#"{"inputs":[]}"#,
            br#"not json"#,
        ] {
            let err = build_request(body, &SideData::default()).err().unwrap();
            assert_eq!(
                err.code(),
                "invalid_request",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn record_inputs_open_with_their_key() {
        let key = [4u8; 32];
        let env = envelope::seal_v1(
            &UserKey::from_bytes(key),
            &[1u8; 12],
            b"secret record",
            None,
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let side = SideData {
            instructions: Some("be brief".into()),
            records: [("r1".to_string(), envelope::encode_base64(&env))].into(),
        };
        let body = format!(
            r#"{{"prompt":"p","inputs":[{{"kind":"record","record_id":"r1","key":"{}"}}]}}"#,
            b64.encode(key)
        );
        let req = build_request(body.as_bytes(), &side).unwrap();
        match &req.inputs[0] {
            Input::Record { plaintext, .. } => assert_eq!(plaintext, b"secret record"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(req.instructions.as_deref(), Some("be brief"));
        let wrong = format!(
            r#"{{"prompt":"p","inputs":[{{"kind":"record","record_id":"r1","key":"{}"}}]}}"#,
            b64.encode([5u8; 32])
        );
        assert_eq!(
            build_request(wrong.as_bytes(), &side).err().unwrap().code(),
            "record_open_failed"
        );
        let missing = format!(
            r#"{{"prompt":"p","inputs":[{{"kind":"record","record_id":"r2","key":"{}"}}]}}"#,
            b64.encode(key)
        );
        assert_eq!(
            build_request(missing.as_bytes(), &side)
                .err()
                .unwrap()
                .code(),
            "record_not_supplied"
        );
    }
}
