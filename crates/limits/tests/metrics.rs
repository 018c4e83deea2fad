//! The metrics render as valid Prometheus text format (checked line by line
//! with a strict parser) with bounded labels.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::macros::datetime;
use zenalyze_limits::{
    Limiter, LimiterMetrics, ManualClock, MemoryLimiter, MemoryUsageSink, Operation, Tier,
};

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{a="x",b="y"}` (with `\\`, `\"`, `\n` escapes); returns the labels
/// and the rest of the line.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("no =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("bad escape".into()),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) | None => return Err("unterminated value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err("duplicate label".into());
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or }".into());
        }
    }
}

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A strict check of the text exposition format 0.0.4. Returns the samples
/// as (name, labels, value).
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    if !text.ends_with('\n') {
        return Err("no trailing newline".into());
    }
    for line in text.lines() {
        if line.is_empty() {
            return Err("empty line".into());
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kw = parts.next().unwrap_or_default();
            let name = parts.next().ok_or("comment without name")?;
            if !is_metric_name(name) {
                return Err(format!("bad name {name:?}"));
            }
            match kw {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().ok_or("TYPE without type")?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(format!("bad type {t}"));
                    }
                    if typed.insert(name.to_owned(), t.to_owned()).is_some() {
                        return Err(format!("TYPE twice for {name}"));
                    }
                }
                _ => return Err(format!("bad comment {line:?}")),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(format!("bad sample name {name:?}"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..])?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value_str = rest.strip_prefix(' ').ok_or("no space before value")?;
        let value: f64 = match value_str {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        if !typed.contains_key(family) {
            return Err(format!("sample {name} before its TYPE"));
        }
        samples.push((name.to_owned(), labels, value));
    }
    Ok(samples)
}

#[tokio::test]
async fn exposition_is_valid_and_labels_are_bounded() {
    let registry = prometheus::Registry::new();
    let metrics = LimiterMetrics::register(&registry).expect("register");
    assert!(
        LimiterMetrics::register(&registry).is_err(),
        "double registration is refused"
    );
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 12:00 UTC)));
    let limiter = Limiter::with_backend(
        Arc::new(MemoryLimiter::new()),
        Arc::new(MemoryUsageSink::new()),
    )
    .clock(clock.clone())
    .metrics(Some(metrics.clone()));
    let free = Tier::Free.limits();
    for _ in 0..12 {
        limiter
            .check_and_consume("ten_m", &free, Operation::Encrypt)
            .await
            .expect("d");
    }
    let one = free.with_overrides(Some(1), None);
    for _ in 0..3 {
        clock.advance(time::Duration::seconds(1));
        limiter
            .check_and_consume("ten_n", &one, Operation::Decrypt)
            .await
            .expect("d");
    }
    metrics.set_tenants_per_tier(Tier::Pro, 3);
    metrics.set_tenants_per_tier(Tier::Free, 41);

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("encode");
    let samples =
        parse_exposition(&text).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{text}"));
    let get = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples.iter().find_map(|(n, l, v)| {
            (n == name
                && labels
                    .iter()
                    .all(|(k, val)| l.get(*k).map(String::as_str) == Some(*val)))
            .then_some(*v)
        })
    };
    assert_eq!(
        get(
            "zenalyze_api_calls_total",
            &[("tenant_id", "ten_m"), ("operation", "encrypt")]
        ),
        Some(10.0)
    );
    assert_eq!(
        get(
            "zenalyze_limiter_refusals_total",
            &[("tenant_id", "ten_m"), ("kind", "rate_limited")]
        ),
        Some(2.0)
    );
    assert_eq!(
        get(
            "zenalyze_limiter_refusals_total",
            &[("tenant_id", "ten_n"), ("kind", "quota_exceeded")]
        ),
        Some(2.0)
    );
    assert_eq!(
        get(
            "zenalyze_limiter_decision_seconds_count",
            &[("backend", "memory")]
        ),
        Some(15.0)
    );
    assert_eq!(
        get(
            "zenalyze_limiter_decision_seconds_bucket",
            &[("backend", "memory"), ("le", "+Inf")]
        ),
        Some(15.0)
    );
    assert_eq!(get("zenalyze_limiter_redis_fallback", &[]), Some(0.0));
    assert_eq!(get("zenalyze_tenants", &[("tier", "free")]), Some(41.0));
    assert_eq!(metrics.calls("ten_n", Operation::Decrypt), 1);

    // Only bounded label names.
    let allowed: BTreeSet<&str> =
        ["tenant_id", "kind", "operation", "backend", "tier", "le"].into();
    for (name, labels, _) in &samples {
        for k in labels.keys() {
            assert!(allowed.contains(k.as_str()), "{name} has label {k}");
        }
    }

    // The checker itself rejects malformed input.
    for bad in [
        "x 1\n",
        "# TYPE x counter\nx{a=\"1} 1\n",
        "# TYPE x counter\nx 1",
        "# TYPE x counter\nx{1a=\"v\"} 1\n",
        "# TYPE x counter\nx one\n",
        "# TYPE x countr\nx 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "{bad:?} accepted");
    }
    assert!(parse_exposition("# HELP x h\n# TYPE x counter\nx{a=\"q\\\"\"} 1\n").is_ok());
}
