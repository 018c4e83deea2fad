//! The demo journal that `zenalyze dev` serves at `/`: a small, end-to-end
//! encrypted journal that plays a customer's app. **An example to copy, not
//! a product** (see `docs/demo-journal.md`).
//!
//! [`router`] answers:
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the page (strict Content-Security-Policy, no inline script) |
//! | `GET /demo/assets/{path}` | its script, style sheet and icon, and the compiled client SDK (`sdk/…`, embedded from `assets/sdk/`) |
//! | `GET /demo/api/config` | what the page pins: the publishable key and the development attestation policy |
//! | `POST /demo/api/entries` | stores one envelope `{user_id, envelope}` |
//! | `GET /demo/api/entries?user_id=…` | lists the user's envelopes, newest first |
//! | `GET /demo/api/entries/{id}?user_id=…` | reads one envelope |
//!
//! The `/demo/api` routes are the customer's backend, reduced to its
//! essentials: they hold the secret key and call the gateway over HTTP with
//! the Rust server SDK ([`zenalyze_server::ZenalyzeServer`]) exactly like a
//! customer's backend would. They never see the user's email, password or
//! key, and they take and give envelopes only: a body that is not a
//! well-formed v1 envelope is refused before anything is sent.
//!
//! The page derives the key in the browser, encrypts and decrypts there, and
//! sends "Analyze my journal" sealed (HPKE) to the attested development
//! enclave through the gateway with the publishable key.
//!
//! The demo has no accounts: the user id is derived in the browser from the
//! email (`u_` + 32 hex digits of a SHA-256), so the backend never needs the
//! email. A real backend authenticates its users and uses its own ids.

#![deny(missing_docs)]

mod sdk_assets;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zenalyze_server::{ListRecords, StoreEncrypted, ZenalyzeServer};
use zeroize::Zeroizing;

/// The page's Content-Security-Policy: everything from the page's own
/// origin, no inline script or style, no plugins, no framing, no form
/// submission (the forms are handled by the script; without it nothing,
/// in particular no password, is submitted).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; \
     object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Metadata the backend stores beside each envelope (non-PHI); listing
/// shows only records that carry it.
pub const RECORD_APP_METADATA: (&str, &str) = ("app", "demo-journal");

/// Largest envelope the backend accepts (base64 characters).
pub const MAX_ENVELOPE_CHARS: usize = 128 * 1024;

/// Most entries one listing returns (the newest).
pub const LIST_LIMIT: u32 = 100;

/// How many base64 characters of an envelope the backend reports back as
/// "what it handled" (for the page's "who saw what" panel).
pub const RECEIVED_PREFIX_CHARS: usize = 24;

/// What the demo is built from.
pub struct DemoConfig {
    /// Where the backend reaches the gateway (`http://127.0.0.1:8080`):
    /// https, or plain http on a loopback address.
    pub gateway_url: String,
    /// The secret key of the backend (`zk_test_…`). Never sent to the page.
    pub secret_key: Zeroizing<String>,
    /// The publishable key the page uses for attestation and AI requests.
    pub publishable_key: String,
    /// SHA-256 (hex) of the development attestation root the page pins.
    pub attestation_root_sha256: String,
    /// That root's certificate (PEM, public), shown on the page.
    pub attestation_root_certificate_pem: String,
}

impl std::fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoConfig")
            .field("gateway_url", &self.gateway_url)
            .field("attestation_root_sha256", &self.attestation_root_sha256)
            .finish_non_exhaustive()
    }
}

struct Demo {
    /// The server SDK client, or why it could not be built.
    server: Result<ZenalyzeServer, &'static str>,
    /// The body of `GET /demo/api/config`.
    config_json: Vec<u8>,
}

/// The demo's router (no state left to supply). The backend's server SDK
/// client is built here; when that fails (e.g. a gateway URL that is plain
/// http on a non-loopback address) the page still loads and the `/demo/api`
/// routes answer 503 with the reason.
pub fn router(config: DemoConfig) -> Router {
    let server = ZenalyzeServer::builder(config.secret_key.as_str())
        .base_url(config.gateway_url.as_str())
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| match e {
            zenalyze_server::Error::Config(reason) => reason,
            _ => "the server SDK client could not be built",
        });
    if let Err(reason) = &server {
        tracing::warn!(reason, "demo journal backend disabled");
    }
    let config_json = json!({
        "publishable_key": config.publishable_key,
        "attestation_policy": {
            "trustedRootSha256": config.attestation_root_sha256,
            "measurements": [],
            "allowDebug": true,
        },
        "development_root_certificate_pem": config.attestation_root_certificate_pem,
        "trust_note": "Development only: this policy pins the local development attestation \
            root of this `zenalyze dev` data directory, served by the same server (trust on \
            first use) and accepts debug-mode enclaves (all-zero PCRs). Production pins the \
            AWS Nitro root and the released enclave's PCR0/1/2/8 in the app itself.",
    })
    .to_string()
    .into_bytes();
    let demo = Arc::new(Demo {
        server,
        config_json,
    });
    Router::new()
        .route("/", get(page))
        .route("/demo/assets/{*path}", get(asset))
        .route("/demo/api/config", get(api_config))
        .route("/demo/api/entries", get(list_entries).post(create_entry))
        .route("/demo/api/entries/{id}", get(read_entry))
        .with_state(demo)
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

const JS: &str = "text/javascript; charset=utf-8";

/// The embedded file at `path` (under `/demo/assets/`) and its media type.
fn lookup_asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "app.js" => Some((APP_JS, JS)),
        "style.css" => Some((STYLE_CSS, "text/css; charset=utf-8")),
        "favicon.svg" => Some((FAVICON_SVG, "image/svg+xml")),
        _ => {
            let rel = path.strip_prefix("sdk/")?;
            sdk_assets::SDK_FILES
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|(_, body)| (*body, JS))
        }
    }
}

fn static_response(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn page() -> Response {
    let mut res = static_response(INDEX_HTML, "text/html; charset=utf-8");
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

async fn asset(Path(path): Path<String>) -> Result<Response, Problem> {
    let (body, content_type) = lookup_asset(&path).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not Found",
            "no such demo asset",
        )
    })?;
    Ok(static_response(body, content_type))
}

/// A JSON answer of the demo backend (never cached: it carries envelopes).
fn json_response(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn ok_json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_response(status, body, "application/json"),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal Server Error",
            "the answer could not be encoded",
        )
        .into_response(),
    }
}

/// An RFC 9457 problem with the gateway's type URIs. `detail` is written
/// here, never an echo of submitted data.
struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
}

fn problem(
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: impl Into<String>,
) -> Problem {
    Problem {
        status,
        slug,
        title,
        detail: detail.into(),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("https://zenalyze.dev/problems/{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        json_response(
            self.status,
            body.to_string().into_bytes(),
            "application/problem+json",
        )
    }
}

async fn api_config(State(demo): State<Arc<Demo>>) -> Response {
    json_response(StatusCode::OK, demo.config_json.clone(), "application/json")
}

/// Whether `s` is a demo user id: `u_` and 32 lowercase hex digits.
pub fn is_demo_user_id(s: &str) -> bool {
    s.strip_prefix("u_").is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `s` can be a record id (`rec_…`): 1–128 of `[A-Za-z0-9._:-]`.
fn is_record_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn bad_user_id() -> Problem {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
        "Validation Failed",
        "user_id must be u_ followed by 32 lowercase hex digits (derived on the page)",
    )
}

fn server(demo: &Demo) -> Result<&ZenalyzeServer, Problem> {
    demo.server.as_ref().map_err(|reason| {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service Unavailable",
            format!("the demo backend cannot call the gateway: {reason}"),
        )
    })
}

/// The answer for a failed server SDK call.
fn sdk_problem(e: zenalyze_server::Error) -> Problem {
    use zenalyze_server::Error as E;
    match e {
        E::InvalidEnvelope { code } => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-envelope",
            "Invalid Envelope",
            format!("not a v1 envelope in standard base64 ({code}); nothing was stored"),
        ),
        E::InvalidArgument(reason) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
            "Validation Failed",
            reason,
        ),
        E::Api(api) if api.status == 404 => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not Found",
            "no such entry",
        ),
        E::Api(api) if api.status == 429 => problem(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too Many Requests",
            "the gateway's rate limit was reached; try again shortly",
        ),
        E::Api(api) => problem(
            StatusCode::BAD_GATEWAY,
            "bad-gateway",
            "Bad Gateway",
            format!(
                "the gateway refused the backend's request: HTTP {} {}",
                api.status, api.type_uri
            ),
        ),
        E::Network { .. } | E::Timeout { .. } => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service Unavailable",
            "the gateway did not answer the demo backend",
        ),
        _ => problem(
            StatusCode::BAD_GATEWAY,
            "bad-gateway",
            "Bad Gateway",
            "the gateway's answer was not understood",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEntry {
    user_id: String,
    envelope: String,
}

#[derive(Serialize)]
struct Created {
    id: String,
    created_at: String,
    size: u64,
    /// The first characters of the envelope the backend handled.
    received_prefix: String,
}

#[derive(Serialize)]
struct Entry {
    id: String,
    created_at: String,
    envelope: String,
}

#[derive(Serialize)]
struct EntryList {
    entries: Vec<Entry>,
    /// More (older) entries exist than were listed.
    more: bool,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses and checks a `POST /demo/api/entries` body: exactly
/// `{user_id, envelope}`, a demo user id and a well-formed v1 envelope.
fn parse_new_entry(headers: &HeaderMap, body: &[u8]) -> Result<NewEntry, Problem> {
    if !is_json(headers) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            "send application/json",
        ));
    }
    let entry: NewEntry = serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            problem(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                "the body is not valid JSON",
            )
        } else {
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "Invalid Body",
                "expected {\"user_id\": string, \"envelope\": string} and nothing else",
            )
        }
    })?;
    if !is_demo_user_id(&entry.user_id) {
        return Err(bad_user_id());
    }
    if entry.envelope.len() > MAX_ENVELOPE_CHARS {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload Too Large",
            format!("an entry's envelope may have at most {MAX_ENVELOPE_CHARS} characters"),
        ));
    }
    // The backend takes envelopes only: refuse anything else here, before
    // the server SDK (which checks again) sends anything.
    if let Err(e) = zenalyze_crypto::envelope::decode_base64(&entry.envelope) {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-envelope",
            "Invalid Envelope",
            format!(
                "envelope is not a v1 envelope in standard base64 ({}); the demo backend \
                 stores ciphertext only",
                e.code()
            ),
        ));
    }
    Ok(entry)
}

async fn create_entry(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let entry = parse_new_entry(&headers, &body)?;
    let server = server(&demo)?;
    let received_prefix = format!(
        "{}…",
        &entry.envelope[..RECEIVED_PREFIX_CHARS.min(entry.envelope.len())]
    );
    let (key, value) = RECORD_APP_METADATA;
    let stored = server
        .store_encrypted(StoreEncrypted::new(entry.user_id, entry.envelope).metadata(key, value))
        .await
        .map_err(sdk_problem)?;
    Ok(ok_json(
        StatusCode::CREATED,
        &Created {
            id: stored.id,
            created_at: stored.created_at,
            size: stored.size,
            received_prefix,
        },
    ))
}

#[derive(Deserialize)]
struct UserQuery {
    user_id: Option<String>,
}

fn user_from_query(
    q: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<String, Problem> {
    match q {
        Ok(Query(UserQuery { user_id: Some(u) })) if is_demo_user_id(&u) => Ok(u),
        _ => Err(bad_user_id()),
    }
}

fn is_demo_record(metadata: &std::collections::BTreeMap<String, String>) -> bool {
    let (key, value) = RECORD_APP_METADATA;
    metadata.get(key).is_some_and(|v| v == value)
}

async fn list_entries(
    State(demo): State<Arc<Demo>>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let user_id = user_from_query(query)?;
    let page = server(&demo)?
        .list_records(ListRecords::new(user_id).limit(LIST_LIMIT))
        .await
        .map_err(sdk_problem)?;
    Ok(ok_json(
        StatusCode::OK,
        &EntryList {
            more: page.next_cursor.is_some(),
            entries: page
                .records
                .into_iter()
                .filter(|r| is_demo_record(&r.metadata))
                .map(|r| Entry {
                    id: r.id,
                    created_at: r.created_at,
                    envelope: r.encrypted_data,
                })
                .collect(),
        },
    ))
}

async fn read_entry(
    State(demo): State<Arc<Demo>>,
    Path(id): Path<String>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let user_id = user_from_query(query)?;
    if !is_record_id(&id) {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid Parameter",
            "not a record id",
        ));
    }
    let r = server(&demo)?.get_record(&id).await.map_err(sdk_problem)?;
    // Another user's record is "not found", like a missing one.
    if r.user_id != user_id || !is_demo_record(&r.metadata) {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not Found",
            "no such entry",
        ));
    }
    Ok(ok_json(
        StatusCode::OK,
        &Entry {
            id: r.id,
            created_at: r.created_at,
            envelope: r.encrypted_data,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(is_demo_user_id(&format!("u_{}", "0a".repeat(16))));
        assert!(!is_demo_user_id(&format!("u_{}", "0A".repeat(16))));
        assert!(!is_demo_user_id(&format!("u_{}", "0a".repeat(15))));
        assert!(!is_demo_user_id(&format!("x_{}", "0a".repeat(16))));
        assert!(!is_demo_user_id("alice@example.com"));
        assert!(!is_demo_user_id(""));
    }

    #[test]
    fn assets_are_served_from_the_table_only() {
        for p in [
            "app.js",
            "style.css",
            "favicon.svg",
            "sdk/index.js",
            "sdk/ai/index.js",
        ] {
            assert!(lookup_asset(p).is_some(), "{p}");
        }
        for p in [
            "",
            "sdk/",
            "../Cargo.toml",
            "sdk/../app.js",
            "index.html",
            "sdk/index.js.map",
        ] {
            assert!(lookup_asset(p).is_none(), "{p}");
        }
    }

    /// The embedded table lists every file of `assets/sdk/` (the sync
    /// script writes both; a hand edit of one would show here).
    #[test]
    fn sdk_table_matches_the_directory() {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
            let entries = std::fs::read_dir(dir).expect("assets/sdk is readable");
            for e in entries {
                let e = e.expect("dir entry");
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}/{name}")
                };
                if e.path().is_dir() {
                    walk(&e.path(), &rel, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut on_disk = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sdk"),
            "",
            &mut on_disk,
        );
        on_disk.sort();
        let mut listed: Vec<String> = sdk_assets::SDK_FILES
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn the_page_loads_only_its_own_script_and_style() {
        assert!(INDEX_HTML.contains(r#"<script type="module" src="/demo/assets/app.js">"#));
        assert!(!INDEX_HTML.contains("<script>"), "no inline script");
        assert!(!INDEX_HTML.contains("style="), "no inline style");
        assert!(!INDEX_HTML.contains("<style"), "no inline style");
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!INDEX_HTML.contains(external), "no external resource");
        }
        // app.js imports the SDK copy that is served.
        assert!(APP_JS.contains("./sdk/index.js") && APP_JS.contains("./sdk/ai/index.js"));
    }

    #[test]
    fn new_entry_checks() {
        let mut json = HeaderMap::new();
        json.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let uid = format!("u_{}", "ab".repeat(16));
        let env = zenalyze_crypto::envelope::encode_base64(&[1u8; 40]);
        let ok = format!(r#"{{"user_id":"{uid}","envelope":"{env}"}}"#);
        assert!(parse_new_entry(&json, ok.as_bytes()).is_ok());
        let status = |h: &HeaderMap, b: &str| match parse_new_entry(h, b.as_bytes()) {
            Ok(_) => 200,
            Err(p) => p.status.as_u16(),
        };
        assert_eq!(status(&HeaderMap::new(), &ok), 415);
        assert_eq!(status(&json, "{"), 400);
        assert_eq!(status(&json, r#"{"user_id":"u","text":"dear diary"}"#), 422);
        let plaintext = format!(r#"{{"user_id":"{uid}","envelope":"dear diary, today"}}"#);
        assert_eq!(status(&json, &plaintext), 422);
        let extra = format!(r#"{{"user_id":"{uid}","envelope":"{env}","text":"x"}}"#);
        assert_eq!(status(&json, &extra), 422);
        let bad_user = format!(r#"{{"user_id":"alice@example.com","envelope":"{env}"}}"#);
        assert_eq!(status(&json, &bad_user), 422);
        // Valid base64 of something that is not a v1 envelope.
        let v2 = zenalyze_crypto::envelope::encode_base64(&[2u8; 40]);
        assert_eq!(
            status(
                &json,
                &format!(r#"{{"user_id":"{uid}","envelope":"{v2}"}}"#)
            ),
            422
        );
        let huge = "A".repeat(MAX_ENVELOPE_CHARS + 4);
        assert_eq!(
            status(
                &json,
                &format!(r#"{{"user_id":"{uid}","envelope":"{huge}"}}"#)
            ),
            413
        );
    }
}
