//! Offline analyzer (development default): real, deterministic analysis of a
//! journal entry without any network. **Not an LLM and not a clinical tool.**
//!
//! Text comes from `text` inputs, the string values of `json` inputs, and
//! record plaintexts read as UTF-8 (string values if the record is JSON);
//! `bytes` inputs are counted but not analysed; when no input carries text the
//! prompt itself is analysed. Instructions, `model` and `max_tokens` do not
//! change the analysis (the answer always names the real engine).
//!
//! The output object ([`JournalReport`]) holds:
//! - `sentiment`: VADER (Hutto & Gilbert 2014) per sentence and overall
//!   (mean of sentence scores), a mood label, a `mixed` flag;
//! - `risk`: crisis-language flags from a curated phrase list ([`risk`]) with
//!   crisis-resource guidance when anything is flagged;
//! - `themes` (taxonomy matches) and `keywords` (term frequency, stopwords removed);
//! - `summary`: up to three input sentences, verbatim, in original order,
//!   chosen by a frequency score;
//! - `stats` and `method`.

pub mod risk;
pub mod text;
pub mod themes;
pub mod vader;

use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::{Analysis, AnalysisRequest, Input, Provider, ProviderError, RefusalReason};
use risk::{RiskFlag, RiskLevel};
use themes::{Keyword, Theme};
use vader::{Polarity, Vader};

/// Provider name reported in [`Analysis::provider`].
pub const PROVIDER_NAME: &str = "offline";
/// Model name reported in [`Analysis::model`].
pub const MODEL_NAME: &str = "zenalyze-offline-analyzer-v1";
/// The note attached to every offline answer.
pub const NOTE: &str = "Produced by the Zenalyze offline analyzer: rule-based text analysis (VADER sentiment, phrase-list risk flags, keyword themes, extractive summary). It is not an LLM, does not understand context the way a person does, and is not a clinical assessment.";
/// Default bound on analysed text (1 MiB).
pub const DEFAULT_MAX_TEXT_BYTES: usize = 1024 * 1024;

/// Sentiment scores of one sentence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SentenceSentiment {
    /// Sentence index (order of appearance across inputs).
    pub index: usize,
    /// VADER scores.
    #[serde(flatten)]
    pub scores: Polarity,
}

/// Sentiment section of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sentiment {
    /// Mean of the sentence scores (all zero when there is no sentence).
    pub overall: Polarity,
    /// `very_negative` (≤ −0.5), `negative` (≤ −0.05), `neutral`,
    /// `positive` (≥ 0.05), `very_positive` (≥ 0.5), from the overall compound.
    pub mood: &'static str,
    /// Whether at least one sentence is clearly positive (≥ 0.5) and one clearly negative (≤ −0.5).
    pub mixed: bool,
    /// Per-sentence scores.
    pub sentences: Vec<SentenceSentiment>,
}

/// Risk section of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Risk {
    /// Overall level.
    pub level: RiskLevel,
    /// Matches, in sentence order.
    pub flags: Vec<RiskFlag>,
    /// Crisis-resource guidance, present when anything is flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<&'static str>,
}

/// Counts describing what was analysed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Sentences analysed.
    pub sentences: usize,
    /// Word tokens analysed.
    pub words: usize,
    /// Characters analysed.
    pub characters: usize,
    /// Inputs whose text was analysed.
    pub text_sources: usize,
    /// `bytes` inputs counted but not analysed.
    pub bytes_inputs_not_analysed: usize,
    /// `record` inputs that were not UTF-8 (not analysed).
    pub records_not_text: usize,
    /// Whether the prompt was analysed (no input carried text).
    pub analysed_prompt: bool,
}

/// The offline analyzer's output object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalReport {
    /// Always `journal_analysis`.
    pub kind: &'static str,
    /// Sentiment.
    pub sentiment: Sentiment,
    /// Risk-language flags.
    pub risk: Risk,
    /// Taxonomy themes.
    pub themes: Vec<Theme>,
    /// Most frequent content words (up to 10).
    pub keywords: Vec<Keyword>,
    /// Extractive summary: input sentences, verbatim, in original order.
    pub summary: Vec<String>,
    /// What was analysed.
    pub stats: Stats,
    /// Method description (fixed text).
    pub method: Method,
}

impl Drop for JournalReport {
    fn drop(&mut self) {
        self.summary.zeroize();
        self.keywords.zeroize();
    }
}

/// Fixed description of the methods used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Method {
    /// Sentiment method.
    pub sentiment: &'static str,
    /// Risk method.
    pub risk: &'static str,
    /// Themes method.
    pub themes: &'static str,
    /// Summary method.
    pub summary: &'static str,
}

const METHOD: Method = Method {
    sentiment: "VADER (Hutto & Gilbert, ICWSM 2014), lexicon from vaderSentiment 3.3.2 (MIT); overall = mean of sentence scores",
    risk: "curated English phrase list (suicidal ideation, self-harm, hopelessness, harm to others); negation within 3 preceding words lowers confidence",
    themes: "fixed journaling taxonomy plus term frequency with stopword removal",
    summary: "extractive: sentences ranked by normalised content-word frequency, shown in original order",
};

fn mood(compound: f64) -> &'static str {
    if compound <= -0.5 {
        "very_negative"
    } else if compound <= -0.05 {
        "negative"
    } else if compound < 0.05 {
        "neutral"
    } else if compound < 0.5 {
        "positive"
    } else {
        "very_positive"
    }
}

fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round_ties_even() / f
}

/// How many summary sentences for `n` sentences.
fn summary_len(n: usize) -> usize {
    match n {
        0 => 0,
        1..=3 => 1,
        4..=10 => 2,
        _ => 3,
    }
}

/// Analyses a set of texts (each an independent document; sentences never
/// span two documents). Pure and deterministic.
pub fn analyze_texts(docs: &[&str]) -> JournalReport {
    let vader = Vader::global();
    let mut sentences: Vec<&str> = Vec::new();
    for d in docs {
        sentences.extend(text::sentences(d));
    }
    let tokens: Vec<Zeroizing<Vec<String>>> = sentences
        .iter()
        .map(|s| Zeroizing::new(text::words(s)))
        .collect();

    // Sentiment.
    let per: Vec<SentenceSentiment> = sentences
        .iter()
        .enumerate()
        .map(|(index, s)| SentenceSentiment {
            index,
            scores: vader.polarity_scores(s),
        })
        .collect();
    let n = per.len().max(1) as f64;
    let mean =
        |f: fn(&Polarity) -> f64| round_to(per.iter().map(|p| f(&p.scores)).sum::<f64>() / n, 4);
    let overall = Polarity {
        neg: mean(|p| p.neg),
        neu: mean(|p| p.neu),
        pos: mean(|p| p.pos),
        compound: mean(|p| p.compound),
    };
    let mixed = per.iter().any(|p| p.scores.compound >= 0.5)
        && per.iter().any(|p| p.scores.compound <= -0.5);

    // Risk.
    let mut flags = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        risk::scan_sentence(t, i, &mut flags);
    }
    let level = risk::level(&flags);

    // Themes and keywords.
    let all = tokens.iter().flat_map(|t| t.iter().map(String::as_str));
    let themes = themes::themes(all.clone());
    let keywords = themes::keywords(all.clone(), 10);

    // Summary: frequency-ranked sentences.
    let mut freq: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in all.filter(|t| themes::is_content(t)) {
        *freq.entry(t).or_insert(0) += 1;
    }
    let max_f = freq.values().copied().max().unwrap_or(1).max(1) as f64;
    let mut ranked: Vec<(usize, f64)> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let content: Vec<&str> = t
                .iter()
                .map(String::as_str)
                .filter(|w| themes::is_content(w))
                .collect();
            let score = if content.is_empty() {
                0.0
            } else {
                content
                    .iter()
                    .map(|w| freq.get(w).copied().unwrap_or(0) as f64 / max_f)
                    .sum::<f64>()
                    / (content.len() as f64).sqrt()
            };
            (i, score)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = ranked
        .iter()
        .take(summary_len(sentences.len()))
        .map(|r| r.0)
        .collect();
    chosen.sort_unstable();
    let summary: Vec<String> = chosen
        .iter()
        .filter_map(|&i| sentences.get(i).map(|s| (*s).to_owned()))
        .collect();

    let stats = Stats {
        sentences: sentences.len(),
        words: tokens.iter().map(|t| t.len()).sum(),
        characters: docs.iter().map(|d| d.chars().count()).sum(),
        text_sources: docs.len(),
        ..Stats::default()
    };

    JournalReport {
        kind: "journal_analysis",
        sentiment: Sentiment {
            overall,
            mood: mood(overall.compound),
            mixed,
            sentences: per,
        },
        risk: Risk {
            level,
            guidance: (level != RiskLevel::None).then_some(risk::CRISIS_GUIDANCE),
            flags,
        },
        themes,
        keywords,
        summary,
        stats,
        method: METHOD,
    }
}

/// Collects the string values of a JSON value, in document order
/// (iterative: hostile nesting cannot overflow the stack).
fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => stack.extend(a.iter().rev()),
            serde_json::Value::Object(o) => stack.extend(o.values().rev()),
            _ => {}
        }
    }
}

/// The offline analyzer as a [`Provider`].
#[derive(Clone, Debug)]
pub struct OfflineAnalyzer {
    max_text_bytes: usize,
}

impl Default for OfflineAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl OfflineAnalyzer {
    /// An analyzer with the default text bound (1 MiB). Loads the lexicons.
    pub fn new() -> Self {
        Self::with_max_text_bytes(DEFAULT_MAX_TEXT_BYTES)
    }

    /// An analyzer refusing requests whose analysable text exceeds `max_text_bytes`.
    pub fn with_max_text_bytes(max_text_bytes: usize) -> Self {
        let _ = Vader::global();
        Self { max_text_bytes }
    }

    /// Runs the analysis synchronously (the [`Provider`] impl calls this).
    pub fn analyze_request(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        let started = Instant::now();
        // Record plaintexts that are JSON documents, parsed once (wiped on drop).
        let parsed: Vec<Option<ParsedJson>> = request
            .inputs
            .iter()
            .map(|input| match input {
                Input::Record { plaintext, .. } => std::str::from_utf8(plaintext)
                    .ok()
                    .filter(|s| {
                        let t = s.trim_start();
                        t.starts_with('{') || t.starts_with('[')
                    })
                    .and_then(|s| serde_json::from_str(s).ok())
                    .map(ParsedJson),
                _ => None,
            })
            .collect();
        let mut docs: Vec<&str> = Vec::new();
        let mut stats = Stats::default();
        for (input, parsed) in request.inputs.iter().zip(&parsed) {
            match input {
                Input::Text(t) => docs.push(t),
                Input::Json(v) => json_strings(v, &mut docs),
                Input::Bytes { .. } => stats.bytes_inputs_not_analysed += 1,
                Input::Record { plaintext, .. } => match (parsed, std::str::from_utf8(plaintext)) {
                    (Some(p), _) => json_strings(&p.0, &mut docs),
                    (None, Ok(s)) => docs.push(s),
                    (None, Err(_)) => stats.records_not_text += 1,
                },
            }
        }
        docs.retain(|d| !d.trim().is_empty());
        if docs.is_empty() && !request.prompt.trim().is_empty() {
            docs.push(&request.prompt);
            stats.analysed_prompt = true;
        }
        let total: usize = docs.iter().map(|d| d.len()).sum();
        if total > self.max_text_bytes {
            return Err(ProviderError::InputRefused(RefusalReason::TooLarge));
        }
        let mut report = analyze_texts(&docs);
        report.stats.bytes_inputs_not_analysed = stats.bytes_inputs_not_analysed;
        report.stats.records_not_text = stats.records_not_text;
        report.stats.analysed_prompt = stats.analysed_prompt;
        let output = serde_json::to_value(&report)
            .map_err(|_| ProviderError::MalformedResponse("offline report serialisation failed"))?;
        tracing::debug!(
            provider = PROVIDER_NAME,
            sentences = report.stats.sentences,
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "offline analysis done"
        );
        Ok(Analysis {
            provider: PROVIDER_NAME.to_owned(),
            model: MODEL_NAME.to_owned(),
            output,
            finish_reason: None,
            usage: None,
            elapsed_ms: Analysis::millis(started.elapsed()),
            note: Some(NOTE.to_owned()),
        })
    }
}

/// A JSON value parsed from a record plaintext, wiped on drop.
struct ParsedJson(serde_json::Value);

impl Drop for ParsedJson {
    fn drop(&mut self) {
        crate::types::zeroize_json(&mut self.0);
    }
}

#[async_trait]
impl Provider for OfflineAnalyzer {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    fn default_model(&self) -> &str {
        MODEL_NAME
    }

    async fn analyze(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        self.analyze_request(request)
    }
}
