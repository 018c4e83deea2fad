//! Offline analyzer: behaviour on journal entries, labels, determinism,
//! robustness (proptest) and speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use zenalyze_ai_providers::offline::{analyze_texts, text, MODEL_NAME};
use zenalyze_ai_providers::{AnalysisRequest, Input, OfflineAnalyzer, Provider, ProviderError};

const POSITIVE: &str =
    "Today was a wonderful day. I went hiking with my best friend and we laughed the whole way. \
I feel grateful, calm and genuinely happy. Dinner with my family was lovely!";

const NEGATIVE: &str = "Today was awful. I slept terribly and woke up exhausted. \
My boss criticised my work in front of everyone and I felt humiliated and worthless. \
I am so tired of feeling sad and angry all the time.";

const CRISIS: &str = "I can't sleep again. Everything feels pointless. \
Sometimes I think everyone would be better off without me and I want to die.";

const NEUTRAL: &str = "I went to the grocery store after work. I bought apples, rice and coffee. \
Then I cleaned the kitchen and read a chapter of my book.";

fn request(texts: &[&str]) -> AnalysisRequest {
    let mut r = AnalysisRequest::new("Analyse my journal entry");
    for t in texts {
        r.inputs.push(Input::Text((*t).to_owned()));
    }
    r
}

async fn run(r: &AnalysisRequest) -> serde_json::Value {
    let p: Arc<dyn Provider> = Arc::new(OfflineAnalyzer::new());
    let a = p.analyze(r).await.unwrap();
    assert_eq!(a.provider, "offline");
    assert_eq!(a.model, MODEL_NAME);
    assert!(a.note.as_deref().unwrap().contains("not an LLM"));
    assert!(a.usage.is_none());
    a.output.clone()
}

#[tokio::test]
async fn labels_are_honest_and_serialised() {
    let a = OfflineAnalyzer::new()
        .analyze(&request(&[POSITIVE]))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&a.to_json_bytes().unwrap()).unwrap();
    assert_eq!(v["provider"], "offline");
    assert_eq!(v["model"], "zenalyze-offline-analyzer-v1");
    assert!(v["note"]
        .as_str()
        .unwrap()
        .contains("not a clinical assessment"));
    assert_eq!(v["output"]["kind"], "journal_analysis");
}

#[tokio::test]
async fn sentiment_direction() {
    let pos = run(&request(&[POSITIVE])).await;
    let neg = run(&request(&[NEGATIVE])).await;
    let pc = pos["sentiment"]["overall"]["compound"].as_f64().unwrap();
    let nc = neg["sentiment"]["overall"]["compound"].as_f64().unwrap();
    assert!(pc > 0.4, "positive entry scored {pc}");
    assert!(nc < -0.4, "negative entry scored {nc}");
    assert!(matches!(
        pos["sentiment"]["mood"].as_str().unwrap(),
        "positive" | "very_positive"
    ));
    assert!(matches!(
        neg["sentiment"]["mood"].as_str().unwrap(),
        "negative" | "very_negative"
    ));
    assert_eq!(pos["sentiment"]["sentences"].as_array().unwrap().len(), 4);
    // per-sentence scores are VADER's
    let s0 = &neg["sentiment"]["sentences"][0];
    let expected =
        zenalyze_ai_providers::offline::vader::Vader::global().polarity_scores("Today was awful.");
    assert_eq!(s0["compound"].as_f64().unwrap(), expected.compound);
    assert_eq!(s0["index"], 0);
}

#[tokio::test]
async fn crisis_phrases_are_flagged_with_guidance() {
    let v = run(&request(&[CRISIS])).await;
    let risk = &v["risk"];
    assert_eq!(risk["level"], "high");
    let flags = risk["flags"].as_array().unwrap();
    let phrases: Vec<&str> = flags
        .iter()
        .map(|f| f["phrase"].as_str().unwrap())
        .collect();
    assert!(phrases.contains(&"want to die"), "{phrases:?}");
    assert!(phrases.contains(&"better off without me"), "{phrases:?}");
    assert!(flags
        .iter()
        .any(|f| f["category"] == "suicidal_ideation" && f["confidence"] == "high"));
    assert!(flags.iter().all(|f| f["sentence_index"] == 2));
    assert!(risk["guidance"].as_str().unwrap().contains("988"));
}

#[tokio::test]
async fn negated_self_harm_is_low_confidence() {
    let v = run(&request(&["I was upset, but I would never hurt myself."])).await;
    assert_eq!(v["risk"]["level"], "low");
    let f = &v["risk"]["flags"][0];
    assert_eq!(f["category"], "self_harm");
    assert_eq!(f["negated"], true);
    assert_eq!(f["confidence"], "low");
    assert!(v["risk"]["guidance"].is_string());
}

#[tokio::test]
async fn neutral_text_has_no_risk() {
    for t in [NEUTRAL, POSITIVE] {
        let v = run(&request(&[t])).await;
        assert_eq!(v["risk"]["level"], "none");
        assert!(v["risk"]["flags"].as_array().unwrap().is_empty());
        assert!(v["risk"].get("guidance").is_none());
    }
}

#[tokio::test]
async fn themes_and_keywords() {
    let v = run(&request(&[NEGATIVE])).await;
    let themes: Vec<&str> = v["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["theme"].as_str().unwrap())
        .collect();
    assert!(themes.contains(&"sleep"), "{themes:?}");
    assert!(themes.contains(&"work"), "{themes:?}");
    let sleep = v["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["theme"] == "sleep")
        .unwrap();
    let terms: Vec<&str> = sleep["matched_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(terms, vec!["exhausted", "slept", "tired", "woke"]);
    let kws: Vec<&str> = v["keywords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["term"].as_str().unwrap())
        .collect();
    assert!(!kws.is_empty());
    for stop in ["the", "and", "was", "my"] {
        assert!(!kws.contains(&stop), "stopword {stop} in {kws:?}");
    }
    let v = run(&request(&[POSITIVE])).await;
    let themes: Vec<&str> = v["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["theme"].as_str().unwrap())
        .collect();
    for t in ["exercise", "family", "gratitude", "social", "food"] {
        assert!(themes.contains(&t), "{t} missing from {themes:?}");
    }
}

#[tokio::test]
async fn summary_is_subset_of_input_sentences_in_order() {
    let entry = format!("{POSITIVE} {NEGATIVE} {NEUTRAL}");
    let v = run(&request(&[&entry])).await;
    let summary: Vec<&str> = v["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let sentences = text::sentences(&entry);
    assert_eq!(sentences.len(), 11);
    assert_eq!(summary.len(), 3);
    let mut last = None;
    for s in &summary {
        let pos = sentences
            .iter()
            .position(|x| x == s)
            .expect("summary sentence is an input sentence");
        assert!(last.is_none_or(|l| pos > l), "original order");
        last = Some(pos);
    }
    // A single-sentence entry summarises to itself.
    let v = run(&request(&["Just one line"])).await;
    assert_eq!(v["summary"], serde_json::json!(["Just one line"]));
}

#[tokio::test]
async fn inputs_of_every_kind() {
    let mut r = AnalysisRequest::new("ignored because inputs carry text");
    r.inputs.push(Input::Json(
        serde_json::json!({"entry": "I feel hopeless.", "tags": ["sleep"], "n": 3}),
    ));
    r.inputs.push(Input::Record {
        record_id: "rec_1".into(),
        plaintext: br#"{"body":"Slept well, feeling great!"}"#.to_vec(),
    });
    r.inputs.push(Input::Record {
        record_id: "rec_2".into(),
        plaintext: b"Plain text record about my therapist.".to_vec(),
    });
    r.inputs.push(Input::Record {
        record_id: "rec_3".into(),
        plaintext: vec![0xff, 0x00, 0xfe],
    });
    r.inputs.push(Input::Bytes {
        media_type: "image/png".into(),
        data: vec![1, 2, 3],
    });
    let v = run(&r).await;
    let st = &v["stats"];
    assert_eq!(st["bytes_inputs_not_analysed"], 1);
    assert_eq!(st["records_not_text"], 1);
    assert_eq!(st["analysed_prompt"], false);
    assert_eq!(
        st["text_sources"], 4,
        "two JSON strings + JSON record string + text record"
    );
    assert_eq!(v["risk"]["flags"][0]["phrase"], "hopeless");
    let themes: Vec<&str> = v["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["theme"].as_str().unwrap())
        .collect();
    assert!(
        themes.contains(&"health") && themes.contains(&"sleep"),
        "{themes:?}"
    );
}

#[tokio::test]
async fn prompt_is_analysed_when_no_text_input() {
    let r = AnalysisRequest::new("I had a great day at the gym!");
    let v = run(&r).await;
    assert_eq!(v["stats"]["analysed_prompt"], true);
    assert!(v["sentiment"]["overall"]["compound"].as_f64().unwrap() > 0.5);
}

#[tokio::test]
async fn empty_request() {
    let v = run(&AnalysisRequest::new("")).await;
    assert_eq!(v["stats"]["sentences"], 0);
    assert_eq!(v["sentiment"]["overall"]["compound"], 0.0);
    assert_eq!(v["sentiment"]["mood"], "neutral");
    assert!(v["summary"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn too_large_is_refused() {
    let p = OfflineAnalyzer::with_max_text_bytes(100);
    let e = p
        .analyze(&request(&[&"word ".repeat(30)]))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::InputRefused(_)));
}

#[test]
fn deterministic() {
    let entry = format!("{POSITIVE}\n{CRISIS}\n{NEGATIVE}");
    let a = serde_json::to_string(&analyze_texts(&[&entry])).unwrap();
    for _ in 0..5 {
        assert_eq!(a, serde_json::to_string(&analyze_texts(&[&entry])).unwrap());
    }
}

#[test]
fn fast_on_a_2kb_entry() {
    let mut entry = String::new();
    while entry.len() < 2048 {
        entry.push_str(POSITIVE);
        entry.push(' ');
        entry.push_str(NEGATIVE);
        entry.push(' ');
    }
    let _ = analyze_texts(&["warm up"]);
    let started = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        std::hint::black_box(analyze_texts(&[&entry]));
    }
    let per = started.elapsed() / runs;
    // Release builds take well under a few ms; debug builds are ~10x slower.
    let bound = if cfg!(debug_assertions) {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(5)
    };
    eprintln!("offline analyzer: {per:?} per {} byte entry", entry.len());
    assert!(per < bound, "{per:?} per 2 KB entry");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_text(s in any::<String>()) {
        let r = analyze_texts(&[&s]);
        prop_assert!(r.sentiment.overall.compound.abs() <= 1.0);
        for sum in &r.summary {
            prop_assert!(s.contains(sum.as_str()));
        }
    }

    #[test]
    fn never_panics_on_mixed_scripts(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("I feel GREAT!!! ".to_owned()), Just("😭😭 ".to_owned()), Just("אני עצוב מאוד. ".to_owned()), Just("مرحبا بالعالم؟ ".to_owned()),
                Just("\u{0}\u{7}\u{1b}[31m ".to_owned()), Just("\u{202e}reversed\u{202c} ".to_owned()), Just("but ".to_owned()), Just("never so ".to_owned()),
                Just("kind of ".to_owned()), Just("no ".to_owned()), Just("at least ".to_owned()), Just("... ".to_owned()), Just("?? ".to_owned()), Just("\n".to_owned()),
                Just("I want to die ".to_owned()), Just(":) ".to_owned()), Just("ALL CAPS ".to_owned()), Just("\u{feff}".to_owned()), Just("e.g. ".to_owned()),
                "[a-zA-Z ']{0,12}".prop_map(|s| s), "\\PC{0,8}".prop_map(|s| s),
            ],
            0..60,
        )
    ) {
        let s: String = parts.concat();
        let r = analyze_texts(&[&s, &s]);
        prop_assert!(r.sentiment.overall.compound.abs() <= 1.0);
        prop_assert!(r.summary.len() <= 3);
        prop_assert_eq!(serde_json::to_string(&r).unwrap(), serde_json::to_string(&analyze_texts(&[&s, &s])).unwrap());
    }

    #[test]
    fn never_panics_on_arbitrary_record_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut r = AnalysisRequest::new("p");
        r.inputs.push(Input::Record { record_id: "r".into(), plaintext: bytes.clone() });
        r.inputs.push(Input::Bytes { media_type: "x/y".into(), data: bytes });
        let out = OfflineAnalyzer::new().analyze_request(&r);
        prop_assert!(out.is_ok());
    }
}

#[test]
fn huge_and_pathological_inputs() {
    let long_word = "a".repeat(200_000);
    let many_bang = "!".repeat(100_000);
    let emoji_only = "😀".repeat(20_000);
    let many_sentences = "Sad. ".repeat(20_000);
    for s in [&long_word, &many_bang, &emoji_only, &many_sentences] {
        let r = analyze_texts(&[s]);
        assert!(r.sentiment.overall.compound.abs() <= 1.0);
    }
    let r = analyze_texts(&[&emoji_only]);
    assert!(
        r.sentiment.overall.compound > 0.0,
        "grinning faces read as positive"
    );
}

#[test]
fn contractions_do_not_create_false_themes() {
    // "I'll" normalises to "ill": it must not count as a health term.
    let r = analyze_texts(&["I'll call you later, we'll see. He'll be fine."]);
    assert!(
        r.themes.iter().all(|t| t.theme != "health"),
        "{:?}",
        r.themes
    );
    assert!(r
        .keywords
        .iter()
        .all(|k| !["ill", "well", "hell"].contains(&k.term.as_str())));
}
