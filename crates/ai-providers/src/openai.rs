//! OpenAI-compatible Chat Completions provider (OpenAI, Azure OpenAI, vLLM,
//! Ollama, llama.cpp server).
//!
//! Wire format: `POST {base_url}/chat/completions` with
//! `{"model", "messages": [{"role":"system","content":instructions}?,
//! {"role":"user","content": …}], "max_tokens"|"max_completion_tokens"?, "stream": false}`.
//! The user content is a plain string when every part is text (the form every
//! compatible server accepts) and an array of `text` / `image_url` parts
//! (images as `data:` URLs) otherwise. The answer is
//! `choices[0].message.content`; `usage.prompt_tokens`/`completion_tokens` are
//! reported when present. Errors follow `{"error":{"type","code","message"}}`;
//! only `type`/`code` are kept.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::http::{self, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};
use crate::render::{self, Part};
use crate::{Analysis, AnalysisRequest, ApiKey, Provider, ProviderError, RefusalReason, Usage};

/// Provider name reported in [`Analysis::provider`].
pub const PROVIDER_NAME: &str = "openai-compatible";

/// How the API key is sent.
#[derive(Clone, Debug)]
pub enum OpenAiAuth {
    /// `Authorization: Bearer <key>` (OpenAI, vLLM `--api-key`, most servers).
    Bearer(ApiKey),
    /// The key in a named header, e.g. Azure OpenAI's `api-key`.
    Header {
        /// Header name.
        name: String,
        /// The key.
        key: ApiKey,
    },
    /// No authentication (local Ollama, llama.cpp, vLLM without a key).
    None,
}

/// Which body field carries the token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaxTokensField {
    /// `max_tokens` (classic field; Azure, vLLM, Ollama, llama.cpp).
    #[default]
    MaxTokens,
    /// `max_completion_tokens` (required by OpenAI reasoning models).
    MaxCompletionTokens,
}

/// Configuration of [`OpenAiCompatible`].
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// Base URL without `/chat/completions`, e.g. `https://api.openai.com/v1`,
    /// `https://{resource}.openai.azure.com/openai/deployments/{deployment}`,
    /// `http://127.0.0.1:11434/v1` (Ollama), `http://127.0.0.1:8000/v1` (vLLM).
    pub base_url: String,
    /// Authentication.
    pub auth: OpenAiAuth,
    /// Model used when the request names none (Azure: the deployment's model).
    pub default_model: String,
    /// Models a request may ask for; empty means any (checked for shape only).
    pub allowed_models: Vec<String>,
    /// Non-secret extra headers (e.g. `OpenAI-Organization`).
    pub extra_headers: Vec<(String, String)>,
    /// Query parameters added to every call (Azure: `("api-version", "2024-10-21")`).
    pub query: Vec<(String, String)>,
    /// Whole-call timeout (connect, send, wait, read).
    pub timeout: Duration,
    /// Token limit applied when the request gives none (`None`: send no limit).
    pub default_max_tokens: Option<u32>,
    /// Upper bound a request may ask for.
    pub max_tokens_limit: u32,
    /// Field name for the token limit.
    pub max_tokens_field: MaxTokensField,
    /// Bound on request content (prompt + instructions + inputs), in bytes.
    pub max_request_bytes: usize,
    /// Bound on the response body, in bytes.
    pub max_response_bytes: usize,
}

impl OpenAiConfig {
    /// OpenAI's public API (`https://api.openai.com/v1`, bearer key, `gpt-4o-mini`).
    pub fn openai(api_key: ApiKey) -> Self {
        Self::with_base(
            "https://api.openai.com/v1",
            OpenAiAuth::Bearer(api_key),
            "gpt-4o-mini",
        )
    }

    /// Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with the key in the `api-key` header.
    pub fn azure(endpoint: &str, deployment: &str, api_version: &str, api_key: ApiKey) -> Self {
        let base = format!(
            "{}/openai/deployments/{}",
            endpoint.trim().trim_end_matches('/'),
            deployment
        );
        let mut c = Self::with_base(
            &base,
            OpenAiAuth::Header {
                name: "api-key".into(),
                key: api_key,
            },
            deployment,
        );
        c.query.push(("api-version".into(), api_version.into()));
        c
    }

    /// A local OpenAI-compatible server (vLLM, Ollama, llama.cpp) without a key.
    pub fn local(base_url: &str, model: &str) -> Self {
        Self::with_base(base_url, OpenAiAuth::None, model)
    }

    fn with_base(base_url: &str, auth: OpenAiAuth, model: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            auth,
            default_model: model.to_owned(),
            allowed_models: Vec::new(),
            extra_headers: Vec::new(),
            query: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            default_max_tokens: Some(1024),
            max_tokens_limit: 32_768,
            max_tokens_field: MaxTokensField::MaxTokens,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// OpenAI-compatible Chat Completions provider.
#[derive(Debug)]
pub struct OpenAiCompatible {
    config: OpenAiConfig,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
}

impl OpenAiCompatible {
    /// Builds the provider. `client` is the caller's HTTP client (the enclave's,
    /// routed through its egress proxy); with `None` a default client is built.
    /// Fails on an invalid base URL, header, key or model name.
    pub fn new(
        config: OpenAiConfig,
        client: Option<reqwest::Client>,
    ) -> Result<Self, ProviderError> {
        let mut url = http::endpoint(&config.base_url, "/chat/completions")?;
        if !config.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &config.query {
                q.append_pair(k, v);
            }
        }
        let mut headers = http::header_map(&config.extra_headers)?;
        match &config.auth {
            OpenAiAuth::Bearer(key) => {
                let (n, v) = http::secret_header("authorization", key, "Bearer ")?;
                headers.insert(n, v);
            }
            OpenAiAuth::Header { name, key } => {
                let (n, v) = http::secret_header(name, key, "")?;
                headers.insert(n, v);
            }
            OpenAiAuth::None => {}
        }
        http::check_model(&config.default_model)
            .map_err(|_| ProviderError::Config("invalid default model"))?;
        Ok(Self {
            client: http::client_or_default(client)?,
            config,
            url,
            headers,
        })
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    stream: bool,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: ChatContent<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ChatContent<'a> {
    Text(&'a str),
    Parts(Vec<ChatPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ChatPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<serde_json::Value>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Builds the request body (exact-size, wiped buffer).
pub(crate) fn build_body(
    config: &OpenAiConfig,
    req: &AnalysisRequest,
    model: &str,
) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
    let max_tokens = match req.max_tokens {
        Some(0) => return Err(ProviderError::InputRefused(RefusalReason::InvalidMaxTokens)),
        Some(n) if n > config.max_tokens_limit => {
            return Err(ProviderError::InputRefused(RefusalReason::InvalidMaxTokens))
        }
        Some(n) => Some(n),
        None => config.default_max_tokens,
    };
    let parts = render::render(req, false, config.max_request_bytes)?;
    let joined = render::join_if_all_text(&parts);
    // data: URLs for images, kept alive (and wiped) for the serialisation.
    let data_urls: Vec<Option<Zeroizing<String>>> = parts
        .iter()
        .map(|p| match p {
            Part::Image { media_type, base64 } => {
                let mut s = Zeroizing::new(String::with_capacity(
                    5 + media_type.len() + 8 + base64.len(),
                ));
                s.push_str("data:");
                s.push_str(media_type);
                s.push_str(";base64,");
                s.push_str(base64);
                Some(s)
            }
            _ => None,
        })
        .collect();
    let user_content = match &joined {
        Some(text) => ChatContent::Text(text.as_str()),
        None => ChatContent::Parts(
            parts
                .iter()
                .zip(&data_urls)
                .filter_map(|(p, url)| match (p, url) {
                    (Part::Text(t), _) => Some(ChatPart::Text { text: t.as_str() }),
                    (Part::Image { .. }, Some(u)) => Some(ChatPart::ImageUrl {
                        image_url: ImageUrl { url: u.as_str() },
                    }),
                    _ => None,
                })
                .collect(),
        ),
    };
    let mut messages = Vec::with_capacity(2);
    if let Some(sys) = req.instructions.as_deref().filter(|s| !s.is_empty()) {
        messages.push(ChatMessage {
            role: "system",
            content: ChatContent::Text(sys),
        });
    }
    messages.push(ChatMessage {
        role: "user",
        content: user_content,
    });
    let (mt, mct) = match config.max_tokens_field {
        MaxTokensField::MaxTokens => (max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, max_tokens),
    };
    http::to_json_exact(&ChatRequest {
        model,
        messages,
        max_tokens: mt,
        max_completion_tokens: mct,
        stream: false,
    })
}

/// Concatenates a `content` that is a string or an array of text parts.
fn content_text(content: serde_json::Value) -> Option<String> {
    match content {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Array(items) => {
            let mut out = String::new();
            let mut any = false;
            for mut item in items {
                if let Some(t) = item.get("text").and_then(|t| t.as_str()) {
                    out.push_str(t);
                    any = true;
                }
                crate::types::zeroize_json(&mut item);
            }
            any.then_some(out)
        }
        mut other => {
            crate::types::zeroize_json(&mut other);
            None
        }
    }
}

fn parse_success(
    body: &[u8],
    requested_model: &str,
) -> Result<(String, String, Option<String>, Option<Usage>), ProviderError> {
    let parsed: ChatResponse = serde_json::from_slice(body)
        .map_err(|_| ProviderError::MalformedResponse("response is not a chat completion"))?;
    let usage = parsed.usage.map(|u| Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
    });
    let model = parsed
        .model
        .filter(|m| http::check_model(m).is_ok())
        .unwrap_or_else(|| requested_model.to_owned());
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or(ProviderError::MalformedResponse("no choices"))?;
    let message = choice
        .message
        .ok_or(ProviderError::MalformedResponse("choice has no message"))?;
    let mut finish_reason = choice.finish_reason;
    let text = match message.content.and_then(content_text) {
        Some(t) => t,
        None => match message.refusal {
            Some(r) => {
                finish_reason = Some("refusal".to_owned());
                r
            }
            None => {
                return Err(ProviderError::MalformedResponse(
                    "message has no text content",
                ))
            }
        },
    };
    Ok((model, text, finish_reason, usage))
}

#[async_trait]
impl Provider for OpenAiCompatible {
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
            return Err(http::status_error(&raw, &[503]));
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
    fn body_text_only_is_a_string() {
        let cfg = OpenAiConfig::local("http://127.0.0.1:1/v1", "m");
        let mut r = AnalysisRequest::new("Summarise");
        r.instructions = Some("Be brief".into());
        r.inputs.push(Input::Text("entry".into()));
        let body = build_body(&cfg, &r, "m").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][0]["content"], "Be brief");
        assert_eq!(v["messages"][1]["content"], "Summarise\n\nentry");
        assert_eq!(v["max_tokens"], 1024);
        assert_eq!(v["stream"], false);
    }

    #[test]
    fn body_with_image_uses_parts() {
        let mut cfg = OpenAiConfig::local("http://127.0.0.1:1/v1", "m");
        cfg.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        let mut r = AnalysisRequest::new("Describe");
        r.max_tokens = Some(7);
        r.inputs.push(Input::Bytes {
            media_type: "image/jpeg".into(),
            data: vec![0xff, 0xd8],
        });
        let body = build_body(&cfg, &r, "m").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        let parts = &v["messages"][0]["content"];
        assert_eq!(parts[0]["type"], "text");
        assert_eq!(parts[1]["type"], "image_url");
        assert_eq!(parts[1]["image_url"]["url"], "data:image/jpeg;base64,/9g=");
        assert_eq!(v["max_completion_tokens"], 7);
        assert!(v.get("max_tokens").is_none());
    }

    #[test]
    fn max_tokens_bounds() {
        let cfg = OpenAiConfig::local("http://127.0.0.1:1/v1", "m");
        let mut r = AnalysisRequest::new("x");
        r.max_tokens = Some(0);
        assert!(matches!(
            build_body(&cfg, &r, "m"),
            Err(ProviderError::InputRefused(RefusalReason::InvalidMaxTokens))
        ));
        r.max_tokens = Some(cfg.max_tokens_limit + 1);
        assert!(build_body(&cfg, &r, "m").is_err());
    }

    #[test]
    fn parse_variants() {
        let (m, t, f, u) = parse_success(
            br#"{"model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
            "req",
        )
        .unwrap();
        assert_eq!(
            (m.as_str(), t.as_str(), f.as_deref()),
            ("gpt-x", "hi", Some("stop"))
        );
        assert_eq!(
            u,
            Some(Usage {
                input_tokens: 3,
                output_tokens: 1
            })
        );
        let (_, t, f, _) = parse_success(
            br#"{"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}"#,
            "req",
        )
        .unwrap();
        assert_eq!((t.as_str(), f.as_deref()), ("no", Some("refusal")));
        let (_, t, _, _) = parse_success(
            br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#,
            "req",
        )
        .unwrap();
        assert_eq!(t, "ab");
        assert!(parse_success(br#"{"choices":[]}"#, "r").is_err());
        assert!(parse_success(b"not json", "r").is_err());
        assert!(parse_success(br#"{"choices":[{"message":{"content":null}}]}"#, "r").is_err());
    }

    #[test]
    fn config_errors() {
        assert!(OpenAiCompatible::new(OpenAiConfig::local("nope", "m"), None).is_err());
        assert!(OpenAiCompatible::new(OpenAiConfig::local("http://h/v1", ""), None).is_err());
        let p = OpenAiCompatible::new(OpenAiConfig::openai(ApiKey::from("sk-abc123xyz")), None)
            .unwrap();
        assert!(!format!("{p:?}").contains("abc123xyz"));
        let bad_key = OpenAiConfig::openai(ApiKey::from("line\nbreak"));
        assert!(OpenAiCompatible::new(bad_key, None).is_err());
        let az = OpenAiConfig::azure(
            "https://r.openai.azure.com/",
            "dep",
            "2024-10-21",
            ApiKey::from("k"),
        );
        let p = OpenAiCompatible::new(az, None).unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"
        );
    }
}
