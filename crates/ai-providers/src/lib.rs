//! AI providers for the Zenalyze enclave (SPEC §5).
//!
//! The enclave opens a sealed AI request, decrypts the referenced records,
//! builds an [`AnalysisRequest`] and hands it to a [`Provider`] held as
//! `Arc<dyn Provider>`. Providers:
//!
//! - OpenAI-compatible Chat Completions (OpenAI, Azure OpenAI, vLLM, Ollama,
//!   llama.cpp) — module `openai`;
//! - Anthropic Messages — module `anthropic`;
//! - the offline analyzer (development default, no network, **not an LLM**) —
//!   module `offline`.
//!
//! HTTP providers take the caller's [`reqwest::Client`] (the enclave routes it
//! through its egress proxy with TLS ending inside the enclave) and build one of
//! their own only when given none.
//!
//! Content handling: requests and answers are wiped on drop, `Debug` shows sizes
//! only, errors ([`ProviderError`]) carry no content, and nothing here logs
//! content (only provider, model, status and timing at `debug` level).
//!
//! ```
//! use std::sync::Arc;
//! use zenalyze_ai_providers::{AnalysisRequest, Input, OfflineAnalyzer, Provider};
//!
//! let provider: Arc<dyn Provider> = Arc::new(OfflineAnalyzer::new());
//! let mut req = AnalysisRequest::new("How was my day?");
//! req.instructions = Some("Summarise kindly.".into());
//! req.inputs.push(Input::Text("I slept well and had a lovely walk.".into()));
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let answer = rt.block_on(provider.analyze(&req)).unwrap();
//! assert_eq!(answer.provider, "offline");
//! assert_eq!(answer.model, "zenalyze-offline-analyzer-v1");
//! assert!(answer.output["sentiment"]["overall"]["compound"].as_f64().unwrap() > 0.0);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anthropic;
pub mod error;
mod http;
pub mod offline;
pub mod openai;
mod render;
pub mod secret;
pub mod spec;
pub mod types;

use async_trait::async_trait;

pub use anthropic::{Anthropic, AnthropicConfig};
pub use error::{ProviderError, RefusalReason};
pub use http::{DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};
pub use offline::OfflineAnalyzer;
pub use openai::{MaxTokensField, OpenAiAuth, OpenAiCompatible, OpenAiConfig};
pub use secret::ApiKey;
pub use spec::ProviderSpec;
pub use types::{zeroize_json, Analysis, AnalysisRequest, Input, Usage};

/// An AI provider. Object-safe: hold it as `Arc<dyn Provider>`.
///
/// Implementations must not log or return request content in errors, must
/// refuse inputs they cannot forward faithfully ([`ProviderError::InputRefused`])
/// rather than silently dropping them, and must honour their configured timeout.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Stable provider name, copied into [`Analysis::provider`]
    /// (`openai-compatible`, `anthropic`, `offline`).
    fn name(&self) -> &str;

    /// The model used when [`AnalysisRequest::model`] is `None`.
    fn default_model(&self) -> &str;

    /// Runs one analysis. The request is borrowed: the caller owns (and wipes)
    /// the plaintext; the provider wipes the copies it makes (rendered bodies,
    /// response buffers) before returning.
    async fn analyze(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError>;
}
