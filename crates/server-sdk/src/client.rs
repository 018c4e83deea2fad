//! The HTTP client: timeouts, safe retries, problem documents.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::{ApiError, Error, ProblemType};

pub(crate) mod metadata;
use crate::types::{
    AnalysisJob, AnalyzeJob, AnalyzeOutcome, AnalyzeRequest, EncryptedRecord, JobResult,
    ListRecords, PlatformCiphertext, PlatformItem, PlatformResult, RecordPage, SealedAnswer,
    StoreEncrypted, StoredRecord, Usage,
};

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
const USER_AGENT: &str = concat!("zenalyze-server-rust/", env!("CARGO_PKG_VERSION"));

fn is_opaque_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn is_api_key(s: &str) -> bool {
    let rest = s
        .strip_prefix("zk_live_")
        .or_else(|| s.strip_prefix("zk_test_"));
    matches!(rest, Some(r) if (32..=128).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// A fresh idempotency key: `idem_` followed by 32 hex digits from the CSPRNG.
pub fn new_idempotency_key() -> String {
    format!("idem_{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// Parses `Retry-After` (delta seconds or an HTTP date) relative to `now`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at = std::time::SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Builder of [`ZenalyzeServer`].
pub struct ZenalyzeServerBuilder {
    api_key: Zeroizing<String>,
    base_url: String,
    timeout: Duration,
    max_retries: u32,
    retry_base_delay: Duration,
    max_retry_delay: Duration,
}

impl fmt::Debug for ZenalyzeServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZenalyzeServerBuilder")
            .field("api_key", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl ZenalyzeServerBuilder {
    /// Base URL of the Encryption Service (default `http://127.0.0.1:8080`,
    /// `zenalyze dev`). Plain `http` is accepted only for loopback hosts.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Deadline of each attempt (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after the first attempt on network errors, 429 and 503, when
    /// safe (default 2, at most 10).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// First backoff delay, doubled per retry, with jitter (default 250 ms).
    pub fn retry_base_delay(mut self, d: Duration) -> Self {
        self.retry_base_delay = d;
        self
    }

    /// Largest wait before a retry; a longer `Retry-After` is not waited
    /// for and the 429/503 is returned (default 20 s).
    pub fn max_retry_delay(mut self, d: Duration) -> Self {
        self.max_retry_delay = d;
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<ZenalyzeServer, Error> {
        if !is_api_key(&self.api_key) {
            return Err(Error::Config(
                "api key must be a secret key (zk_live_… or zk_test_…)",
            ));
        }
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|_| Error::Config("base URL is not a valid URL"))?;
        let host = url.host_str().unwrap_or("");
        if !(url.scheme() == "https" || (url.scheme() == "http" && is_loopback(host))) {
            return Err(Error::Config(
                "base URL must use https (plain http only for loopback hosts)",
            ));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(Error::Config(
                "base URL must not contain credentials, a query or a fragment",
            ));
        }
        if self.timeout.is_zero() || self.max_retries > 10 {
            return Err(Error::Config(
                "timeout must be positive and max_retries at most 10",
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.api_key.as_str()))
            .map_err(|_| Error::Config("api key is not a valid header value"))?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .build()
            .map_err(|_| Error::Config("the HTTP client could not be built"))?;
        Ok(ZenalyzeServer {
            http,
            auth,
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            timeout: self.timeout,
            max_retries: self.max_retries,
            retry_base_delay: self.retry_base_delay,
            max_retry_delay: self.max_retry_delay,
        })
    }
}

/// Client of the Zenalyze Encryption Service for backends. Cheap to clone
/// (share one per process).
#[derive(Clone)]
pub struct ZenalyzeServer {
    http: reqwest::Client,
    auth: HeaderValue,
    base_url: String,
    timeout: Duration,
    max_retries: u32,
    retry_base_delay: Duration,
    max_retry_delay: Duration,
}

impl fmt::Debug for ZenalyzeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZenalyzeServer")
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

struct Spec<'a> {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    json: Option<Value>,
    /// A binary body sent as is (the caller sets the content type).
    raw_body: Option<Vec<u8>>,
    /// Extra request headers.
    headers: HeaderMap,
    idempotency_key: Option<&'a str>,
    /// Safe to repeat after a network error or a 503.
    idempotent: bool,
    /// Accept non-2xx answers that carry an EHBP response nonce.
    sealed: bool,
}

struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|_| Error::UnexpectedResponse {
            status: self.status,
            what: "the body does not have the documented shape",
        })
    }
}

impl ZenalyzeServer {
    /// A client for `api_key` with the defaults (see [`ZenalyzeServerBuilder`]).
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder(api_key).build()
    }

    /// A builder for `api_key`.
    pub fn builder(api_key: impl Into<String>) -> ZenalyzeServerBuilder {
        ZenalyzeServerBuilder {
            api_key: Zeroizing::new(api_key.into()),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(30),
            max_retries: 2,
            retry_base_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(20),
        }
    }

    /// The normalized base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .retry_base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_retry_delay);
        let half = exp / 2;
        let jitter_ms = half.as_millis().min(u128::from(u64::MAX)) as u64;
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    async fn attempt(&self, spec: &Spec<'_>, body: Option<&[u8]>) -> Result<Raw, reqwest::Error> {
        let mut req = self
            .http
            .request(
                spec.method.clone(),
                format!("{}{}", self.base_url, spec.path),
            )
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.auth.clone())
            .header("accept", "application/json, application/problem+json");
        if !spec.query.is_empty() {
            req = req.query(&spec.query);
        }
        if let Some(k) = spec.idempotency_key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            if spec.json.is_some() {
                req = req.header(CONTENT_TYPE, "application/json");
            }
            req = req.body(b.to_vec());
        }
        req = req.headers(spec.headers.clone());
        let res = req.send().await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await?.to_vec();
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    async fn request(&self, spec: Spec<'_>) -> Result<Raw, Error> {
        let body = match (&spec.json, &spec.raw_body) {
            (Some(v), _) => Some(
                serde_json::to_vec(v)
                    .map_err(|_| Error::InvalidArgument("the request could not be serialized"))?,
            ),
            (None, Some(b)) => Some(b.clone()),
            (None, None) => None,
        };
        let mut attempts = 0u32;
        let mut retry = 0u32;
        loop {
            attempts += 1;
            let raw = match self.attempt(&spec, body.as_deref()).await {
                Ok(raw) => raw,
                Err(e) => {
                    if spec.idempotent && retry < self.max_retries {
                        tokio::time::sleep(self.backoff(retry)).await;
                        retry += 1;
                        continue;
                    }
                    // Never surface reqwest's error: keep the request out of errors.
                    return Err(if e.is_timeout() {
                        Error::Timeout { attempts }
                    } else {
                        Error::Network { attempts }
                    });
                }
            };
            if (200..300).contains(&raw.status)
                || (spec.sealed && raw.headers.contains_key("ehbp-response-nonce"))
            {
                return Ok(raw);
            }
            let retry_after = raw
                .header("retry-after")
                .and_then(|v| parse_retry_after(&v, std::time::SystemTime::now()));
            // A 429, and a 503 `unavailable` ("nothing was changed"), were
            // refused before anything happened: always safe to repeat. Other
            // 503s (`timeout`: "may or may not have been applied") only when
            // the request is idempotent.
            let unavailable = raw.status == 503
                && serde_json::from_slice::<Value>(&raw.body)
                    .ok()
                    .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                    .is_some_and(|t| t == "https://zenalyze.dev/problems/unavailable");
            let retryable =
                raw.status == 429 || unavailable || (raw.status == 503 && spec.idempotent);
            if retryable
                && retry < self.max_retries
                && retry_after.is_none_or(|d| d <= self.max_retry_delay)
            {
                tokio::time::sleep(retry_after.unwrap_or_else(|| self.backoff(retry))).await;
                retry += 1;
                continue;
            }
            return Err(problem(&raw, retry_after).into());
        }
    }

    /// Stores an encrypted record for the user (`POST /v1/records`).
    ///
    /// `encrypted_data` is checked locally first with
    /// `zenalyze_crypto::envelope::decode_base64`: anything that is not a
    /// well-formed v1 envelope in standard base64 is refused with
    /// [`Error::InvalidEnvelope`] and **nothing is sent**. An
    /// `Idempotency-Key` is generated when none is given, so a retry after a
    /// network error or a 503 never creates a duplicate.
    ///
    /// ```no_run
    /// # async fn demo(zen: zenalyze_server::ZenalyzeServer, env: String) -> Result<(), zenalyze_server::Error> {
    /// use zenalyze_server::StoreEncrypted;
    /// let stored = zen
    ///     .store_encrypted(StoreEncrypted::new("usr_42", env).metadata("kind", "journal"))
    ///     .await?;
    /// println!("stored {}", stored.id);
    /// # Ok(()) }
    /// ```
    pub async fn store_encrypted(&self, input: StoreEncrypted) -> Result<StoredRecord, Error> {
        zenalyze_crypto::envelope::decode_base64(&input.encrypted_data)
            .map_err(|e| Error::InvalidEnvelope { code: e.code() })?;
        if !is_opaque_id(&input.user_id) {
            return Err(Error::InvalidArgument(
                "user_id must be 1 to 128 characters of [A-Za-z0-9._:-] (an opaque id, never an e-mail or a name)",
            ));
        }
        let key = input.idempotency_key.unwrap_or_else(new_idempotency_key);
        if !is_opaque_id(&key) {
            return Err(Error::InvalidArgument(
                "idempotency key must be 1 to 128 characters of [A-Za-z0-9._:-]",
            ));
        }
        let mut body = json!({"user_id": input.user_id, "envelope": input.encrypted_data});
        if let (Some(m), Some(obj)) = (input.metadata, body.as_object_mut()) {
            obj.insert("metadata".into(), json!(m));
        }
        let raw = self
            .request(Spec {
                method: Method::POST,
                path: "/v1/records".into(),
                query: vec![],
                json: Some(body),
                raw_body: None,
                headers: HeaderMap::new(),
                idempotency_key: Some(&key),
                idempotent: true,
                sealed: false,
            })
            .await?;
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
            user_id: String,
            created_at: String,
            size: u64,
        }
        let c: Created = raw.json()?;
        Ok(StoredRecord {
            id: c.id,
            user_id: c.user_id,
            created_at: c.created_at,
            size: c.size,
            replayed: raw.header("idempotent-replayed").as_deref() == Some("true"),
        })
    }

    fn check_id(id: &str) -> Result<(), Error> {
        if is_opaque_id(id) {
            Ok(())
        } else {
            Err(Error::InvalidArgument("not a valid id"))
        }
    }

    fn get(path: String, query: Vec<(&'static str, String)>) -> Spec<'static> {
        Spec {
            method: Method::GET,
            path,
            query,
            json: None,
            raw_body: None,
            headers: HeaderMap::new(),
            idempotency_key: None,
            idempotent: true,
            sealed: false,
        }
    }

    fn post(path: &str, json: Value) -> Spec<'static> {
        Spec {
            method: Method::POST,
            path: path.into(),
            query: vec![],
            json: Some(json),
            raw_body: None,
            headers: HeaderMap::new(),
            idempotency_key: None,
            // encrypt/decrypt/blind-index change no state: repeating is safe.
            idempotent: true,
            sealed: false,
        }
    }

    /// Reads one record (`GET /v1/records/{id}`); a missing record (or
    /// another tenant's) is an [`ApiError`] with [`ProblemType::NotFound`].
    pub async fn get_record(&self, id: &str) -> Result<EncryptedRecord, Error> {
        Self::check_id(id)?;
        self.request(Self::get(format!("/v1/records/{id}"), vec![]))
            .await?
            .json()
    }

    /// Lists a user's records, newest first (`GET /v1/records`).
    pub async fn list_records(&self, input: ListRecords) -> Result<RecordPage, Error> {
        if !is_opaque_id(&input.user_id) {
            return Err(Error::InvalidArgument(
                "user_id must be 1 to 128 characters of [A-Za-z0-9._:-]",
            ));
        }
        let mut q = vec![("user_id", input.user_id)];
        if let Some(l) = input.limit {
            if !(1..=500).contains(&l) {
                return Err(Error::InvalidArgument("limit must be in 1..=500"));
            }
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = input.cursor {
            q.push(("cursor", c));
        }
        self.request(Self::get("/v1/records".into(), q))
            .await?
            .json()
    }

    /// Deletes a record (`DELETE /v1/records/{id}`).
    pub async fn delete_record(&self, id: &str) -> Result<(), Error> {
        Self::check_id(id)?;
        let mut spec = Self::get(format!("/v1/records/{id}"), vec![]);
        spec.method = Method::DELETE;
        self.request(spec).await.map(|_| ())
    }

    /// Forwards the client's sealed AI request (`POST /v1/ai/analyze`) with
    /// the backend's plaintext instructions and record ids, and returns the
    /// sealed answer untouched (status, response nonce, body) for the client
    /// to open — or, with a callback URL, the accepted job. Retried only
    /// when the gateway guarantees nothing ran (429, 503 `unavailable`).
    pub async fn analyze_with_ai(&self, input: AnalyzeRequest) -> Result<AnalyzeOutcome, Error> {
        let ek = &input.encrypted_data.encapsulated_key;
        if ek.len() != 64 || !ek.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::InvalidArgument(
                "encapsulated key must be 64 lowercase hex digits",
            ));
        }
        if input.encrypted_data.body.is_empty() {
            return Err(Error::InvalidArgument("the sealed body is empty"));
        }
        if !input.record_ids.iter().all(|r| is_opaque_id(r)) {
            return Err(Error::InvalidArgument("record ids must be record ids"));
        }
        let mut headers = HeaderMap::new();
        let bad = |_| Error::InvalidArgument("a side-data value is not a valid header value");
        headers.insert(
            "ehbp-encapsulated-key",
            HeaderValue::from_str(ek).map_err(bad)?,
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(i) = &input.instructions {
            if i.len() > 4096 || i.chars().any(|c| c.is_control() && c != '\t') {
                return Err(Error::InvalidArgument(
                    "instructions must be at most 4096 bytes of text without control characters",
                ));
            }
            // Header values are bytes: the UTF-8 bytes are sent as they are.
            headers.insert(
                "zenalyze-instructions",
                HeaderValue::from_bytes(i.as_bytes()).map_err(bad)?,
            );
        }
        if input.record_ids.len() > 64 {
            return Err(Error::InvalidArgument("at most 64 record ids"));
        }
        if !input.record_ids.is_empty() {
            headers.insert(
                "zenalyze-record-ids",
                HeaderValue::from_str(&input.record_ids.join(",")).map_err(bad)?,
            );
        }
        if let Some(u) = &input.callback_url {
            let url = reqwest::Url::parse(u)
                .map_err(|_| Error::InvalidArgument("callback URL must be an absolute URL"))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(Error::InvalidArgument("callback URL must be http(s)"));
            }
            headers.insert(
                "callback-url",
                HeaderValue::from_str(url.as_str()).map_err(bad)?,
            );
            headers.insert("prefer", HeaderValue::from_static("respond-async"));
        }
        if input.respond_async {
            headers.insert("prefer", HeaderValue::from_static("respond-async"));
        }
        let raw = self
            .request(Spec {
                method: Method::POST,
                path: "/v1/ai/analyze".into(),
                query: vec![],
                json: None,
                raw_body: Some(input.encrypted_data.body),
                headers,
                idempotency_key: None,
                // An AI request may have run after a network error: never
                // repeated then (only 429 and 503 `unavailable`, which
                // guarantee nothing ran, are retried).
                idempotent: false,
                sealed: true,
            })
            .await?;
        if let Some(nonce) = raw.header("ehbp-response-nonce") {
            return Ok(AnalyzeOutcome::Sealed(SealedAnswer {
                status: raw.status,
                response_nonce: nonce,
                request_id: raw.header("x-request-id"),
                body: raw.body,
            }));
        }
        let job: Value = raw.json()?;
        let id = job
            .get("job_id")
            .or_else(|| job.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(Error::UnexpectedResponse {
                status: raw.status,
                what: "neither a sealed answer nor a job",
            })?;
        Ok(AnalyzeOutcome::Job(AnalyzeJob {
            status: raw.status,
            job_id: id,
            job,
        }))
    }

    /// An asynchronous AI job (`GET /v1/ai/jobs/{id}`): its status and,
    /// once finished, the sealed result for the client that sealed the
    /// request (only it can open `result.body`).
    pub async fn get_analysis_job(&self, job_id: &str) -> Result<AnalysisJob, Error> {
        Self::check_id(job_id)?;
        let raw = self
            .request(Self::get(format!("/v1/ai/jobs/{job_id}"), vec![]))
            .await?;
        #[derive(serde::Deserialize)]
        struct R {
            http_status: u16,
            response_nonce: Option<String>,
            content_type: Option<String>,
            body: String,
        }
        #[derive(serde::Deserialize)]
        struct J {
            job_id: String,
            status: String,
            created_at: String,
            completed_at: Option<String>,
            expires_at: String,
            result: Option<R>,
        }
        let j: J = raw.json()?;
        let result = match j.result {
            Some(r) => Some(JobResult {
                status: r.http_status,
                response_nonce: r.response_nonce,
                content_type: r.content_type,
                body: B64
                    .decode(r.body.as_bytes())
                    .map_err(|_| Error::UnexpectedResponse {
                        status: raw.status,
                        what: "the job result is not base64",
                    })?,
            }),
            None => None,
        };
        Ok(AnalysisJob {
            job_id: j.job_id,
            status: j.status,
            created_at: j.created_at,
            completed_at: j.completed_at,
            expires_at: j.expires_at,
            result,
        })
    }

    /// Creates or rotates the tenant's webhook signing secret
    /// (`POST /v1/ai/webhook-secret`, scope `admin`); the `whsec_…` secret
    /// is returned once (zeroized on drop). The previous secret stops
    /// signing at once. Not retried.
    pub async fn rotate_webhook_secret(&self) -> Result<Zeroizing<String>, Error> {
        let mut spec = Self::post("/v1/ai/webhook-secret", Value::Null);
        spec.json = None;
        spec.idempotent = false;
        #[derive(serde::Deserialize)]
        struct S {
            secret: String,
        }
        let s: S = self.request(spec).await?.json()?;
        Ok(Zeroizing::new(s.secret))
    }

    /// Encrypts non-PHI metadata (usernames, e-mails…) under a platform
    /// keyring (`POST /v1/encrypt`); `context` is bound into the associated
    /// data and must be given again to decrypt.
    ///
    /// ```no_run
    /// # async fn demo(zen: zenalyze_server::ZenalyzeServer) -> Result<(), zenalyze_server::Error> {
    /// let c = zen.encrypt_metadata("encrypt-email", b"alice@example.com", Some(b"usr_42")).await?;
    /// let p = zen.decrypt_metadata("encrypt-email", &c.ciphertext, Some(b"usr_42")).await?;
    /// assert_eq!(&p[..], b"alice@example.com");
    /// # Ok(()) }
    /// ```
    pub async fn encrypt_metadata(
        &self,
        keyring: &str,
        plaintext: &[u8],
        context: Option<&[u8]>,
    ) -> Result<PlatformCiphertext, Error> {
        let mut body =
            json!({"keyring": keyring_name(keyring)?, "plaintext": B64.encode(plaintext)});
        if let (Some(c), Some(o)) = (context, body.as_object_mut()) {
            o.insert("context".into(), json!(B64.encode(c)));
        }
        let raw = self.request(Self::post("/v1/encrypt", body)).await?;
        raw.json()
    }

    /// Decrypts a platform ciphertext (`POST /v1/decrypt`); the plaintext is
    /// zeroized on drop.
    pub async fn decrypt_metadata(
        &self,
        keyring: &str,
        ciphertext: &str,
        context: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let raw = self
            .request(Self::post(
                "/v1/decrypt",
                cipher_body(keyring, ciphertext, context)?,
            ))
            .await?;
        #[derive(serde::Deserialize)]
        struct P {
            plaintext: String,
        }
        let p: P = raw.json()?;
        let p = Zeroizing::new(p.plaintext);
        B64.decode(p.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| Error::UnexpectedResponse {
                status: raw.status,
                what: "plaintext is not base64",
            })
    }

    /// Moves a ciphertext to the keyring's primary version without returning
    /// plaintext (`POST /v1/rewrap`).
    pub async fn rewrap(
        &self,
        keyring: &str,
        ciphertext: &str,
        context: Option<&[u8]>,
    ) -> Result<PlatformCiphertext, Error> {
        self.request(Self::post(
            "/v1/rewrap",
            cipher_body(keyring, ciphertext, context)?,
        ))
        .await?
        .json()
    }

    /// Batch encryption (≤ 1000 items, per-item results in input order).
    pub async fn encrypt_metadata_batch(
        &self,
        keyring: &str,
        items: &[PlatformItem<'_>],
    ) -> Result<Vec<PlatformResult>, Error> {
        self.batch("/v1/encrypt", keyring, items, true).await
    }

    /// Batch decryption (≤ 1000 items, per-item results in input order).
    pub async fn decrypt_metadata_batch(
        &self,
        keyring: &str,
        items: &[PlatformItem<'_>],
    ) -> Result<Vec<PlatformResult>, Error> {
        self.batch("/v1/decrypt", keyring, items, false).await
    }

    async fn batch(
        &self,
        path: &str,
        keyring: &str,
        items: &[PlatformItem<'_>],
        encrypt: bool,
    ) -> Result<Vec<PlatformResult>, Error> {
        if items.is_empty() || items.len() > 1000 {
            return Err(Error::InvalidArgument("a batch has 1 to 1000 items"));
        }
        let batch: Vec<Value> = items
            .iter()
            .map(|it| {
                let mut o = serde_json::Map::new();
                if encrypt {
                    o.insert("plaintext".into(), json!(B64.encode(it.data)));
                } else {
                    o.insert("ciphertext".into(), json!(String::from_utf8_lossy(it.data)));
                }
                if let Some(c) = it.context {
                    o.insert("context".into(), json!(B64.encode(c)));
                }
                if let Some(r) = it.reference {
                    o.insert("reference".into(), json!(r));
                }
                Value::Object(o)
            })
            .collect();
        let raw = self
            .request(Self::post(
                path,
                json!({"keyring": keyring_name(keyring)?, "batch": batch}),
            ))
            .await?;
        #[derive(serde::Deserialize)]
        struct B {
            batch: Vec<Value>,
        }
        let b: B = raw.json()?;
        Ok(b.batch
            .into_iter()
            .map(|v| {
                let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
                PlatformResult {
                    reference: s("reference"),
                    ciphertext: s("ciphertext"),
                    key_version: v
                        .get("key_version")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok()),
                    plaintext: s("plaintext")
                        .and_then(|p| B64.decode(p.as_bytes()).ok())
                        .map(Zeroizing::new),
                    error: v.get("error").map(|e| {
                        let status = e
                            .get("status")
                            .and_then(Value::as_u64)
                            .and_then(|n| u16::try_from(n).ok())
                            .unwrap_or(0);
                        problem_doc(e, status, None, None)
                    }),
                }
            })
            .collect())
    }

    /// A blind index (lowercase hex, `bits / 4` digits; default 128 bits)
    /// for lookups without decryption (`POST /v1/blind-index`).
    pub async fn blind_index(
        &self,
        keyring: &str,
        value: &[u8],
        bits: Option<u16>,
    ) -> Result<String, Error> {
        let mut body = json!({"keyring": keyring_name(keyring)?, "value": B64.encode(value)});
        if let Some(b) = bits {
            if !(32..=256).contains(&b) || b % 8 != 0 {
                return Err(Error::InvalidArgument(
                    "bits must be a multiple of 8 from 32 to 256",
                ));
            }
            if let Some(o) = body.as_object_mut() {
                o.insert("bits".into(), json!(b));
            }
        }
        #[derive(serde::Deserialize)]
        struct I {
            index: String,
        }
        let i: I = self
            .request(Self::post("/v1/blind-index", body))
            .await?
            .json()?;
        Ok(i.index)
    }

    /// The tenant's quota and per-day usage (`GET /v1/usage`); `from`/`to`
    /// are UTC days `YYYY-MM-DD`.
    pub async fn usage(&self, from: Option<&str>, to: Option<&str>) -> Result<Usage, Error> {
        let mut q = vec![];
        for (k, v) in [("from", from), ("to", to)] {
            if let Some(v) = v {
                let ok = v.len() == 10
                    && v.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    });
                if !ok {
                    return Err(Error::InvalidArgument("dates must be YYYY-MM-DD"));
                }
                q.push((k, v.to_owned()));
            }
        }
        self.request(Self::get("/v1/usage".into(), q)).await?.json()
    }
}

fn problem(raw: &Raw, retry_after: Option<Duration>) -> ApiError {
    let doc: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    problem_doc(&doc, raw.status, raw.header("x-request-id"), retry_after)
}

fn problem_doc(
    doc: &Value,
    status: u16,
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> ApiError {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let type_uri = s("type").unwrap_or_else(|| "about:blank".to_owned());
    ApiError {
        problem: ProblemType::from_type_uri(&type_uri, status),
        status,
        title: s("title").unwrap_or_else(|| {
            StatusCode::from_u16(status)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("HTTP error")
                .to_owned()
        }),
        type_uri,
        detail: s("detail"),
        code: s("code"),
        request_id: s("request_id").or(request_id),
        retry_after,
    }
}

fn keyring_name(name: &str) -> Result<&str, Error> {
    let ok = (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidArgument(
            "keyring must be 1 to 48 characters of [a-z0-9_-]",
        ))
    }
}

fn cipher_body(keyring: &str, ciphertext: &str, context: Option<&[u8]>) -> Result<Value, Error> {
    if !ciphertext.starts_with("zen:v") {
        return Err(Error::InvalidArgument(
            "ciphertext must be a platform ciphertext (zen:v<N>:…)",
        ));
    }
    let mut body = json!({"keyring": keyring_name(keyring)?, "ciphertext": ciphertext});
    if let (Some(c), Some(o)) = (context, body.as_object_mut()) {
        o.insert("context".into(), json!(B64.encode(c)));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn config_validation_and_redaction() {
        let key = "zk_test_0123456789abcdefghijABCDEFGHIJ0123456789";
        let c = ZenalyzeServer::builder(key)
            .base_url("https://api.example.com/")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "https://api.example.com");
        let dbg = format!("{c:?} {:?}", ZenalyzeServer::builder(key));
        assert!(!dbg.contains(key) && dbg.contains("[REDACTED]"), "{dbg}");
        for (k, url) in [
            ("zk_pub_abc", "http://127.0.0.1:1"),
            (key, "http://api.example.com"),
            (key, "https://u:p@api.example.com"),
            (key, "not a url"),
        ] {
            let e = ZenalyzeServer::builder(k)
                .base_url(url)
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)));
            assert!(!e.to_string().contains(key));
        }
        assert!(ZenalyzeServer::builder(key)
            .base_url("http://[::1]:8080")
            .build()
            .is_ok());
    }

    #[test]
    fn problem_types_map() {
        assert_eq!(
            ProblemType::from_type_uri("https://zenalyze.dev/problems/quota-exceeded", 429),
            ProblemType::QuotaExceeded
        );
        assert_eq!(
            ProblemType::from_type_uri("about:blank", 404),
            ProblemType::NotFound
        );
        assert_eq!(ProblemType::from_type_uri("x", 418), ProblemType::Other);
    }
}
