//! Request and answer types shared by every provider.
//!
//! An [`AnalysisRequest`] is built by the enclave after it opened the sealed
//! body (SPEC §5) and decrypted every referenced record. It holds protected
//! health information, so every buffer is wiped when the request is dropped
//! ([`ZeroizeOnDrop`]) and its `Debug` output shows only sizes, never content.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// One input of an analysis request, already opened inside the enclave.
///
/// The variants mirror the `inputs[].kind` values of the sealed body
/// (SPEC §5); `record` inputs carry the decrypted plaintext instead of the key.
/// Every variant is wiped on drop.
#[derive(Clone, PartialEq)]
pub enum Input {
    /// Free text (`{"kind":"text"}`).
    Text(String),
    /// An arbitrary JSON value (`{"kind":"json"}`).
    Json(serde_json::Value),
    /// Raw bytes with their media type (`{"kind":"bytes"}`), already base64-decoded.
    Bytes {
        /// Media type as sent by the client, e.g. `image/png` or `text/plain`.
        media_type: String,
        /// The decoded bytes.
        data: Vec<u8>,
    },
    /// A stored record decrypted by the enclave (`{"kind":"record"}`).
    Record {
        /// The record identifier (not content; may be shown to a model as a label).
        record_id: String,
        /// The record plaintext: usually UTF-8 (often JSON text), possibly binary.
        plaintext: Vec<u8>,
    },
}

impl Input {
    /// Short name of the variant (`text`, `json`, `bytes`, `record`), for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Text(_) => "text",
            Input::Json(_) => "json",
            Input::Bytes { .. } => "bytes",
            Input::Record { .. } => "record",
        }
    }

    /// Approximate size of the content in bytes (JSON values are not serialised;
    /// their string lengths are summed).
    pub fn content_len(&self) -> usize {
        match self {
            Input::Text(t) => t.len(),
            Input::Json(v) => json_content_len(v),
            Input::Bytes { data, .. } => data.len(),
            Input::Record { plaintext, .. } => plaintext.len(),
        }
    }
}

fn json_content_len(v: &serde_json::Value) -> usize {
    // Iterative walk: a hostile, deeply nested value must not overflow the stack.
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => total = total.saturating_add(s.len()),
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            serde_json::Value::Object(o) => {
                for (k, v) in o {
                    total = total.saturating_add(k.len());
                    stack.push(v);
                }
            }
            _ => total = total.saturating_add(8),
        }
    }
    total
}

/// Wipes every string (keys and values) held by a JSON value, then sets it to `null`.
///
/// Numbers cannot be wiped in place (`serde_json::Number` is opaque); they are
/// dropped. The walk is iterative so hostile nesting cannot overflow the stack.
pub fn zeroize_json(value: &mut serde_json::Value) {
    let mut stack = vec![std::mem::take(value)];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(mut s) => s.zeroize(),
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::Object(o) => {
                for (mut k, v) in o {
                    k.zeroize();
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
}

impl Zeroize for Input {
    fn zeroize(&mut self) {
        match self {
            Input::Text(t) => t.zeroize(),
            Input::Json(v) => zeroize_json(v),
            Input::Bytes { media_type, data } => {
                media_type.zeroize();
                data.zeroize();
            }
            Input::Record {
                record_id,
                plaintext,
            } => {
                record_id.zeroize();
                plaintext.zeroize();
            }
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Input {}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("kind", &self.kind())
            .field("content_len", &self.content_len())
            .finish_non_exhaustive()
    }
}

/// An analysis request, opened inside the enclave.
///
/// Built by the enclave from the sealed body (`prompt`, `inputs`, `model`,
/// `max_tokens`) plus the customer backend's non-PHI `instructions` that the
/// gateway sends beside the seal. Wiped on drop; `Debug` shows sizes only.
#[derive(Clone, PartialEq, Zeroize, ZeroizeOnDrop)]
pub struct AnalysisRequest {
    /// The end user's prompt.
    pub prompt: String,
    /// The customer backend's instructions (system prompt), if any.
    pub instructions: Option<String>,
    /// The inputs to analyse, in order.
    pub inputs: Vec<Input>,
    /// Requested model; `None` means the provider's configured default.
    pub model: Option<String>,
    /// Upper bound on generated tokens; `None` means the provider's default.
    pub max_tokens: Option<u32>,
}

impl AnalysisRequest {
    /// A request with only a prompt (no instructions, inputs, model or limit).
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            instructions: None,
            inputs: Vec::new(),
            model: None,
            max_tokens: None,
        }
    }

    /// Sum of the content sizes of prompt, instructions and inputs, in bytes.
    pub fn content_len(&self) -> usize {
        self.inputs.iter().fold(
            self.prompt
                .len()
                .saturating_add(self.instructions.as_ref().map_or(0, String::len)),
            |acc, i| acc.saturating_add(i.content_len()),
        )
    }
}

impl fmt::Debug for AnalysisRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&'static str> = self.inputs.iter().map(Input::kind).collect();
        f.debug_struct("AnalysisRequest")
            .field("prompt_len", &self.prompt.len())
            .field(
                "instructions_len",
                &self.instructions.as_ref().map(String::len),
            )
            .field("inputs", &kinds)
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

/// Token accounting reported by an upstream model (absent for the offline analyzer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tokens consumed by the prompt / input.
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
}

/// The answer of a provider.
///
/// Serialises to the JSON the enclave seals back to the client (SPEC §5:
/// at least `provider`, `model`, `output`). `output` is:
/// - for LLM providers, a JSON **string**: the model's text (all text blocks
///   concatenated);
/// - for the offline analyzer, a JSON **object** (see [`crate::offline`]).
///
/// The output is wiped on drop; `Debug` does not show it.
#[derive(Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Provider name: `openai-compatible`, `anthropic` or `offline`.
    pub provider: String,
    /// The model that produced the answer (as reported upstream when available).
    pub model: String,
    /// The answer: a string for LLMs, a structured object for the offline analyzer.
    pub output: serde_json::Value,
    /// Why generation stopped, as reported upstream (`stop`, `length`, `end_turn`, `max_tokens`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token usage, when the upstream reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Wall-clock time spent in the provider, in milliseconds.
    pub elapsed_ms: u64,
    /// An honest note on what produced the answer (set by the offline analyzer:
    /// it is not an LLM and not a clinical tool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Analysis {
    /// Serialises the answer to JSON in a buffer that is wiped on drop.
    pub fn to_json_bytes(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, serde_json::Error> {
        let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(256));
        serde_json::to_writer(&mut *buf, self)?;
        Ok(buf)
    }

    /// `elapsed_ms` helper: a duration in whole milliseconds, saturating.
    pub fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Zeroize for Analysis {
    fn zeroize(&mut self) {
        zeroize_json(&mut self.output);
        if let Some(r) = self.finish_reason.as_mut() {
            r.zeroize();
        }
        if let Some(n) = self.note.as_mut() {
            n.zeroize();
        }
    }
}

impl Drop for Analysis {
    fn drop(&mut self) {
        zeroize_json(&mut self.output);
    }
}

impl fmt::Debug for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analysis")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("finish_reason", &self.finish_reason)
            .field("usage", &self.usage)
            .field("elapsed_ms", &self.elapsed_ms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_content() {
        let mut r = AnalysisRequest::new("secret prompt text");
        r.instructions = Some("be kind".into());
        r.inputs.push(Input::Text("my diary secret".into()));
        r.inputs
            .push(Input::Json(serde_json::json!({"mood":"secret-json"})));
        r.inputs.push(Input::Record {
            record_id: "rec_1".into(),
            plaintext: b"secret record".to_vec(),
        });
        let d = format!("{r:?}");
        assert!(!d.contains("secret"), "{d}");
        assert!(d.contains("prompt_len: 18"), "{d}");
        assert!(d.contains("\"record\""), "{d}");
    }

    #[test]
    fn zeroize_clears_everything() {
        let mut r = AnalysisRequest::new("p");
        r.inputs
            .push(Input::Json(serde_json::json!({"a":["x",{"b":"y"}]})));
        r.zeroize();
        assert!(r.prompt.is_empty());
        assert!(r.inputs.is_empty());
    }

    #[test]
    fn zeroize_json_handles_deep_nesting() {
        let mut v = serde_json::Value::String("leaf".into());
        for _ in 0..100_000 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert!(json_content_len(&v) == 4);
        zeroize_json(&mut v);
        assert!(v.is_null());
    }

    #[test]
    fn analysis_serialises_required_fields() {
        let a = Analysis {
            provider: "offline".into(),
            model: "m".into(),
            output: serde_json::json!("hi"),
            finish_reason: None,
            usage: None,
            elapsed_ms: 3,
            note: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&a.to_json_bytes().unwrap()).unwrap();
        assert_eq!(v["provider"], "offline");
        assert_eq!(v["model"], "m");
        assert_eq!(v["output"], "hi");
        assert!(v.get("usage").is_none());
    }
}
