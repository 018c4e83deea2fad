//! Risk-language flags: a curated list of crisis phrases matched on word
//! tokens (apostrophes removed, lower case), with simple negation handling.
//!
//! This is phrase matching, **not** a clinical risk assessment. Known limits:
//! it does not understand reported speech ("my friend said she wanted to
//! die"), past tense ("I used to cut myself"), hypotheticals, sarcasm, idioms
//! ("I could kill him for eating my lunch") or misspellings; it only reads
//! English. Negation is detected when a negator ("never", "not", "don't",
//! "wouldn't", "won't", "no"…) appears within the three words before a
//! phrase; such matches are still reported, with `low` confidence and
//! `negated: true`, because a negated mention of self-harm in a journal is
//! itself worth a gentle check-in. False positives are preferred to silence.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

/// Risk category of a phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCategory {
    /// Thoughts of ending one's life.
    SuicidalIdeation,
    /// Deliberate self-injury.
    SelfHarm,
    /// Hopelessness / entrapment language.
    Hopelessness,
    /// Intent to harm another person.
    HarmToOthers,
}

/// Confidence of a single match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Negated mention, or weak signal.
    Low,
    /// Indirect or ambiguous phrase.
    Medium,
    /// Explicit phrase, not negated.
    High,
}

/// Overall level derived from the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// No phrase matched.
    None,
    /// Only negated or weak matches.
    Low,
    /// At least one medium-confidence match.
    Moderate,
    /// At least one explicit, non-negated match.
    High,
}

/// One matched phrase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskFlag {
    /// Category of the phrase.
    pub category: RiskCategory,
    /// The list phrase that matched (from the curated list, not the user's text).
    pub phrase: &'static str,
    /// Index of the sentence (in the analysis' sentence order).
    pub sentence_index: usize,
    /// Confidence of this match.
    pub confidence: Confidence,
    /// Whether a negator preceded the phrase.
    pub negated: bool,
}

/// Guidance shown whenever anything is flagged.
pub const CRISIS_GUIDANCE: &str = "If you are thinking about harming yourself or someone else, or you feel you are in crisis, please reach out now: contact local emergency services, or a crisis line such as 988 (call or text, Suicide & Crisis Lifeline) in the US. Outside the US, your local emergency number or a local crisis line can help. You do not have to go through this alone. (This notice was triggered by automated phrase matching, not by a clinical assessment.)";

use Confidence::{High, Medium};
use RiskCategory::{HarmToOthers, Hopelessness, SelfHarm, SuicidalIdeation};

/// The curated phrase list: (category, phrase in normalised tokens, confidence when not negated).
pub const PHRASES: &[(RiskCategory, &str, Confidence)] = &[
    // Suicidal ideation
    (SuicidalIdeation, "kill myself", High),
    (SuicidalIdeation, "killing myself", High),
    (SuicidalIdeation, "end my life", High),
    (SuicidalIdeation, "ending my life", High),
    (SuicidalIdeation, "end it all", High),
    (SuicidalIdeation, "take my own life", High),
    (SuicidalIdeation, "take my life", High),
    (SuicidalIdeation, "want to die", High),
    (SuicidalIdeation, "wanna die", High),
    (SuicidalIdeation, "wanted to die", Medium),
    (SuicidalIdeation, "ready to die", High),
    (SuicidalIdeation, "wish i was dead", High),
    (SuicidalIdeation, "wish i were dead", High),
    (SuicidalIdeation, "better off dead", High),
    (SuicidalIdeation, "commit suicide", High),
    (SuicidalIdeation, "suicidal", High),
    (SuicidalIdeation, "suicide", Medium),
    (SuicidalIdeation, "no reason to live", High),
    (SuicidalIdeation, "nothing to live for", High),
    (SuicidalIdeation, "not worth living", High),
    (SuicidalIdeation, "no point in living", High),
    (SuicidalIdeation, "dont want to live", High),
    (SuicidalIdeation, "dont want to be alive", High),
    (SuicidalIdeation, "dont want to wake up", Medium),
    (SuicidalIdeation, "want it all to end", High),
    (SuicidalIdeation, "better off without me", Medium),
    (SuicidalIdeation, "want to disappear", Medium),
    (SuicidalIdeation, "overdose", Medium),
    // Self-harm
    (SelfHarm, "cut myself", High),
    (SelfHarm, "cutting myself", High),
    (SelfHarm, "cut my wrists", High),
    (SelfHarm, "hurt myself", High),
    (SelfHarm, "hurting myself", High),
    (SelfHarm, "harm myself", High),
    (SelfHarm, "harming myself", High),
    (SelfHarm, "self harm", High),
    (SelfHarm, "selfharm", High),
    (SelfHarm, "burn myself", High),
    (SelfHarm, "burning myself", High),
    (SelfHarm, "punish myself", Medium),
    (SelfHarm, "starve myself", Medium),
    (SelfHarm, "hit myself", Medium),
    // Hopelessness
    (Hopelessness, "hopeless", Medium),
    (Hopelessness, "no hope", Medium),
    (Hopelessness, "no way out", Medium),
    (Hopelessness, "cant go on", Medium),
    (Hopelessness, "cannot go on", Medium),
    (Hopelessness, "cant do this anymore", Medium),
    (Hopelessness, "cannot do this anymore", Medium),
    (Hopelessness, "give up on life", Medium),
    (Hopelessness, "giving up on life", Medium),
    (Hopelessness, "never going to get better", Medium),
    (Hopelessness, "nothing will ever get better", Medium),
    (Hopelessness, "worthless", Medium),
    (Hopelessness, "am a burden", Medium),
    (Hopelessness, "such a burden", Medium),
    (Hopelessness, "burden to everyone", Medium),
    (Hopelessness, "burden on everyone", Medium),
    (Hopelessness, "whats the point", Medium),
    (Hopelessness, "feel trapped", Medium),
    // Harm to others
    (HarmToOthers, "kill him", High),
    (HarmToOthers, "kill her", High),
    (HarmToOthers, "kill them", High),
    (HarmToOthers, "kill someone", High),
    (HarmToOthers, "kill somebody", High),
    (HarmToOthers, "hurt him", Medium),
    (HarmToOthers, "hurt her", Medium),
    (HarmToOthers, "hurt them", Medium),
    (HarmToOthers, "hurt someone", Medium),
    (HarmToOthers, "hurt somebody", Medium),
    (HarmToOthers, "hurt people", Medium),
    (HarmToOthers, "stab him", High),
    (HarmToOthers, "stab her", High),
    (HarmToOthers, "stab them", High),
    (HarmToOthers, "shoot him", High),
    (HarmToOthers, "shoot her", High),
    (HarmToOthers, "shoot them", High),
    (HarmToOthers, "make them pay", Medium),
];

/// Words that negate a phrase when they appear within the three words before it.
const NEGATORS: &[&str] = &[
    "never", "not", "no", "dont", "doesnt", "didnt", "wont", "wouldnt", "wouldn", "cant", "cannot",
    "couldnt", "shouldnt", "isnt", "arent", "wasnt", "werent", "aint", "nor", "neither",
];

const NEGATION_WINDOW: usize = 3;

/// A phrase immediately followed by one of these words is not a match
/// ("I hurt her feelings", "hurt his pride" are not threats).
const NOT_FOLLOWED_BY: &[&str] = &[
    "feelings",
    "feeling",
    "pride",
    "ego",
    "reputation",
    "chances",
];

/// Phrase index: first token → (phrase index, phrase tokens).
type PhraseIndex = HashMap<&'static str, Vec<(usize, Vec<&'static str>)>>;

fn phrase_index() -> &'static PhraseIndex {
    static IDX: OnceLock<PhraseIndex> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut m = PhraseIndex::new();
        for (i, (_, phrase, _)) in PHRASES.iter().enumerate() {
            let toks: Vec<&'static str> = phrase.split(' ').collect();
            if let Some(first) = toks.first() {
                m.entry(*first).or_default().push((i, toks));
            }
        }
        m
    })
}

/// Finds risk phrases in one sentence's tokens. At most one flag per phrase
/// per sentence; a non-negated occurrence wins over a negated one. Flags are
/// appended in phrase-list order.
pub fn scan_sentence(tokens: &[String], sentence_index: usize, out: &mut Vec<RiskFlag>) {
    let idx = phrase_index();
    // phrase index → negated?
    let mut found: Vec<(usize, bool)> = Vec::new();
    for start in 0..tokens.len() {
        let Some(candidates) = idx.get(tokens[start].as_str()) else {
            continue;
        };
        for (pi, toks) in candidates {
            let Some(window) = tokens.get(start..start + toks.len()) else {
                continue;
            };
            if !window.iter().zip(toks).all(|(t, p)| t == p) {
                continue;
            }
            if tokens
                .get(start + toks.len())
                .is_some_and(|next| NOT_FOLLOWED_BY.contains(&next.as_str()))
            {
                continue;
            }
            let from = start.saturating_sub(NEGATION_WINDOW);
            let negated = tokens[from..start]
                .iter()
                .any(|t| NEGATORS.contains(&t.as_str()));
            match found.iter_mut().find(|(i, _)| i == pi) {
                Some(entry) => entry.1 = entry.1 && negated,
                None => found.push((*pi, negated)),
            }
        }
    }
    found.sort_unstable_by_key(|(i, _)| *i);
    for (pi, negated) in found {
        if let Some((category, phrase, conf)) = PHRASES.get(pi) {
            out.push(RiskFlag {
                category: *category,
                phrase,
                sentence_index,
                confidence: if negated { Confidence::Low } else { *conf },
                negated,
            });
        }
    }
}

/// Overall level from a set of flags.
pub fn level(flags: &[RiskFlag]) -> RiskLevel {
    flags
        .iter()
        .map(|f| match f.confidence {
            Confidence::High => RiskLevel::High,
            Confidence::Medium => RiskLevel::Moderate,
            Confidence::Low => RiskLevel::Low,
        })
        .max()
        .unwrap_or(RiskLevel::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::text::words;

    fn scan(s: &str) -> Vec<RiskFlag> {
        let mut out = Vec::new();
        scan_sentence(&words(s), 0, &mut out);
        out
    }

    #[test]
    fn phrases_are_normalised() {
        for (_, p, _) in PHRASES {
            assert_eq!(words(p).join(" "), *p, "phrase {p:?} must be in token form");
        }
    }

    #[test]
    fn explicit_ideation_is_high() {
        let f = scan("Some days I just want to die.");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].category, RiskCategory::SuicidalIdeation);
        assert_eq!(f[0].confidence, Confidence::High);
        assert!(!f[0].negated);
        assert_eq!(level(&f), RiskLevel::High);
    }

    #[test]
    fn negation_lowers_confidence() {
        let f = scan("I would never hurt myself.");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].phrase, "hurt myself");
        assert!(f[0].negated);
        assert_eq!(f[0].confidence, Confidence::Low);
        assert_eq!(level(&f), RiskLevel::Low);
        let f = scan("I don't want to die, I want things to change.");
        assert!(f[0].negated);
    }

    #[test]
    fn negator_outside_window_does_not_count() {
        let f = scan("I can't stop thinking about killing myself");
        assert_eq!(f[0].phrase, "killing myself");
        assert!(!f[0].negated);
        let f = scan("I don't know why I want to die");
        assert!(!f[0].negated);
    }

    #[test]
    fn figurative_hurt_is_not_a_threat() {
        assert!(scan("I think I hurt her feelings at dinner.").is_empty());
        let f = scan("Sometimes I want to hurt them.");
        assert_eq!(f[0].category, RiskCategory::HarmToOthers);
        assert_eq!(f[0].confidence, Confidence::Medium);
        let f = scan("I want to kill him.");
        assert_eq!(f[0].confidence, Confidence::High);
    }

    #[test]
    fn neutral_text_has_no_flags() {
        assert!(scan("I went to the shop and bought apples and a skillet.").is_empty());
        assert!(scan("My cutting board broke, so I cut my finger slightly.").is_empty());
        assert_eq!(level(&[]), RiskLevel::None);
    }

    #[test]
    fn harm_to_others_and_hopelessness() {
        let f = scan("I feel hopeless and I want to hurt him");
        let cats: Vec<_> = f.iter().map(|x| x.category).collect();
        assert!(cats.contains(&RiskCategory::Hopelessness));
        assert!(cats.contains(&RiskCategory::HarmToOthers));
    }
}
