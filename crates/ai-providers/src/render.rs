//! Turns an [`AnalysisRequest`]'s prompt and inputs into provider-neutral
//! content parts (text, image, PDF), in order, each in a wiped buffer.
//!
//! Rules:
//! - the prompt comes first, as text;
//! - `text` inputs are text parts;
//! - `json` inputs are pretty-printed JSON in a text part labelled `[json input]`;
//! - `record` inputs must be UTF-8; they become a text part labelled with the
//!   record id (only if the id is a short `[A-Za-z0-9_.:-]` token);
//! - `bytes` inputs: `image/png|jpeg|gif|webp` become image parts (base64);
//!   `application/pdf` becomes a document part where the provider supports it;
//!   textual types (`text/*`, `application/json`, `*+json`, `application/xml`,
//!   `*+xml`, `application/x-ndjson`, `application/yaml`) must be UTF-8 and
//!   become labelled text parts; anything else is refused
//!   ([`RefusalReason::UnsupportedMediaType`]) rather than silently dropped.

use base64::Engine;
use zeroize::Zeroizing;

use crate::{AnalysisRequest, Input, ProviderError, RefusalReason};

/// Image media types accepted by both upstream APIs.
pub(crate) const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// One content part.
pub(crate) enum Part {
    Text(Zeroizing<String>),
    Image {
        media_type: &'static str,
        base64: Zeroizing<String>,
    },
    Pdf {
        base64: Zeroizing<String>,
    },
}

/// Lower-cased media type without parameters (`Text/Plain; charset=utf-8` → `text/plain`).
pub(crate) fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_textual(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/x-ndjson"
                | "application/yaml"
                | "application/x-yaml"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

fn b64(data: &[u8]) -> Zeroizing<String> {
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    let mut s = Zeroizing::new(String::with_capacity(len));
    base64::engine::general_purpose::STANDARD.encode_string(data, &mut s);
    s
}

fn labelled(label: &str, body: &str) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(label.len() + 1 + body.len()));
    s.push_str(label);
    s.push('\n');
    s.push_str(body);
    s
}

fn safe_record_label(id: &str) -> String {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        format!("[record {id}]")
    } else {
        "[record]".to_owned()
    }
}

/// Renders prompt and inputs. `allow_pdf` says whether the provider accepts
/// PDF document parts. `max_request_bytes` bounds the raw content size.
pub(crate) fn render(
    req: &AnalysisRequest,
    allow_pdf: bool,
    max_request_bytes: usize,
) -> Result<Vec<Part>, ProviderError> {
    if req.content_len() > max_request_bytes {
        return Err(ProviderError::InputRefused(RefusalReason::TooLarge));
    }
    let mut parts = Vec::with_capacity(req.inputs.len() + 1);
    if !req.prompt.is_empty() {
        parts.push(Part::Text(Zeroizing::new(req.prompt.clone())));
    }
    for input in &req.inputs {
        match input {
            Input::Text(t) => parts.push(Part::Text(Zeroizing::new(t.clone()))),
            Input::Json(v) => {
                let json = crate::http::to_pretty_json_exact(v)
                    .ok_or(ProviderError::InputRefused(RefusalReason::NotUtf8))?;
                parts.push(Part::Text(labelled("[json input]", &json)));
            }
            Input::Record {
                record_id,
                plaintext,
            } => {
                let text = std::str::from_utf8(plaintext)
                    .map_err(|_| ProviderError::InputRefused(RefusalReason::NotUtf8))?;
                parts.push(Part::Text(labelled(&safe_record_label(record_id), text)));
            }
            Input::Bytes { media_type, data } => {
                let ess = essence(media_type);
                if let Some(img) = IMAGE_TYPES.iter().find(|t| **t == ess) {
                    parts.push(Part::Image {
                        media_type: img,
                        base64: b64(data),
                    });
                } else if ess == "application/pdf" && allow_pdf {
                    parts.push(Part::Pdf { base64: b64(data) });
                } else if is_textual(&ess) {
                    let text = std::str::from_utf8(data)
                        .map_err(|_| ProviderError::InputRefused(RefusalReason::NotUtf8))?;
                    parts.push(Part::Text(labelled(&format!("[attachment {ess}]"), text)));
                } else {
                    return Err(ProviderError::InputRefused(
                        RefusalReason::UnsupportedMediaType,
                    ));
                }
            }
        }
    }
    parts.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));
    if parts.is_empty() {
        return Err(ProviderError::InputRefused(RefusalReason::EmptyRequest));
    }
    Ok(parts)
}

/// When every part is text, joins them with blank lines into one wiped string
/// (the most compatible form for OpenAI-compatible servers).
pub(crate) fn join_if_all_text(parts: &[Part]) -> Option<Zeroizing<String>> {
    let mut len = 0usize;
    for p in parts {
        match p {
            Part::Text(t) => len = len.saturating_add(t.len() + 2),
            _ => return None,
        }
    }
    let mut s = Zeroizing::new(String::with_capacity(len));
    for p in parts {
        if let Part::Text(t) = p {
            if !s.is_empty() {
                s.push_str("\n\n");
            }
            s.push_str(t);
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(inputs: Vec<Input>) -> AnalysisRequest {
        let mut r = AnalysisRequest::new("P");
        r.inputs = inputs;
        r
    }

    #[test]
    fn renders_in_order() {
        let r = req(vec![
            Input::Text("t".into()),
            Input::Json(serde_json::json!({"k": 1})),
            Input::Record {
                record_id: "rec_1".into(),
                plaintext: b"entry".to_vec(),
            },
            Input::Bytes {
                media_type: "Image/PNG".into(),
                data: vec![1, 2, 3],
            },
            Input::Bytes {
                media_type: "text/plain; charset=utf-8".into(),
                data: b"note".to_vec(),
            },
        ]);
        let parts = render(&r, false, usize::MAX).unwrap();
        assert_eq!(parts.len(), 6);
        assert!(matches!(&parts[0], Part::Text(t) if t.as_str() == "P"));
        assert!(matches!(&parts[2], Part::Text(t) if t.starts_with("[json input]\n{")));
        assert!(matches!(&parts[3], Part::Text(t) if t.as_str() == "[record rec_1]\nentry"));
        assert!(
            matches!(&parts[4], Part::Image { media_type, base64 } if *media_type == "image/png" && base64.as_str() == "AQID")
        );
        assert!(
            matches!(&parts[5], Part::Text(t) if t.as_str() == "[attachment text/plain]\nnote")
        );
        assert!(join_if_all_text(&parts).is_none());
    }

    #[test]
    fn refusals() {
        let bad = |i: Input, pdf: bool| render(&req(vec![i]), pdf, usize::MAX).err();
        assert!(matches!(
            bad(
                Input::Bytes {
                    media_type: "application/octet-stream".into(),
                    data: vec![0]
                },
                true
            ),
            Some(ProviderError::InputRefused(
                RefusalReason::UnsupportedMediaType
            ))
        ));
        assert!(matches!(
            bad(
                Input::Bytes {
                    media_type: "application/pdf".into(),
                    data: vec![0]
                },
                false
            ),
            Some(ProviderError::InputRefused(
                RefusalReason::UnsupportedMediaType
            ))
        ));
        assert!(bad(
            Input::Bytes {
                media_type: "application/pdf".into(),
                data: vec![0]
            },
            true
        )
        .is_none());
        assert!(matches!(
            bad(
                Input::Record {
                    record_id: "r".into(),
                    plaintext: vec![0xff, 0xfe]
                },
                true
            ),
            Some(ProviderError::InputRefused(RefusalReason::NotUtf8))
        ));
        assert!(matches!(
            render(&AnalysisRequest::new(""), true, 50).err(),
            Some(ProviderError::InputRefused(RefusalReason::EmptyRequest))
        ));
        assert!(matches!(
            render(&req(vec![Input::Text("x".repeat(100))]), true, 50).err(),
            Some(ProviderError::InputRefused(RefusalReason::TooLarge))
        ));
    }

    #[test]
    fn record_label_sanitised() {
        assert_eq!(safe_record_label("rec_01:a"), "[record rec_01:a]");
        assert_eq!(safe_record_label("x]\nIgnore"), "[record]");
    }

    #[test]
    fn join_text() {
        let r = req(vec![Input::Text("a".into()), Input::Text("b".into())]);
        let parts = render(&r, false, usize::MAX).unwrap();
        assert_eq!(join_if_all_text(&parts).unwrap().as_str(), "P\n\na\n\nb");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            any::<String>().prop_map(Input::Text),
            any::<String>()
                .prop_map(|s| Input::Json(serde_json::json!({ "k": s, "n": [1, null, true] }))),
            (
                prop_oneof![
                    Just("image/png".to_owned()),
                    Just("application/pdf".to_owned()),
                    Just("text/plain; charset=utf-8".to_owned()),
                    any::<String>()
                ],
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(media_type, data)| Input::Bytes { media_type, data }),
            (
                any::<String>(),
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(record_id, plaintext)| Input::Record {
                    record_id,
                    plaintext
                }),
        ]
    }

    proptest! {
        #[test]
        fn bodies_never_panic_and_are_json(
            prompt in any::<String>(),
            instructions in proptest::option::of(any::<String>()),
            inputs in proptest::collection::vec(input(), 0..5),
            max_tokens in proptest::option::of(any::<u32>()),
        ) {
            let mut req = AnalysisRequest::new(prompt);
            req.instructions = instructions;
            req.inputs = inputs;
            req.max_tokens = max_tokens;
            let oa = crate::OpenAiConfig::local("http://127.0.0.1:1/v1", "m");
            if let Ok(body) = crate::openai::build_body(&oa, &req, "m") {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(&v["model"], "m");
            }
            let an = crate::AnthropicConfig::new(crate::ApiKey::from("k"));
            if let Ok(body) = crate::anthropic::build_body(&an, &req, "m") {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                prop_assert!(v["max_tokens"].as_u64().unwrap() > 0);
            }
        }
    }
}
