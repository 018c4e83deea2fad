//! VADER sentiment analysis (Hutto & Gilbert, ICWSM 2014), a rule-based model
//! over a human-rated lexicon, implemented from the published method and
//! behaviour-compatible with the reference implementation `vaderSentiment`
//! 3.3.2 (PyPI), whose MIT-licensed lexicons are embedded from `data/`.
//!
//! Rules applied per token (see the paper and `docs/ai-providers.md`):
//! lexicon valence; booster/dampener words up to three tokens before a
//! lexicon word (±0.293, dampened ×0.95 and ×0.9 with distance); ALL-CAPS
//! emphasis (±0.733) when only some tokens are capitalised; negation
//! (×−0.74) by a negator up to three tokens before, `n't` contractions,
//! `no` and `least`; `never so/this` intensification (×1.25); a small set of
//! idioms; the contrastive `but` (×0.5 before, ×1.5 after); punctuation
//! emphasis (`!` up to 4 × 0.292, `??`+ up to 0.96); emoji replaced by their
//! text descriptions; compound score `x / sqrt(x² + 15)` clamped to [−1, 1].
//!
//! Where the reference implementation has quirks (multi-word lexicon entries
//! never match single tokens; the `but` rule locates each score by value),
//! this implementation reproduces them so that scores match the reference.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;
use zeroize::Zeroizing;

/// The VADER lexicon, from vaderSentiment 3.3.2 (MIT, © C.J. Hutto).
pub const VADER_LEXICON: &str = include_str!("../../data/vader_lexicon.txt");
/// The emoji → description table, from vaderSentiment 3.3.2 (MIT, © C.J. Hutto).
pub const EMOJI_LEXICON: &str = include_str!("../../data/emoji_utf8_lexicon.txt");

const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

/// Scores of one text, as VADER defines them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Polarity {
    /// Proportion of negative lexical content, rounded to 3 decimals.
    pub neg: f64,
    /// Proportion of neutral tokens, rounded to 3 decimals.
    pub neu: f64,
    /// Proportion of positive lexical content, rounded to 3 decimals.
    pub pos: f64,
    /// Normalised weighted composite score in [−1, 1], rounded to 4 decimals.
    pub compound: f64,
}

/// The VADER analyzer with its lexicons loaded.
pub struct Vader {
    lexicon: HashMap<&'static str, f64>,
    emoji: HashMap<char, &'static str>,
    boosters: HashMap<&'static str, f64>,
}

impl Vader {
    /// The process-wide analyzer (lexicons parsed once).
    pub fn global() -> &'static Vader {
        static V: OnceLock<Vader> = OnceLock::new();
        V.get_or_init(Vader::load)
    }

    fn load() -> Vader {
        let mut lexicon = HashMap::with_capacity(7600);
        for line in VADER_LEXICON.lines() {
            let mut cols = line.trim().split('\t');
            if let (Some(word), Some(measure)) = (cols.next(), cols.next()) {
                if let Ok(v) = measure.parse::<f64>() {
                    lexicon.insert(word, v);
                }
            }
        }
        let mut emoji = HashMap::with_capacity(3600);
        for line in EMOJI_LEXICON.lines() {
            let mut cols = line.trim().split('\t');
            if let (Some(e), Some(desc)) = (cols.next(), cols.next()) {
                let mut chars = e.chars();
                // Only single code points can match (the reference compares
                // one code point at a time).
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    emoji.insert(c, desc);
                }
            }
        }
        let mut boosters = HashMap::new();
        for w in BOOSTERS_UP {
            boosters.insert(*w, B_INCR);
        }
        for w in BOOSTERS_DOWN {
            boosters.insert(*w, B_DECR);
        }
        Vader {
            lexicon,
            emoji,
            boosters,
        }
    }

    /// Number of lexicon entries loaded.
    pub fn lexicon_len(&self) -> usize {
        self.lexicon.len()
    }

    /// VADER polarity scores of `text` (one sentence or short passage).
    pub fn polarity_scores(&self, text: &str) -> Polarity {
        let text = self.replace_emoji(text);
        let text: &str = text.trim();
        let words: Vec<&str> = text
            .split(is_py_space)
            .filter(|w| !w.is_empty())
            .map(strip_punc_if_word)
            .collect();
        let lower: Zeroizing<Vec<String>> =
            Zeroizing::new(words.iter().map(|w| w.to_lowercase()).collect());
        let is_cap_diff = allcap_differential(&words);

        let mut sentiments: Vec<f64> = Vec::with_capacity(words.len());
        for (i, item) in words.iter().enumerate() {
            let il = lower[i].as_str();
            if self.boosters.contains_key(il) {
                sentiments.push(0.0);
                continue;
            }
            if i + 1 < words.len() && il == "kind" && lower[i + 1] == "of" {
                sentiments.push(0.0);
                continue;
            }
            sentiments.push(self.sentiment_valence(item, i, &words, &lower, is_cap_diff));
        }
        but_check(&lower, &mut sentiments);
        score_valence(&sentiments, text)
    }

    fn replace_emoji(&self, text: &str) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(text.len().saturating_mul(2)));
        let mut prev_space = true;
        for c in text.chars() {
            if let Some(desc) = self.emoji.get(&c) {
                if !prev_space {
                    push_wiped_str(&mut out, " ");
                }
                push_wiped_str(&mut out, desc);
                prev_space = false;
            } else {
                let mut b = [0u8; 4];
                push_wiped_str(&mut out, c.encode_utf8(&mut b));
                prev_space = c == ' ';
            }
        }
        out
    }

    fn in_lexicon(&self, w: &str) -> bool {
        self.lexicon.contains_key(w)
    }

    fn sentiment_valence(
        &self,
        item: &str,
        i: usize,
        words: &[&str],
        lower: &[String],
        is_cap_diff: bool,
    ) -> f64 {
        let il = lower[i].as_str();
        let Some(&base) = self.lexicon.get(il) else {
            return 0.0;
        };
        let mut valence = base;
        if il == "no" && i + 1 < words.len() && self.in_lexicon(&lower[i + 1]) {
            valence = 0.0;
        }
        if (i > 0 && lower[i - 1] == "no")
            || (i > 1 && lower[i - 2] == "no")
            || (i > 2 && lower[i - 3] == "no" && matches!(lower[i - 1].as_str(), "or" | "nor"))
        {
            valence = base * N_SCALAR;
        }
        if is_upper(item) && is_cap_diff {
            if valence > 0.0 {
                valence += C_INCR;
            } else {
                valence -= C_INCR;
            }
        }
        for start_i in 0..3usize {
            if i > start_i && !self.in_lexicon(&lower[i - (start_i + 1)]) {
                let mut s = self.scalar_inc_dec(
                    words[i - (start_i + 1)],
                    &lower[i - (start_i + 1)],
                    valence,
                    is_cap_diff,
                );
                if start_i == 1 && s != 0.0 {
                    s *= 0.95;
                }
                if start_i == 2 && s != 0.0 {
                    s *= 0.9;
                }
                valence += s;
                valence = negation_check(valence, lower, start_i, i);
                if start_i == 2 {
                    valence = self.special_idioms_check(valence, lower, i);
                }
            }
        }
        self.least_check(valence, lower, i)
    }

    fn scalar_inc_dec(&self, word: &str, word_lower: &str, valence: f64, is_cap_diff: bool) -> f64 {
        let Some(&b) = self.boosters.get(word_lower) else {
            return 0.0;
        };
        let mut scalar = if valence < 0.0 { -b } else { b };
        if is_upper(word) && is_cap_diff {
            if valence > 0.0 {
                scalar += C_INCR;
            } else {
                scalar -= C_INCR;
            }
        }
        scalar
    }

    fn least_check(&self, valence: f64, lower: &[String], i: usize) -> f64 {
        if i > 1 && !self.in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
            if lower[i - 2] != "at" && lower[i - 2] != "very" {
                return valence * N_SCALAR;
            }
        } else if i > 0 && !self.in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
            return valence * N_SCALAR;
        }
        valence
    }

    /// Called only with `i >= 3`. N-grams are compared word by word (no
    /// allocation); tokens never contain spaces, so this equals comparing the
    /// space-joined strings as the reference does.
    fn special_idioms_check(&self, mut valence: f64, w: &[String], i: usize) -> f64 {
        let g = |idx: &[usize]| -> Vec<&str> { idx.iter().map(|&k| w[k].as_str()).collect() };
        let onezero = g(&[i - 1, i]);
        let twoonezero = g(&[i - 2, i - 1, i]);
        let twoone = g(&[i - 2, i - 1]);
        let threetwoone = g(&[i - 3, i - 2, i - 1]);
        let threetwo = g(&[i - 3, i - 2]);
        for seq in [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo] {
            if let Some(v) = special(seq) {
                valence = v;
                break;
            }
        }
        if w.len() - 1 > i {
            if let Some(v) = special(&g(&[i, i + 1])) {
                valence = v;
            }
        }
        if w.len() - 1 > i + 1 {
            if let Some(v) = special(&g(&[i, i + 1, i + 2])) {
                valence = v;
            }
        }
        for n_gram in [&threetwoone, &threetwo, &twoone] {
            if let Some(b) = multiword_booster(n_gram) {
                valence += b;
            }
        }
        valence
    }
}

/// Whether `parts` joined by single spaces equals `key`.
fn joined_eq(parts: &[&str], key: &str) -> bool {
    let mut k = key.split(' ');
    parts.iter().all(|p| k.next() == Some(*p)) && k.next().is_none()
}

fn multiword_booster(parts: &[&str]) -> Option<f64> {
    BOOSTERS_UP
        .iter()
        .map(|w| (w, B_INCR))
        .chain(BOOSTERS_DOWN.iter().map(|w| (w, B_DECR)))
        .find(|(w, _)| w.contains(' ') && joined_eq(parts, w))
        .map(|(_, v)| v)
}

fn push_wiped_str(buf: &mut Zeroizing<String>, s: &str) {
    if buf.len() + s.len() > buf.capacity() {
        let mut grown = Zeroizing::new(String::with_capacity(
            (buf.len() + s.len()).max(buf.capacity().saturating_mul(2)),
        ));
        grown.push_str(buf);
        std::mem::swap(buf, &mut grown);
    }
    buf.push_str(s);
}

fn special(parts: &[&str]) -> Option<f64> {
    SPECIAL_CASES
        .iter()
        .find(|(k, _)| joined_eq(parts, k))
        .map(|(_, v)| *v)
}

/// Python's `str.split()` separators: Unicode whitespace plus the ASCII
/// information separators U+001C–U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Strips leading/trailing ASCII punctuation unless that leaves ≤ 2 characters
/// (then the token is probably an emoticon such as `:)` and is kept whole).
fn strip_punc_if_word(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// Python's `str.isupper()`: at least one cased character and no lowercase one.
fn is_upper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// True when some, but not all, tokens are ALL CAPS.
fn allcap_differential(words: &[&str]) -> bool {
    let allcap = words.iter().filter(|w| is_upper(w)).count();
    let diff = words.len() - allcap;
    diff > 0 && diff < words.len()
}

fn negated(word: &str) -> bool {
    NEGATE.contains(&word) || word.contains("n't")
}

fn negation_check(valence: f64, w: &[String], start_i: usize, i: usize) -> f64 {
    let is = |k: usize, s: &str| w[i - k] == s;
    let so_this = |k: usize| is(k, "so") || is(k, "this");
    match start_i {
        0 => {
            if negated(&w[i - 1]) {
                return valence * N_SCALAR;
            }
        }
        1 => {
            if is(2, "never") && so_this(1) {
                return valence * 1.25;
            } else if is(2, "without") && is(1, "doubt") {
                return valence;
            } else if negated(&w[i - 2]) {
                return valence * N_SCALAR;
            }
        }
        _ => {
            if (is(3, "never") && so_this(2)) || so_this(1) {
                return valence * 1.25;
            } else if is(3, "without") && (is(2, "doubt") || is(1, "doubt")) {
                return valence;
            } else if negated(&w[i - 3]) {
                return valence * N_SCALAR;
            }
        }
    }
    valence
}

/// The contrastive-conjunction rule, reproducing the reference behaviour
/// (each score is located by value, first occurrence).
fn but_check(lower: &[String], sentiments: &mut [f64]) {
    let Some(bi) = lower.iter().position(|w| w == "but") else {
        return;
    };
    for k in 0..sentiments.len() {
        let s = sentiments[k];
        let si = sentiments.iter().position(|x| *x == s).unwrap_or(k);
        if si < bi {
            sentiments[si] = s * 0.5;
        } else if si > bi {
            sentiments[si] = s * 1.5;
        }
    }
}

fn punctuation_emphasis(text: &str) -> f64 {
    let ep = text.matches('!').count().min(4) as f64 * 0.292;
    let qm_count = text.matches('?').count();
    let qm = if qm_count > 1 {
        if qm_count <= 3 {
            qm_count as f64 * 0.18
        } else {
            0.96
        }
    } else {
        0.0
    };
    ep + qm
}

/// `score / sqrt(score² + 15)`, clamped to [−1, 1].
pub fn normalize(score: f64) -> f64 {
    let n = score / (score * score + 15.0).sqrt();
    if n.is_nan() {
        0.0
    } else {
        n.clamp(-1.0, 1.0)
    }
}

/// Rounds like Python's `round()` on exact ties (half to even).
fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round_ties_even() / f
}

fn score_valence(sentiments: &[f64], text: &str) -> Polarity {
    if sentiments.is_empty() {
        return Polarity::default();
    }
    let mut sum_s: f64 = sentiments.iter().sum();
    let punct = punctuation_emphasis(text);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);
    let (mut pos_sum, mut neg_sum, mut neu_count) = (0.0f64, 0.0f64, 0usize);
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + neu_count as f64;
    if total <= 0.0 || !total.is_finite() {
        return Polarity {
            compound: round_to(compound, 4),
            ..Polarity::default()
        };
    }
    Polarity {
        neg: round_to((neg_sum / total).abs(), 3),
        neu: round_to((neu_count as f64 / total).abs(), 3),
        pos: round_to((pos_sum / total).abs(), 3),
        compound: round_to(compound, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicons_load() {
        let v = Vader::global();
        assert!(v.lexicon_len() > 7000);
        assert_eq!(v.lexicon.get("good"), Some(&1.9));
        assert!(v.emoji.contains_key(&'😁'));
    }

    #[test]
    fn normalize_matches_formula() {
        assert!((normalize(1.9) - 1.9 / (1.9f64 * 1.9 + 15.0).sqrt()).abs() < 1e-12);
        assert_eq!(normalize(0.0), 0.0);
        assert!(normalize(1e300).abs() <= 1.0);
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_punc_if_word("funny."), "funny");
        assert_eq!(strip_punc_if_word(":)"), ":)");
        assert_eq!(strip_punc_if_word(":D"), ":D");
        assert!(is_upper("SUX!"));
        assert!(!is_upper("Sux"));
        assert!(!is_upper("123"));
        assert!(allcap_differential(&["Today", "SUX!"]));
        assert!(!allcap_differential(&["SUX"]));
    }

    #[test]
    fn empty_and_neutral() {
        let v = Vader::global();
        assert_eq!(v.polarity_scores(""), Polarity::default());
        assert_eq!(v.polarity_scores("   \n\t "), Polarity::default());
        let p = v.polarity_scores("The table is in the kitchen.");
        assert_eq!(p.compound, 0.0);
        assert_eq!(p.neu, 1.0);
    }
}
