//! Anthropic Messages provider.
//!
//! Wire format: `POST {base_url}/v1/messages` with headers `x-api-key`,
//! `anthropic-version: 2023-06-01`, body
//! `{"model", "max_tokens" (required), "system"?: instructions,
//! "messages": [{"role":"user","content":[blocks]}]}` where blocks are
//! `{"type":"text","text"}`, `{"type":"image","source":{"type":"base64",
//! "media_type","data"}}` and `{"type":"document","source":{"type":"base64",
//! "media_type":"application/pdf","data"}}`. The answer is the concatenation of
//! the `text` blocks of `content`; `usage.input_tokens`/`output_tokens` and
//! `stop_reason` are reported. Errors follow
//! `{"type":"error","error":{"type","message"}}`; only `error.type` is kept.
//! HTTP 529 (`overloaded_error`) and 503 map to [`ProviderError::Overloaded`].

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::http::{self, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};
use crate::render::{self, Part};
use crate::{Analysis, AnalysisRequest, ApiKey, Provider, ProviderError, RefusalReason, Usage};

/// Provider name reported in [`Analysis::provider`].
pub const PROVIDER_NAME: &str = "anthropic";
/// The API version header value this provider speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Configuration of [`Anthropic`].
#[derive(Clone, Debug)]
pub struct AnthropicConfig {
    /// Base URL without `/v1/messages`; `https://api.anthropic.com` by default.
    pub base_url: String,
    /// The API key, sent only in `x-api-key`.
    pub api_key: ApiKey,
    /// Model used when the request names none.
    pub default_model: String,
    /// Models a request may ask for; empty means any (checked for shape only).
    pub allowed_models: Vec<String>,
    /// `max_tokens` when the request gives none (the API requires one).
    pub default_max_tokens: u32,
    /// Upper bound a request may ask for.
    pub max_tokens_limit: u32,
    /// Non-secret extra headers (e.g. `anthropic-beta`).
    pub extra_headers: Vec<(String, String)>,
    /// Whole-call timeout.
    pub timeout: Duration,
    /// Bound on request content, in bytes.
    pub max_request_bytes: usize,
    /// Bound on the response body, in bytes.
    pub max_response_bytes: usize,
}

impl AnthropicConfig {
    /// The public API with `claude-sonnet-4-5`, `max_tokens` 1024, 120 s timeout.
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            base_url: "https://api.anthropic.com".to_owned(),
            api_key,
            default_model: "claude-sonnet-4-5".to_owned(),
            allowed_models: Vec::new(),
            default_max_tokens: 1024,
            max_tokens_limit: 64_000,
            extra_headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Anthropic Messages provider.
#[derive(Debug)]
pub struct Anthropic {
    config: AnthropicConfig,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
}

impl Anthropic {
    /// Builds the provider with the caller's HTTP client (or a default one when
    /// `None`). Fails on an invalid base URL, header, key or model name.
    pub fn new(
        config: AnthropicConfig,
        client: Option<reqwest::Client>,
    ) -> Result<Self, ProviderError> {
        let url = http::endpoint(&config.base_url, "/v1/messages")?;
        let mut headers = http::header_map(&config.extra_headers)?;
        let (n, v) = http::secret_header("x-api-key", &config.api_key, "")?;
        headers.insert(n, v);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        http::check_model(&config.default_model)
            .map_err(|_| ProviderError::Config("invalid default model"))?;
        if config.default_max_tokens == 0 || config.default_max_tokens > config.max_tokens_limit {
            return Err(ProviderError::Config("invalid default max_tokens"));
        }
        Ok(Self {
            client: http::client_or_default(client)?,
            config,
            url,
            headers,
        })
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: [UserMessage<'a>; 1],
}

#[derive(Serialize)]
struct UserMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    Image { source: Source<'a> },
    Document { source: Source<'a> },
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    model: Option<String>,
    content: Vec<serde_json::Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct MessagesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

pub(crate) fn build_body(
    config: &AnthropicConfig,
    req: &AnalysisRequest,
    model: &str,
) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
    let max_tokens = match req.max_tokens {
        Some(n) if n == 0 || n > config.max_tokens_limit => {
            return Err(ProviderError::InputRefused(RefusalReason::InvalidMaxTokens))
        }
        Some(n) => n,
        None => config.default_max_tokens,
    };
    let parts = render::render(req, true, config.max_request_bytes)?;
    let content: Vec<Block<'_>> = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => Block::Text { text: t.as_str() },
            Part::Image { media_type, base64 } => Block::Image {
                source: Source {
                    kind: "base64",
                    media_type,
                    data: base64.as_str(),
                },
            },
            Part::Pdf { base64 } => Block::Document {
                source: Source {
                    kind: "base64",
                    media_type: "application/pdf",
                    data: base64.as_str(),
                },
            },
        })
        .collect();
    http::to_json_exact(&MessagesRequest {
        model,
        max_tokens,
        system: req.instructions.as_deref().filter(|s| !s.is_empty()),
        messages: [UserMessage {
            role: "user",
            content,
        }],
    })
}

fn parse_success(
    body: &[u8],
    requested_model: &str,
) -> Result<(String, String, Option<String>, Option<Usage>), ProviderError> {
    let parsed: MessagesResponse = serde_json::from_slice(body)
        .map_err(|_| ProviderError::MalformedResponse("response is not a message"))?;
    if parsed.kind.as_deref().is_some_and(|k| k != "message") {
        return Err(ProviderError::MalformedResponse("unexpected response type"));
    }
    let usage = parsed.usage.map(|u| Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
    });
    let model = parsed
        .model
        .filter(|m| http::check_model(m).is_ok())
        .unwrap_or_else(|| requested_model.to_owned());
    let mut text = String::new();
    let mut any = false;
    for mut block in parsed.content {
        if block.get("type").and_then(|t| t.as_str()) == Some("text") {
            if let Some(t) = block.get("text").and_then(|t| t.as_str()) {
                text.push_str(t);
                any = true;
            }
        }
        crate::types::zeroize_json(&mut block);
    }
    // A refusal or max_tokens stop may legitimately carry no text block.
    if !any && parsed.stop_reason.is_none() {
        return Err(ProviderError::MalformedResponse("no text content"));
    }
    Ok((model, text, parsed.stop_reason, usage))
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    fn default_model(&self) -> &str {
        &self.config.default_model
    }

    async fn analyze(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        let started = Instant::now();
        let model = request
            .model
            .as_deref()
            .unwrap_or(&self.config.default_model);
        http::check_model(model)?;
        if !self.config.allowed_models.is_empty()
            && !self.config.allowed_models.iter().any(|m| m == model)
        {
            return Err(ProviderError::InputRefused(RefusalReason::InvalidModel));
        }
        let body = build_body(&self.config, request, model)?;
        let raw = http::post_json(
            &self.client,
            self.url.clone(),
            self.headers.clone(),
            body,
            self.config.timeout,
            self.config.max_response_bytes,
        )
        .await?;
        tracing::debug!(
            provider = PROVIDER_NAME,
            status = raw.status.as_u16(),
            elapsed_ms = Analysis::millis(started.elapsed()),
            "upstream answered"
        );
        if !raw.status.is_success() {
            return Err(http::status_error(&raw, &[503, 529]));
        }
        let (model, text, finish_reason, usage) = parse_success(&raw.body, model)?;
        Ok(Analysis {
            provider: PROVIDER_NAME.to_owned(),
            model,
            output: serde_json::Value::String(text),
            finish_reason,
            usage,
            elapsed_ms: Analysis::millis(started.elapsed()),
            note: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;

    #[test]
    fn body_shape() {
        let cfg = AnthropicConfig::new(ApiKey::from("k"));
        let mut r = AnalysisRequest::new("Summarise");
        r.instructions = Some("Be brief".into());
        r.inputs.push(Input::Bytes {
            media_type: "image/webp".into(),
            data: vec![1, 2, 3],
        });
        r.inputs.push(Input::Bytes {
            media_type: "application/pdf".into(),
            data: vec![4],
        });
        let body = build_body(&cfg, &r, "claude-x").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["model"], "claude-x");
        assert_eq!(v["max_tokens"], 1024);
        assert_eq!(v["system"], "Be brief");
        let c = &v["messages"][0]["content"];
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(c[0], serde_json::json!({"type":"text","text":"Summarise"}));
        assert_eq!(
            c[1],
            serde_json::json!({"type":"image","source":{"type":"base64","media_type":"image/webp","data":"AQID"}})
        );
        assert_eq!(c[2]["type"], "document");
        assert_eq!(c[2]["source"]["media_type"], "application/pdf");
    }

    #[test]
    fn empty_request_is_refused() {
        let cfg = AnthropicConfig::new(ApiKey::from("k"));
        assert!(matches!(
            build_body(&cfg, &AnalysisRequest::new(""), "m"),
            Err(ProviderError::InputRefused(RefusalReason::EmptyRequest))
        ));
    }

    #[test]
    fn parse_variants() {
        let (m, t, s, u) = parse_success(
            br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}"#,
            "req",
        )
        .unwrap();
        assert_eq!(
            (m.as_str(), t.as_str(), s.as_deref()),
            ("claude-x", "Hello", Some("end_turn"))
        );
        assert_eq!(
            u,
            Some(Usage {
                input_tokens: 5,
                output_tokens: 2
            })
        );
        assert!(parse_success(br#"{"type":"error","error":{"type":"x"}}"#, "r").is_err());
        assert!(parse_success(br#"{"type":"message","content":[]}"#, "r").is_err());
        assert!(parse_success(br#"{"type":"message","content":"str"}"#, "r").is_err());
    }
}
