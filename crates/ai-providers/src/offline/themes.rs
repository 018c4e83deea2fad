//! Key themes: keyword extraction by term frequency (stopwords removed) and a
//! small theme taxonomy for journaling (sleep, work, family…), matched on
//! normalised word tokens (lower case, apostrophes removed). No stemming:
//! inflected forms are listed explicitly.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Serialize;

/// English stopwords (function words, auxiliaries, pronouns, fillers), in
/// normalised token form.
pub const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "arent",
    "around",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cant",
    "cannot",
    "could",
    "couldnt",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "done",
    "dont",
    "down",
    "during",
    "each",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "hadnt",
    "has",
    "hasnt",
    "have",
    "havent",
    "having",
    "he",
    "hed",
    "hell",
    "her",
    "here",
    "hers",
    "herself",
    "hes",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "id",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "it",
    "its",
    "itself",
    "ive",
    "just",
    "kind",
    "know",
    "like",
    "lot",
    "made",
    "make",
    "many",
    "maybe",
    "me",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "oh",
    "ok",
    "okay",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "pretty",
    "quite",
    "really",
    "same",
    "she",
    "shed",
    "shell",
    "shes",
    "should",
    "shouldnt",
    "so",
    "some",
    "something",
    "still",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "theres",
    "these",
    "they",
    "theyd",
    "theyll",
    "theyre",
    "theyve",
    "thing",
    "things",
    "think",
    "this",
    "those",
    "though",
    "through",
    "to",
    "today",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "wasnt",
    "we",
    "wed",
    "well",
    "were",
    "werent",
    "weve",
    "what",
    "whats",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "wont",
    "would",
    "wouldnt",
    "yeah",
    "yes",
    "yet",
    "you",
    "youd",
    "youll",
    "your",
    "youre",
    "yours",
    "yourself",
    "yourselves",
    "youve",
    "went",
    "go",
    "goes",
    "going",
    "feel",
    "felt",
    "feeling",
    "day",
    "bit",
    "really",
    "want",
    "wanted",
    "way",
    "back",
    "said",
    "say",
    "always",
    "completely",
    "totally",
    "actually",
    "literally",
    "probably",
    "keep",
    "kept",
    "try",
    "tried",
    "lets",
    "let",
    "since",
    "anyway",
    "everything",
    "anything",
    "nothing",
    "someone",
    "everyone",
    "ill",
];

/// The theme taxonomy: (theme, terms).
pub const TAXONOMY: &[(&str, &[&str])] = &[
    (
        "sleep",
        &[
            "sleep",
            "slept",
            "sleeping",
            "sleepy",
            "asleep",
            "insomnia",
            "nap",
            "napped",
            "naps",
            "tired",
            "exhausted",
            "exhaustion",
            "fatigue",
            "fatigued",
            "nightmare",
            "nightmares",
            "dream",
            "dreams",
            "bedtime",
            "awake",
            "woke",
            "restless",
            "overslept",
            "oversleep",
        ],
    ),
    (
        "work",
        &[
            "work",
            "working",
            "worked",
            "job",
            "jobs",
            "boss",
            "manager",
            "coworker",
            "coworkers",
            "colleague",
            "colleagues",
            "office",
            "meeting",
            "meetings",
            "deadline",
            "deadlines",
            "project",
            "projects",
            "career",
            "shift",
            "overtime",
            "promotion",
            "fired",
            "layoff",
            "interview",
            "workload",
            "client",
            "clients",
        ],
    ),
    (
        "school",
        &[
            "school",
            "class",
            "classes",
            "exam",
            "exams",
            "homework",
            "teacher",
            "professor",
            "study",
            "studying",
            "studied",
            "college",
            "university",
            "grades",
            "assignment",
            "lecture",
            "semester",
        ],
    ),
    (
        "family",
        &[
            "family",
            "mom",
            "mum",
            "mother",
            "dad",
            "father",
            "parents",
            "parent",
            "sister",
            "brother",
            "siblings",
            "son",
            "daughter",
            "kids",
            "children",
            "child",
            "grandma",
            "grandmother",
            "grandpa",
            "grandfather",
            "aunt",
            "uncle",
            "cousin",
            "baby",
        ],
    ),
    (
        "relationships",
        &[
            "partner",
            "boyfriend",
            "girlfriend",
            "husband",
            "wife",
            "spouse",
            "relationship",
            "dating",
            "breakup",
            "divorce",
            "marriage",
            "married",
            "ex",
            "crush",
            "fiance",
            "fiancee",
            "romantic",
        ],
    ),
    (
        "social",
        &[
            "friend",
            "friends",
            "friendship",
            "party",
            "hangout",
            "social",
            "lonely",
            "loneliness",
            "alone",
            "isolated",
            "isolation",
            "people",
            "community",
        ],
    ),
    (
        "anxiety",
        &[
            "anxious",
            "anxiety",
            "worried",
            "worry",
            "worrying",
            "nervous",
            "panic",
            "panicked",
            "overwhelmed",
            "stress",
            "stressed",
            "stressful",
            "tense",
            "fear",
            "afraid",
            "scared",
            "overthinking",
            "dread",
            "restless",
        ],
    ),
    (
        "low_mood",
        &[
            "sad",
            "sadness",
            "depressed",
            "depression",
            "crying",
            "cried",
            "cry",
            "tears",
            "empty",
            "numb",
            "grief",
            "grieving",
            "miserable",
            "unhappy",
            "hopeless",
            "worthless",
            "lonely",
        ],
    ),
    (
        "exercise",
        &[
            "exercise",
            "exercised",
            "workout",
            "gym",
            "run",
            "ran",
            "running",
            "jog",
            "jogging",
            "walk",
            "walked",
            "walking",
            "hike",
            "hiking",
            "yoga",
            "swim",
            "swimming",
            "bike",
            "cycling",
            "stretching",
            "sport",
            "sports",
            "training",
        ],
    ),
    (
        "health",
        &[
            "health",
            "sick",
            "illness",
            "doctor",
            "doctors",
            "appointment",
            "medication",
            "meds",
            "pills",
            "pain",
            "headache",
            "migraine",
            "hospital",
            "therapy",
            "therapist",
            "symptoms",
            "diagnosis",
            "fever",
            "injury",
            "psychiatrist",
            "counselor",
        ],
    ),
    (
        "food",
        &[
            "eat",
            "ate",
            "eating",
            "food",
            "meal",
            "meals",
            "breakfast",
            "lunch",
            "dinner",
            "appetite",
            "hungry",
            "snack",
            "cooking",
            "cooked",
            "diet",
        ],
    ),
    (
        "money",
        &[
            "money",
            "rent",
            "bills",
            "debt",
            "budget",
            "paycheck",
            "salary",
            "expensive",
            "afford",
            "savings",
            "finances",
            "financial",
            "loan",
            "broke",
        ],
    ),
    (
        "gratitude",
        &[
            "grateful",
            "thankful",
            "gratitude",
            "appreciate",
            "appreciated",
            "blessed",
            "proud",
            "accomplished",
            "achievement",
            "progress",
            "thanks",
        ],
    ),
    (
        "self_care",
        &[
            "meditate",
            "meditation",
            "meditated",
            "mindful",
            "mindfulness",
            "journaling",
            "breathe",
            "breathing",
            "relax",
            "relaxed",
            "relaxing",
            "bath",
            "selfcare",
            "rested",
        ],
    ),
    (
        "substances",
        &[
            "alcohol",
            "drink",
            "drinking",
            "drunk",
            "beer",
            "wine",
            "smoke",
            "smoking",
            "weed",
            "cigarette",
            "cigarettes",
            "vape",
            "vaping",
            "sober",
            "sobriety",
            "hangover",
        ],
    ),
];

/// A theme found in the text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Theme {
    /// Theme name from [`TAXONOMY`].
    pub theme: &'static str,
    /// Taxonomy terms that occurred (sorted, unique).
    pub matched_terms: Vec<&'static str>,
    /// Total occurrences of those terms.
    pub count: usize,
}

/// A frequent content word.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Keyword {
    /// The term (normalised token).
    pub term: String,
    /// Occurrences.
    pub count: usize,
}

impl zeroize::Zeroize for Keyword {
    fn zeroize(&mut self) {
        self.term.zeroize();
        self.count = 0;
    }
}

fn stopwords() -> &'static HashSet<&'static str> {
    static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
    S.get_or_init(|| STOPWORDS.iter().copied().collect())
}

/// Term → indexes of the themes listing it.
fn term_index() -> &'static HashMap<&'static str, Vec<usize>> {
    static T: OnceLock<HashMap<&'static str, Vec<usize>>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (i, (_, terms)) in TAXONOMY.iter().enumerate() {
            for t in *terms {
                let v = m.entry(*t).or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            }
        }
        m
    })
}

/// Whether a token counts as content: ≥ 3 characters, not a stopword, not a number.
pub fn is_content(token: &str) -> bool {
    token.chars().count() >= 3
        && !token.chars().all(|c| c.is_numeric())
        && !stopwords().contains(token)
}

/// Themes present in `tokens`, most frequent first (ties by name).
pub fn themes<'a>(tokens: impl Iterator<Item = &'a str>) -> Vec<Theme> {
    let idx = term_index();
    let mut counts: Vec<(usize, Vec<&'static str>)> = vec![(0, Vec::new()); TAXONOMY.len()];
    for t in tokens {
        if let Some((term, themes)) = idx.get_key_value(t) {
            for &ti in themes {
                if let Some((count, matched)) = counts.get_mut(ti) {
                    *count += 1;
                    if !matched.contains(term) {
                        matched.push(term);
                    }
                }
            }
        }
    }
    let mut out: Vec<Theme> = TAXONOMY
        .iter()
        .zip(counts)
        .filter(|(_, (count, _))| *count > 0)
        .map(|((theme, _), (count, mut matched))| {
            matched.sort_unstable();
            Theme {
                theme,
                matched_terms: matched,
                count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.theme.cmp(b.theme)));
    out
}

/// The `limit` most frequent content words (ties by first occurrence).
pub fn keywords<'a>(tokens: impl Iterator<Item = &'a str>, limit: usize) -> Vec<Keyword> {
    let mut counts: HashMap<&'a str, (usize, usize)> = HashMap::new();
    for (pos, t) in tokens.filter(|t| is_content(t)).enumerate() {
        counts.entry(t).or_insert((0, pos)).0 += 1;
    }
    let mut v: Vec<(&str, usize, usize)> =
        counts.into_iter().map(|(t, (c, p))| (t, c, p)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    v.into_iter()
        .take(limit)
        .map(|(t, c, _)| Keyword {
            term: t.to_owned(),
            count: c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::text::words;

    #[test]
    fn taxonomy_terms_are_tokens() {
        for (theme, terms) in TAXONOMY {
            for t in *terms {
                assert_eq!(words(t).join(" "), *t, "{theme}: {t}");
            }
        }
        for s in STOPWORDS {
            assert_eq!(words(s).join(" "), *s);
        }
    }

    #[test]
    fn finds_themes_and_keywords() {
        let w = words("I slept badly. Work was stressful; my boss and my manager argued. Slept late, work again.");
        let th = themes(w.iter().map(String::as_str));
        assert_eq!(th[0].theme, "work");
        assert_eq!(th[0].matched_terms, vec!["boss", "manager", "work"]);
        assert_eq!(th[0].count, 4);
        assert!(th.iter().any(|t| t.theme == "sleep" && t.count == 2));
        assert!(th.iter().any(|t| t.theme == "anxiety"));
        let kw = keywords(w.iter().map(String::as_str), 3);
        assert_eq!(
            kw[0],
            Keyword {
                term: "slept".into(),
                count: 2
            }
        );
        assert_eq!(
            kw[1],
            Keyword {
                term: "work".into(),
                count: 2
            }
        );
        assert!(kw.iter().all(|k| is_content(&k.term)));
    }
}
