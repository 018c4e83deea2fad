//! Choosing and building a provider from settings.
//!
//! [`ProviderSpec::from_lookup`] reads `ZENALYZE_AI_*` settings through a
//! caller-supplied lookup (environment, config file, parent-provided
//! settings…) so it stays pure and testable:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `ZENALYZE_AI_PROVIDER` | `offline`, `openai`, `openai-compatible`, `azure-openai`, `anthropic` | `offline` |
//! | `ZENALYZE_AI_API_KEY` | API key (required for `openai`, `azure-openai`, `anthropic`) | — |
//! | `ZENALYZE_AI_BASE_URL` | base URL (required for `openai-compatible`; Azure: the resource endpoint) | the provider's public URL |
//! | `ZENALYZE_AI_MODEL` | default model (Azure: the deployment name, required) | provider default |
//! | `ZENALYZE_AI_API_VERSION` | Azure `api-version` | `2024-10-21` |
//! | `ZENALYZE_AI_TIMEOUT_SECS` | whole-call timeout, 1–3600 | 120 |
//! | `ZENALYZE_AI_MAX_TOKENS` | default `max_tokens` | 1024 |

use std::sync::Arc;
use std::time::Duration;

use crate::{
    Anthropic, AnthropicConfig, ApiKey, OfflineAnalyzer, OpenAiCompatible, OpenAiConfig, Provider,
    ProviderError,
};

/// Which provider to run, with its configuration.
#[derive(Clone, Debug)]
pub enum ProviderSpec {
    /// The offline analyzer (development default).
    Offline,
    /// An OpenAI-compatible Chat Completions endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp).
    OpenAi(OpenAiConfig),
    /// Anthropic Messages.
    Anthropic(AnthropicConfig),
}

impl ProviderSpec {
    /// Builds the provider. HTTP providers use `client` (the enclave's egress
    /// client) or build a default one when `None`.
    pub fn build(
        self,
        client: Option<reqwest::Client>,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(match self {
            ProviderSpec::Offline => Arc::new(OfflineAnalyzer::new()),
            ProviderSpec::OpenAi(c) => Arc::new(OpenAiCompatible::new(c, client)?),
            ProviderSpec::Anthropic(c) => Arc::new(Anthropic::new(c, client)?),
        })
    }

    /// Reads the `ZENALYZE_AI_*` settings (see the module docs) through `get`.
    /// Errors name the offending setting, never its value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let key = |get: &dyn Fn(&str) -> Option<String>| {
            get("ZENALYZE_AI_API_KEY")
                .map(ApiKey::new)
                .ok_or(ProviderError::Config("ZENALYZE_AI_API_KEY is required"))
        };
        let timeout = match get("ZENALYZE_AI_TIMEOUT_SECS") {
            None => None,
            Some(v) => match v.parse::<u64>() {
                Ok(s) if (1..=3600).contains(&s) => Some(Duration::from_secs(s)),
                _ => {
                    return Err(ProviderError::Config(
                        "ZENALYZE_AI_TIMEOUT_SECS must be 1..=3600",
                    ))
                }
            },
        };
        let max_tokens = match get("ZENALYZE_AI_MAX_TOKENS") {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(ProviderError::Config(
                        "ZENALYZE_AI_MAX_TOKENS must be a positive integer",
                    ))
                }
            },
        };
        let provider = get("ZENALYZE_AI_PROVIDER").unwrap_or_else(|| "offline".to_owned());
        let mut spec = match provider.to_ascii_lowercase().as_str() {
            "offline" => return Ok(ProviderSpec::Offline),
            "openai" => {
                let mut c = OpenAiConfig::openai(key(&get)?);
                if let Some(u) = get("ZENALYZE_AI_BASE_URL") {
                    c.base_url = u;
                }
                ProviderSpec::OpenAi(c)
            }
            "openai-compatible" => {
                let base = get("ZENALYZE_AI_BASE_URL")
                    .ok_or(ProviderError::Config("ZENALYZE_AI_BASE_URL is required"))?;
                let model = get("ZENALYZE_AI_MODEL")
                    .ok_or(ProviderError::Config("ZENALYZE_AI_MODEL is required"))?;
                let mut c = OpenAiConfig::local(&base, &model);
                if let Ok(k) = key(&get) {
                    c.auth = crate::OpenAiAuth::Bearer(k);
                }
                ProviderSpec::OpenAi(c)
            }
            "azure-openai" | "azure" => {
                let endpoint = get("ZENALYZE_AI_BASE_URL")
                    .ok_or(ProviderError::Config("ZENALYZE_AI_BASE_URL is required"))?;
                let deployment = get("ZENALYZE_AI_MODEL").ok_or(ProviderError::Config(
                    "ZENALYZE_AI_MODEL (deployment) is required",
                ))?;
                let version =
                    get("ZENALYZE_AI_API_VERSION").unwrap_or_else(|| "2024-10-21".to_owned());
                ProviderSpec::OpenAi(OpenAiConfig::azure(
                    &endpoint,
                    &deployment,
                    &version,
                    key(&get)?,
                ))
            }
            "anthropic" => {
                let mut c = AnthropicConfig::new(key(&get)?);
                if let Some(u) = get("ZENALYZE_AI_BASE_URL") {
                    c.base_url = u;
                }
                ProviderSpec::Anthropic(c)
            }
            _ => return Err(ProviderError::Config("unknown ZENALYZE_AI_PROVIDER")),
        };
        match &mut spec {
            ProviderSpec::OpenAi(c) => {
                if let Some(m) = get("ZENALYZE_AI_MODEL") {
                    c.default_model = m;
                }
                if let Some(t) = timeout {
                    c.timeout = t;
                }
                if max_tokens.is_some() {
                    c.default_max_tokens = max_tokens;
                }
            }
            ProviderSpec::Anthropic(c) => {
                if let Some(m) = get("ZENALYZE_AI_MODEL") {
                    c.default_model = m;
                }
                if let Some(t) = timeout {
                    c.timeout = t;
                }
                if let Some(n) = max_tokens {
                    c.default_max_tokens = n;
                }
            }
            ProviderSpec::Offline => {}
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_to_offline() {
        let s = ProviderSpec::from_lookup(lookup(&[])).unwrap();
        assert!(matches!(s, ProviderSpec::Offline));
        assert_eq!(s.build(None).unwrap().name(), "offline");
    }

    #[test]
    fn openai_and_anthropic() {
        let s = ProviderSpec::from_lookup(lookup(&[
            ("ZENALYZE_AI_PROVIDER", "openai"),
            ("ZENALYZE_AI_API_KEY", "sk-1"),
            ("ZENALYZE_AI_MODEL", "gpt-x"),
            ("ZENALYZE_AI_TIMEOUT_SECS", "30"),
        ]))
        .unwrap();
        match &s {
            ProviderSpec::OpenAi(c) => {
                assert_eq!(c.default_model, "gpt-x");
                assert_eq!(c.timeout, Duration::from_secs(30));
                assert_eq!(c.base_url, "https://api.openai.com/v1");
            }
            other => panic!("{other:?}"),
        }
        let p = s.build(None).unwrap();
        assert_eq!(
            (p.name(), p.default_model()),
            ("openai-compatible", "gpt-x")
        );

        let s = ProviderSpec::from_lookup(lookup(&[
            ("ZENALYZE_AI_PROVIDER", "anthropic"),
            ("ZENALYZE_AI_API_KEY", "k"),
            ("ZENALYZE_AI_MAX_TOKENS", "2048"),
        ]))
        .unwrap();
        assert!(matches!(&s, ProviderSpec::Anthropic(c) if c.default_max_tokens == 2048));
        assert_eq!(s.build(None).unwrap().name(), "anthropic");
    }

    #[test]
    fn azure_and_local() {
        let s = ProviderSpec::from_lookup(lookup(&[
            ("ZENALYZE_AI_PROVIDER", "azure-openai"),
            ("ZENALYZE_AI_API_KEY", "k"),
            ("ZENALYZE_AI_BASE_URL", "https://r.openai.azure.com"),
            ("ZENALYZE_AI_MODEL", "dep"),
        ]))
        .unwrap();
        assert!(
            matches!(&s, ProviderSpec::OpenAi(c) if c.query == vec![("api-version".to_owned(), "2024-10-21".to_owned())])
        );
        let s = ProviderSpec::from_lookup(lookup(&[
            ("ZENALYZE_AI_PROVIDER", "openai-compatible"),
            ("ZENALYZE_AI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("ZENALYZE_AI_MODEL", "llama3.2"),
        ]))
        .unwrap();
        assert!(matches!(&s, ProviderSpec::OpenAi(c) if matches!(c.auth, crate::OpenAiAuth::None)));
    }

    #[test]
    fn errors_name_the_setting_not_the_value() {
        let e =
            ProviderSpec::from_lookup(lookup(&[("ZENALYZE_AI_PROVIDER", "openai")])).unwrap_err();
        assert!(e.to_string().contains("ZENALYZE_AI_API_KEY"));
        let e = ProviderSpec::from_lookup(lookup(&[("ZENALYZE_AI_PROVIDER", "sk-secret-typo")]))
            .unwrap_err();
        assert!(!e.to_string().contains("sk-secret"));
        assert!(ProviderSpec::from_lookup(lookup(&[("ZENALYZE_AI_TIMEOUT_SECS", "0")])).is_err());
        assert!(ProviderSpec::from_lookup(lookup(&[("ZENALYZE_AI_MAX_TOKENS", "x")])).is_err());
    }
}
