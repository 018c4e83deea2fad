//! Standard Webhooks v1 verification (<https://www.standardwebhooks.com>):
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, possibly several
//! separated by spaces), with secrets `whsec_<base64>`.
//!
//! ```
//! use zenalyze_server::webhooks::{verify_webhook_at, DEFAULT_TOLERANCE};
//!
//! let headers = [
//!     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("webhook-timestamp", "1614265330"),
//!     ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
//! ];
//! let verified = verify_webhook_at(
//!     br#"{"test": 2432232314}"#,
//!     &headers[..],
//!     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
//!     1614265330,
//!     DEFAULT_TOLERANCE,
//! )?;
//! assert_eq!(verified.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
//! # Ok::<(), zenalyze_server::webhooks::WebhookError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, hmac};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// Default largest distance between `webhook-timestamp` and now: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The secret is not `whsec_` followed by base64.
    #[error("the webhook secret must be whsec_ followed by base64")]
    InvalidSecret,
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing.
    #[error("webhook-id, webhook-timestamp and webhook-signature are required")]
    MissingHeader,
    /// `webhook-timestamp` is not Unix seconds.
    #[error("webhook-timestamp is not Unix seconds")]
    InvalidTimestamp,
    /// `webhook-timestamp` is older than the tolerance.
    #[error("webhook-timestamp is too old")]
    TimestampTooOld,
    /// `webhook-timestamp` is further in the future than the tolerance.
    #[error("webhook-timestamp is in the future")]
    TimestampTooNew,
    /// No `v1` signature matches.
    #[error("no valid v1 signature")]
    InvalidSignature,
}

impl WebhookError {
    /// Stable machine-readable code (same as the TypeScript SDK).
    pub fn code(self) -> &'static str {
        match self {
            WebhookError::InvalidSecret => "invalid_secret",
            WebhookError::MissingHeader => "missing_header",
            WebhookError::InvalidTimestamp => "invalid_timestamp",
            WebhookError::TimestampTooOld => "timestamp_too_old",
            WebhookError::TimestampTooNew => "timestamp_too_new",
            WebhookError::InvalidSignature => "invalid_signature",
        }
    }
}

/// A verified webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    /// `webhook-id`: unique per message, stable across retries (deduplicate on it).
    pub id: String,
    /// `webhook-timestamp` in Unix seconds.
    pub timestamp: u64,
}

/// Where the three headers come from: `http::HeaderMap` (axum, hyper,
/// reqwest), maps, or a slice of name/value pairs. Names are matched
/// case-insensitively.
pub trait WebhookHeaders {
    /// The value of header `name` (lowercase), if present once or more
    /// (several values are joined with a space).
    fn webhook_header(&self, name: &str) -> Option<String>;
}

impl WebhookHeaders for http::HeaderMap {
    fn webhook_header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(" "))
    }
}

fn find<'a>(mut it: impl Iterator<Item = (&'a str, &'a str)>, name: &str) -> Option<String> {
    it.find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
}

impl WebhookHeaders for [(&str, &str)] {
    fn webhook_header(&self, name: &str) -> Option<String> {
        find(self.iter().map(|(k, v)| (*k, *v)), name)
    }
}

impl WebhookHeaders for HashMap<String, String> {
    fn webhook_header(&self, name: &str) -> Option<String> {
        find(self.iter().map(|(k, v)| (k.as_str(), v.as_str())), name)
    }
}

impl WebhookHeaders for BTreeMap<String, String> {
    fn webhook_header(&self, name: &str) -> Option<String> {
        find(self.iter().map(|(k, v)| (k.as_str(), v.as_str())), name)
    }
}

fn is_b64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn secret_key(secret: &str) -> Result<hmac::Key, WebhookError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    if !is_b64(b64) {
        return Err(WebhookError::InvalidSecret);
    }
    // Accept unpadded secrets as the reference libraries do.
    let padded = format!("{}{}", b64, "=".repeat((4 - b64.len() % 4) % 4));
    let bytes = Zeroizing::new(
        STANDARD
            .decode(padded.as_bytes())
            .or_else(|_| STANDARD.decode(b64.as_bytes()))
            .map_err(|_| WebhookError::InvalidSecret)?,
    );
    if bytes.is_empty() {
        return Err(WebhookError::InvalidSecret);
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

fn mac(key: &hmac::Key, id: &str, timestamp: &str, body: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// Computes the `webhook-signature` value (`v1,<base64>`) of a message
/// (for senders and tests; receivers call [`verify_webhook`]).
pub fn sign_webhook(
    secret: &str,
    id: &str,
    timestamp: u64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let key = secret_key(secret)?;
    let tag = mac(&key, id, &timestamp.to_string(), body);
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// Verifies a webhook against the system clock with `tolerance`
/// ([`DEFAULT_TOLERANCE`] is 5 minutes). Pass the **raw** body exactly as
/// received.
pub fn verify_webhook<H: WebhookHeaders + ?Sized>(
    raw_body: &[u8],
    headers: &H,
    secret: &str,
    tolerance: Duration,
) -> Result<VerifiedWebhook, WebhookError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    verify_webhook_at(raw_body, headers, secret, now, tolerance)
}

/// Verifies a webhook at time `now` (Unix seconds). Signatures are compared
/// in constant time; any valid `v1` signature among several is enough.
pub fn verify_webhook_at<H: WebhookHeaders + ?Sized>(
    raw_body: &[u8],
    headers: &H,
    secret: &str,
    now: u64,
    tolerance: Duration,
) -> Result<VerifiedWebhook, WebhookError> {
    let key = secret_key(secret)?;
    let id = headers.webhook_header("webhook-id");
    let ts = headers.webhook_header("webhook-timestamp");
    let sigs = headers.webhook_header("webhook-signature");
    let (Some(id), Some(ts), Some(sigs)) = (id, ts, sigs) else {
        return Err(WebhookError::MissingHeader);
    };
    if id.is_empty() || ts.is_empty() || sigs.is_empty() {
        return Err(WebhookError::MissingHeader);
    }
    if ts.len() > 15 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidTimestamp);
    }
    let timestamp: u64 = ts.parse().map_err(|_| WebhookError::InvalidTimestamp)?;
    let tol = tolerance.as_secs();
    if timestamp < now.saturating_sub(tol) {
        return Err(WebhookError::TimestampTooOld);
    }
    if timestamp > now.saturating_add(tol) {
        return Err(WebhookError::TimestampTooNew);
    }
    let expected = mac(&key, &id, &ts, raw_body);
    let mut ok = false;
    for entry in sigs.split(' ') {
        let Some(("v1", given)) = entry.split_once(',') else {
            continue;
        };
        if !is_b64(given) {
            continue;
        }
        let Ok(candidate) = STANDARD.decode(given.as_bytes()) else {
            continue;
        };
        if constant_time::verify_slices_are_equal(&candidate, expected.as_ref()).is_ok() {
            ok = true;
        }
    }
    if ok {
        Ok(VerifiedWebhook { id, timestamp })
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vector of the Standard Webhooks reference libraries
    // (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn h(sig: &str, ts: &str, id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), ts.to_owned()),
            ("webhook-signature".to_owned(), sig.to_owned()),
        ])
    }

    fn v(
        body: &[u8],
        sig: &str,
        ts: &str,
        id: &str,
        now: u64,
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_webhook_at(body, &h(sig, ts, id), SECRET, now, DEFAULT_TOLERANCE)
    }

    #[test]
    fn known_answer_vector() {
        assert_eq!(sign_webhook(SECRET, ID, TS, BODY).unwrap(), SIG);
        assert_eq!(
            sign_webhook(&SECRET[6..], ID, TS, BODY).unwrap(),
            SIG,
            "unprefixed secret"
        );
        let ok = v(BODY, SIG, "1614265330", ID, TS).unwrap();
        assert_eq!(
            ok,
            VerifiedWebhook {
                id: ID.into(),
                timestamp: TS
            }
        );
        let mut map = http::HeaderMap::new();
        map.insert("Webhook-Id", ID.parse().unwrap());
        map.insert("webhook-timestamp", "1614265330".parse().unwrap());
        map.insert("webhook-signature", SIG.parse().unwrap());
        verify_webhook_at(BODY, &map, SECRET, TS, DEFAULT_TOLERANCE).unwrap();
    }

    #[test]
    fn several_signatures_and_versions() {
        let bogus = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        let v2 = format!("v2,{}", &SIG[3..]);
        v(BODY, &format!("{bogus} {v2} {SIG}"), "1614265330", ID, TS).unwrap();
        assert_eq!(
            v(BODY, &format!("{bogus} {v2}"), "1614265330", ID, TS),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn tampering_and_partial_signatures() {
        let bad = WebhookError::InvalidSignature;
        assert_eq!(
            v(br#"{"test": 2432232315}"#, SIG, "1614265330", ID, TS),
            Err(bad)
        );
        assert_eq!(v(BODY, SIG, "1614265330", "msg_x", TS), Err(bad));
        assert_eq!(v(BODY, &SIG[..8], "1614265330", ID, TS), Err(bad));
        assert_eq!(v(BODY, "v1,", "1614265330", ID, TS), Err(bad));
        assert_eq!(v(BODY, &SIG[3..], "1614265330", ID, TS), Err(bad));
        let other = verify_webhook_at(
            BODY,
            &h(SIG, "1614265330", ID),
            "whsec_YW5vdGhlcg==",
            TS,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(other, Err(bad));
    }

    #[test]
    fn tolerance() {
        v(BODY, SIG, "1614265330", ID, TS + 300).unwrap();
        v(BODY, SIG, "1614265330", ID, TS - 300).unwrap();
        assert_eq!(
            v(BODY, SIG, "1614265330", ID, TS + 301),
            Err(WebhookError::TimestampTooOld)
        );
        assert_eq!(
            v(BODY, SIG, "1614265330", ID, TS - 301),
            Err(WebhookError::TimestampTooNew)
        );
        verify_webhook_at(
            BODY,
            &h(SIG, "1614265330", ID),
            SECRET,
            TS + 3000,
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(
            verify_webhook(BODY, &h(SIG, "1614265330", ID), SECRET, DEFAULT_TOLERANCE),
            Err(WebhookError::TimestampTooOld)
        );
    }

    #[test]
    fn malformed_inputs() {
        for ts in [
            "hello",
            "-1",
            "1e9",
            " 1614265330",
            "1614265330.5",
            "99999999999999999999",
        ] {
            assert_eq!(
                v(BODY, SIG, ts, ID, TS),
                Err(WebhookError::InvalidTimestamp),
                "{ts}"
            );
        }
        let mut hs = h(SIG, "1614265330", ID);
        hs.remove("webhook-id");
        assert_eq!(
            verify_webhook_at(BODY, &hs, SECRET, TS, DEFAULT_TOLERANCE),
            Err(WebhookError::MissingHeader)
        );
        for s in ["", "whsec_", "whsec_***", "whsec_===="] {
            assert_eq!(
                verify_webhook_at(BODY, &h(SIG, "1614265330", ID), s, TS, DEFAULT_TOLERANCE),
                Err(WebhookError::InvalidSecret),
                "{s}"
            );
        }
    }
}
