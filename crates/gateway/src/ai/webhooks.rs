//! Standard Webhooks v1 for asynchronous AI jobs.
//!
//! * Signature: `webhook-signature: v1,<base64 HMAC-SHA256(secret,
//!   "{webhook-id}.{webhook-timestamp}.{body}")>` with the tenant's
//!   `whsec_<base64>` secret (the HMAC key is the decoded base64 part).
//! * Secrets: one per tenant, created/rotated with
//!   `POST /v1/ai/webhook-secret` (scope `admin`; returned once). The store
//!   keeps it wrapped (AES-256-GCM under the gateway's webhook wrapping key,
//!   AAD = tenant id), never in clear.
//! * Callback URLs: `https` only (plain `http` only when configured, as
//!   `zenalyze dev` does for loopback); no user info; the host's addresses —
//!   checked after DNS resolution — must all be global unicast (no private,
//!   loopback, link-local, CGNAT, multicast, documentation or unspecified
//!   address) unless configured otherwise, and the connection is pinned to
//!   the checked address (no second resolution an attacker could flip).
//! * Delivery: at most `1 + schedule.len()` attempts; attempt `n + 1` waits
//!   `schedule[n]` ± 20 % jitter; a 2xx ends it; every attempt has the same
//!   `webhook-id` and a fresh timestamp and signature. The body holds only
//!   the job id, status and link — never content.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;
use zenalyze_store::TenantId;
use zeroize::Zeroizing;

use super::Ai;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::scopes;

/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
pub const SECRET_BYTES: usize = 32;
/// Longest accepted callback URL.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;
const WRAP_AAD: &str = "zenalyze/webhook-secret/v1|";

/// Signs one message: `v1,<base64 HMAC-SHA256>` over `id.timestamp.body`
/// with a `whsec_…` secret. `None` when the secret is malformed.
pub fn sign(secret: &str, msg_id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let key_b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key_b64)
            .ok()?,
    );
    if key.is_empty() {
        return None;
    }
    let k = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(msg_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    ))
}

/// Verifies a `webhook-signature` header value (space-separated list of
/// `v1,<sig>`) in constant time per candidate.
pub fn verify(secret: &str, msg_id: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(expected) = sign(secret, msg_id, timestamp, body) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        candidate.len() == expected.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                candidate.as_bytes(),
                expected.as_bytes(),
            )
            .is_ok()
    })
}

/// A fresh `whsec_…` secret.
pub fn generate_secret() -> Result<Zeroizing<String>, Problem> {
    let mut b = Zeroizing::new([0u8; SECRET_BYTES]);
    aws_lc_rs::rand::fill(b.as_mut()).map_err(|_| Problem::internal())?;
    Ok(Zeroizing::new(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    )))
}

/// The gateway's key wrapping tenants' webhook secrets at rest.
#[derive(Clone)]
pub struct WrapKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrapKey(<redacted>)")
    }
}

impl WrapKey {
    /// A wrapping key from 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Derives the wrapping key from a root key (HKDF-SHA256, info
    /// `zenalyze/webhook-wrap/v1`), as `zenalyze dev` does with `root.key`.
    pub fn derive(root: &[u8]) -> Self {
        use aws_lc_rs::hkdf;
        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = Zeroizing::new([0u8; 32]);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"zenalyze").extract(root);
        let info: &[&[u8]] = &[b"zenalyze/webhook-wrap/v1"];
        if let Ok(okm) = prk.expand(info, Len) {
            let _ = okm.fill(out.as_mut());
        }
        Self(out)
    }

    fn key(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&AES_256_GCM, self.0.as_ref())
            .ok()
            .map(LessSafeKey::new)
    }

    /// Wraps a secret for a tenant: `nonce(12) ‖ ciphertext ‖ tag`.
    pub fn wrap(&self, tenant: &TenantId, secret: &str) -> Option<Vec<u8>> {
        let key = self.key()?;
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut buf = Zeroizing::new(secret.as_bytes().to_vec());
        let aad = format!("{WRAP_AAD}{tenant}");
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut *buf,
        )
        .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Some(out)
    }

    /// Unwraps a tenant's secret.
    pub fn unwrap(&self, tenant: &TenantId, wrapped: &[u8]) -> Option<Zeroizing<String>> {
        if wrapped.len() < 12 + 16 {
            return None;
        }
        let key = self.key()?;
        let (n, ct) = wrapped.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(n).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let aad = format!("{WRAP_AAD}{tenant}");
        let pt = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .ok()?;
        String::from_utf8(pt.to_vec()).ok().map(Zeroizing::new)
    }
}

/// Which callback URLs are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Allow `http://` (development only).
    pub allow_http: bool,
    /// Allow loopback addresses (development only).
    pub allow_loopback: bool,
    /// Allow private, link-local and other non-global addresses.
    pub allow_private: bool,
}

impl CallbackPolicy {
    /// Production: https only, global addresses only.
    pub const PRODUCTION: CallbackPolicy = CallbackPolicy {
        allow_http: false,
        allow_loopback: false,
        allow_private: false,
    };
    /// `zenalyze dev`: also `http://` and loopback (e.g. `http://127.0.0.1:…`).
    pub const DEVELOPMENT: CallbackPolicy = CallbackPolicy {
        allow_http: true,
        allow_loopback: true,
        allow_private: false,
    };
}

/// Why a callback URL was refused (fixed text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Not a URL, too long, user info, no host.
    #[error("callback_url must be an absolute https URL without user info")]
    Malformed,
    /// `http` where only `https` is allowed.
    #[error("callback_url must use https")]
    NotHttps,
    /// The host resolves to (or is) a refused address.
    #[error("callback_url must resolve to public addresses only")]
    ForbiddenAddress,
    /// The host does not resolve.
    #[error("callback_url host does not resolve")]
    Unresolvable,
}

/// A callback URL that passed the syntactic checks.
#[derive(Debug, Clone)]
pub struct CallbackUrl {
    url: reqwest::Url,
}

impl CallbackUrl {
    /// The URL text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

fn v4_forbidden(ip: Ipv4Addr, p: CallbackPolicy) -> bool {
    if ip.is_loopback() {
        return !p.allow_loopback;
    }
    let o = ip.octets();
    let non_global = ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64/10 CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18/15 benchmarking
        || o[0] >= 240; // reserved
    non_global && !p.allow_private
}

/// Whether an address is refused as a callback destination.
pub fn address_forbidden(ip: IpAddr, p: CallbackPolicy) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4, p),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_forbidden(v4, p);
            }
            if v6.is_loopback() {
                return !p.allow_loopback;
            }
            let s = v6.segments();
            let non_global = v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xFE00) == 0xFC00 // unique local
                || (s[0] & 0xFFC0) == 0xFE80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0DB8) // documentation
                || v6 == Ipv6Addr::UNSPECIFIED
                || (s[0] == 0x0064 && s[1] == 0xFF9B) // NAT64
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0); // IPv4-compatible
            non_global && !p.allow_private
        }
    }
}

/// Syntactic checks of a callback URL (before any DNS resolution).
pub fn parse_callback(text: &str, p: CallbackPolicy) -> Result<CallbackUrl, CallbackError> {
    if text.is_empty() || text.len() > MAX_CALLBACK_URL_LEN {
        return Err(CallbackError::Malformed);
    }
    let url = reqwest::Url::parse(text).map_err(|_| CallbackError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if p.allow_http => {}
        "http" => return Err(CallbackError::NotHttps),
        _ => return Err(CallbackError::Malformed),
    }
    if !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
        return Err(CallbackError::Malformed);
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if address_forbidden(ip, p) {
            return Err(CallbackError::ForbiddenAddress);
        }
    }
    Ok(CallbackUrl { url })
}

/// Resolves the URL's host and checks every address; returns the address
/// to pin the connection to.
pub async fn resolve_checked(
    url: &CallbackUrl,
    p: CallbackPolicy,
) -> Result<SocketAddr, CallbackError> {
    let host = url
        .url
        .host_str()
        .ok_or(CallbackError::Malformed)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .url
        .port_or_known_default()
        .ok_or(CallbackError::Malformed)?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| CallbackError::Unresolvable)?
    .map_err(|_| CallbackError::Unresolvable)?
    .collect();
    if addrs.is_empty() {
        return Err(CallbackError::Unresolvable);
    }
    if addrs.iter().any(|a| address_forbidden(a.ip(), p)) {
        return Err(CallbackError::ForbiddenAddress);
    }
    Ok(addrs[0])
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Waits before attempts 2, 3, … (the number of attempts is
    /// `schedule.len() + 1`).
    pub schedule: Vec<Duration>,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// Accepted callback URLs.
    pub policy: CallbackPolicy,
    /// Wraps tenants' secrets at rest; `None` disables webhooks.
    pub wrap_key: Option<WrapKey>,
}

impl Default for WebhookSettings {
    /// Production: 6 attempts over about 8 hours (5 s, 5 min, 30 min, 2 h,
    /// 5 h), 15 s per attempt, https and public addresses only, no wrap key
    /// (webhooks disabled until one is configured).
    fn default() -> Self {
        Self {
            schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1800),
                Duration::from_secs(7200),
                Duration::from_secs(18000),
            ],
            attempt_timeout: Duration::from_secs(15),
            policy: CallbackPolicy::PRODUCTION,
            wrap_key: None,
        }
    }
}

/// The webhook body of a finished job (ids, status and link only).
#[derive(Debug, Serialize)]
pub struct JobEvent<'a> {
    /// `ai.job.completed`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// RFC 3339 time of the event.
    pub timestamp: String,
    /// Job data.
    pub data: JobEventData<'a>,
}

/// `data` of a [`JobEvent`].
#[derive(Debug, Serialize)]
pub struct JobEventData<'a> {
    /// The job id.
    pub job_id: &'a str,
    /// `succeeded` or `failed`.
    pub status: &'a str,
    /// Where to fetch the sealed result.
    pub links: JobLinks,
}

/// Links of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobLinks {
    /// `GET` this path for the job and its sealed result.
    #[serde(rename = "self")]
    pub self_: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return d;
    }
    // ±20 %.
    let r = f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX); // 0..=1
    d.mul_f64(0.8 + 0.4 * r)
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A 2xx after this many attempts.
    Delivered(usize),
    /// Every attempt failed (this many).
    GaveUp(usize),
    /// The URL was refused at resolution time.
    Refused(CallbackError),
}

/// Delivers one event with retries (see the module docs).
pub async fn deliver(
    settings: &WebhookSettings,
    url: &CallbackUrl,
    secret: &str,
    msg_id: &str,
    body: &[u8],
) -> Delivery {
    let attempts = settings.schedule.len() + 1;
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(jitter(settings.schedule[attempt - 1])).await;
        }
        let addr = match resolve_checked(url, settings.policy).await {
            Ok(a) => a,
            Err(CallbackError::Unresolvable) => {
                tracing::warn!(msg_id, attempt, "webhook host does not resolve");
                continue;
            }
            Err(e) => {
                tracing::warn!(msg_id, "webhook destination refused");
                return Delivery::Refused(e);
            }
        };
        let Some(host) = url.url.host_str() else {
            return Delivery::Refused(CallbackError::Malformed);
        };
        let client = match reqwest::Client::builder()
            .resolve(host.trim_start_matches('[').trim_end_matches(']'), addr)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.attempt_timeout)
            .build()
        {
            Ok(c) => c,
            Err(_) => return Delivery::GaveUp(attempt),
        };
        let ts = unix_now();
        let Some(sig) = sign(secret, msg_id, ts, body) else {
            return Delivery::GaveUp(attempt);
        };
        let res = client
            .post(url.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {
                tracing::info!(msg_id, attempt = attempt + 1, "webhook delivered");
                return Delivery::Delivered(attempt + 1);
            }
            Ok(r) => {
                tracing::warn!(
                    msg_id,
                    attempt = attempt + 1,
                    status = r.status().as_u16(),
                    "webhook attempt refused"
                )
            }
            Err(_) => tracing::warn!(msg_id, attempt = attempt + 1, "webhook attempt failed"),
        }
    }
    tracing::warn!(msg_id, attempts, "webhook delivery given up");
    Delivery::GaveUp(attempts)
}

/// A newly created webhook secret (shown once).
#[derive(Serialize, ToSchema)]
pub struct WebhookSecretView {
    /// The `whsec_…` secret: store it; it is never shown again.
    pub secret: String,
}

/// Creates or rotates the tenant's webhook signing secret.
#[utoipa::path(
    post,
    path = "/v1/ai/webhook-secret",
    tag = "ai",
    responses(
        (status = 201, description = "The new secret (shown once)", body = WebhookSecretView),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks admin", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks not configured", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_secret(
    Extension(ai): Extension<Ai>,
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    caller: Caller,
) -> Result<Response, Problem> {
    caller.require(scopes::ADMIN)?;
    let Some(wrap) = ai.settings().webhooks.wrap_key.clone() else {
        return Err(Problem::new(ProblemKind::Unavailable)
            .code("webhooks_not_configured")
            .detail("webhooks are not configured on this gateway"));
    };
    let secret = generate_secret()?;
    let wrapped = wrap
        .wrap(&caller.tenant_id, &secret)
        .ok_or_else(Problem::internal)?;
    state
        .store()
        .put_webhook_secret(&caller.tenant_id, &wrapped)
        .await?;
    state
        .store()
        .append_audit(caller.audit("webhooks.rotate_secret")?)
        .await?;
    let mut r = (
        StatusCode::CREATED,
        axum::Json(WebhookSecretView {
            secret: secret.as_str().to_owned(),
        }),
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_known_answer() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(verify(
            secret,
            id,
            1614265330,
            body,
            "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!verify(
            secret,
            id,
            1614265331,
            body,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(sign("whsec_!!!", id, 1, body).is_none());
    }

    #[test]
    fn wrap_round_trip_bound_to_tenant() {
        let k = WrapKey::derive(&[1u8; 32]);
        let a = TenantId::generate();
        let b = TenantId::generate();
        let s = generate_secret().unwrap();
        let w = k.wrap(&a, &s).unwrap();
        assert!(!w.windows(6).any(|x| x == b"whsec_"));
        assert_eq!(k.unwrap(&a, &w).unwrap().as_str(), s.as_str());
        assert!(k.unwrap(&b, &w).is_none());
        assert!(WrapKey::derive(&[2u8; 32]).unwrap(&a, &w).is_none());
    }

    #[test]
    fn callback_rules() {
        let p = CallbackPolicy::PRODUCTION;
        assert!(parse_callback("https://hooks.example.com/x", p).is_ok());
        assert_eq!(
            parse_callback("http://hooks.example.com/x", p).unwrap_err(),
            CallbackError::NotHttps
        );
        assert_eq!(
            parse_callback("https://u:p@hooks.example.com/", p).unwrap_err(),
            CallbackError::Malformed
        );
        assert_eq!(
            parse_callback("ftp://x/", p).unwrap_err(),
            CallbackError::Malformed
        );
        for bad in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            assert_eq!(
                parse_callback(bad, p).unwrap_err(),
                CallbackError::ForbiddenAddress,
                "{bad}"
            );
        }
        assert!(parse_callback("https://8.8.8.8/", p).is_ok());
        let d = CallbackPolicy::DEVELOPMENT;
        assert!(parse_callback("http://127.0.0.1:9/x", d).is_ok());
        assert!(parse_callback("http://10.0.0.1/x", d).is_err());
    }

    #[tokio::test]
    async fn resolution_checked() {
        let u = parse_callback("https://localhost:1/x", CallbackPolicy::PRODUCTION).unwrap();
        assert_eq!(
            resolve_checked(&u, CallbackPolicy::PRODUCTION)
                .await
                .unwrap_err(),
            CallbackError::ForbiddenAddress
        );
        let d = CallbackPolicy::DEVELOPMENT;
        let u = parse_callback("http://localhost:1/x", d).unwrap();
        let a = resolve_checked(&u, d).await.unwrap();
        assert!(a.ip().is_loopback());
    }
}
