//! AWS credentials for the enclave's KMS calls, handed over by the parent
//! (feature `kms`).
//!
//! A Nitro enclave has no instance metadata service and its image cannot
//! carry temporary credentials, so the parent serves its own (the standard
//! aws-config chain: environment, profile, IMDS role) on a vsock, Unix or
//! TCP listener ([`serve_credentials`], `zenalyze enclave
//! credentials-server`), and the enclave fetches them once at start-up
//! ([`fetch_credentials`], `zenalyze enclave --kms-credentials
//! vsock:3:PORT`). KMS is only called at start-up (the key schedule needs
//! no KMS to rotate), so there is no refresh.
//!
//! Protocol: one request, one answer, then the connection closes.
//!
//! * request: the line [`CREDENTIALS_REQUEST`] (`ZENALYZE-CREDENTIALS/1\n`);
//! * answer: one JSON object and `\n`, either
//!   `{"AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}`
//!   (`Expiration` RFC 3339) or `{"error": "…"}`; at most
//!   [`MAX_ANSWER_LEN`] bytes.
//!
//! Credentials alone do not release the data key: the key policy requires
//! the attestation document. Neither side ever logs the secret access key
//! or the session token; every copy made here is zeroized when dropped.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zenalyze_transport::{Address, Listener};
use zeroize::{Zeroize, Zeroizing};

/// The request line.
pub const CREDENTIALS_REQUEST: &[u8] = b"ZENALYZE-CREDENTIALS/1\n";
/// Largest answer accepted (an STS session token is a few KiB).
pub const MAX_ANSWER_LEN: usize = 16 * 1024;
/// Time the server allows a client for its request, and itself for the answer.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider name of the credentials built from the parent's answer.
pub const PROVIDER_NAME: &str = "zenalyze-parent";

/// Failures of the credentials channel. None carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The parent could not be reached or the exchange failed.
    #[error("AWS credentials from the parent at {address}: {detail}")]
    Channel {
        /// The credentials server's address.
        address: String,
        /// What failed.
        detail: String,
    },
    /// The parent answered an error.
    #[error("AWS credentials from the parent at {address}: the parent has none: {detail}")]
    Refused {
        /// The credentials server's address.
        address: String,
        /// The parent's explanation.
        detail: String,
    },
    /// The answer is not valid credentials.
    #[error("AWS credentials from the parent at {address}: malformed answer: {detail}")]
    Malformed {
        /// The credentials server's address.
        address: String,
        /// What is wrong (never the value).
        detail: &'static str,
    },
    /// The parent's own credential chain failed (server side).
    #[error("no AWS credentials on the parent: {0}")]
    NoCredentials(String),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireOut<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WireIn {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
    #[serde(rename = "error")]
    error: Option<String>,
}

impl Drop for WireIn {
    fn drop(&mut self) {
        for s in [
            &mut self.access_key_id,
            &mut self.secret_access_key,
            &mut self.session_token,
        ]
        .into_iter()
        .flatten()
        {
            s.zeroize();
        }
    }
}

/// The parent's credentials provider: the standard aws-config chain
/// (environment, profile, container/instance role through IMDS).
pub async fn default_provider() -> Result<SharedCredentialsProvider, CredentialsError> {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    conf.credentials_provider()
        .ok_or_else(|| CredentialsError::NoCredentials("no credentials provider configured".into()))
}

/// Checks that `provider` currently yields credentials (start-up check of
/// the server); returns their expiration, if any.
pub async fn check_provider(
    provider: &SharedCredentialsProvider,
) -> Result<Option<SystemTime>, CredentialsError> {
    let c = provider
        .provide_credentials()
        .await
        .map_err(|e| CredentialsError::NoCredentials(error_chain(&e)))?;
    Ok(c.expiry())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg.truncate(400);
    msg
}

/// Serves `provider`'s credentials on `listener`, one answer per
/// connection, until the future is dropped (accept errors are logged and
/// retried after 100 ms). Logs one line per request (peer, outcome,
/// expiration: never a key, secret or token).
pub async fn serve_credentials(
    listener: Listener,
    provider: SharedCredentialsProvider,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept_one().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "credentials server: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let provider = provider.clone();
        tokio::spawn(async move {
            let peer = format!("{peer:?}");
            match tokio::time::timeout(SERVER_TIMEOUT, answer(stream, &provider)).await {
                Ok(Ok(expiry)) => tracing::info!(
                    peer,
                    expires = expiry.map(|t| DateTime::from(t)
                        .fmt(DateTimeFormat::DateTime)
                        .unwrap_or_default()),
                    "AWS credentials served"
                ),
                Ok(Err(reason)) => tracing::warn!(peer, reason, "credentials request refused"),
                Err(_) => tracing::warn!(peer, "credentials request timed out"),
            }
        });
    }
}

async fn read_request(stream: &mut zenalyze_transport::Stream) -> Result<bool, &'static str> {
    let mut buf = [0u8; 64];
    let mut len = 0;
    loop {
        let n = stream
            .read(&mut buf[len..])
            .await
            .map_err(|_| "read failed")?;
        if n == 0 {
            return Ok(false);
        }
        len += n;
        if buf[..len].contains(&b'\n') || len == buf.len() {
            return Ok(&buf[..len] == CREDENTIALS_REQUEST);
        }
    }
}

async fn answer(
    mut stream: zenalyze_transport::Stream,
    provider: &SharedCredentialsProvider,
) -> Result<Option<SystemTime>, &'static str> {
    if !read_request(&mut stream).await? {
        let _ = stream.write_all(b"{\"error\":\"bad request\"}\n").await;
        let _ = stream.shutdown().await;
        return Err("bad request");
    }
    let creds = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "parent credential chain failed");
            let _ = stream
                .write_all(b"{\"error\":\"the parent's credential chain yields no credentials\"}\n")
                .await;
            let _ = stream.shutdown().await;
            return Err("no credentials on the parent");
        }
    };
    let expiry = creds.expiry();
    let out = WireOut {
        access_key_id: creds.access_key_id(),
        secret_access_key: creds.secret_access_key(),
        session_token: creds.session_token(),
        expiration: expiry.and_then(|t| DateTime::from(t).fmt(DateTimeFormat::DateTime).ok()),
    };
    let mut body = Zeroizing::new(Vec::with_capacity(2048));
    serde_json::to_writer(&mut *body, &out).map_err(|_| "encoding failed")?;
    body.push(b'\n');
    stream.write_all(&body).await.map_err(|_| "write failed")?;
    stream.shutdown().await.map_err(|_| "shutdown failed")?;
    Ok(expiry)
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Fetches the parent's credentials from `address` (connect, request,
/// answer, all within `timeout`) and builds static credentials for the KMS
/// client. Refuses malformed, incomplete or expired credentials.
pub async fn fetch_credentials(
    address: &Address,
    timeout: Duration,
) -> Result<Credentials, CredentialsError> {
    let addr = address.to_string();
    let channel = |detail: String| CredentialsError::Channel {
        address: addr.clone(),
        detail,
    };
    let exchange = async {
        let mut stream = zenalyze_transport::connect(address)
            .await
            .map_err(|e| channel(format!("cannot connect: {e}")))?;
        stream
            .write_all(CREDENTIALS_REQUEST)
            .await
            .map_err(|e| channel(format!("cannot send the request: {e}")))?;
        let mut body = Zeroizing::new(Vec::with_capacity(4096));
        let mut chunk = Zeroizing::new([0u8; 4096]);
        loop {
            let n = stream
                .read(chunk.as_mut())
                .await
                .map_err(|e| channel(format!("cannot read the answer: {e}")))?;
            if n == 0 {
                break;
            }
            if body.len() + n > MAX_ANSWER_LEN {
                return Err(CredentialsError::Malformed {
                    address: addr.clone(),
                    detail: "answer too large",
                });
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, CredentialsError>(body)
    };
    let body = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| channel(format!("no answer within {} s", timeout.as_secs_f32())))??;
    parse_answer(&body, &addr)
}

fn parse_answer(body: &[u8], addr: &str) -> Result<Credentials, CredentialsError> {
    let malformed = |detail: &'static str| CredentialsError::Malformed {
        address: addr.to_owned(),
        detail,
    };
    let text = body
        .strip_suffix(b"\n")
        .ok_or(malformed("no answer line"))?;
    let wire: WireIn =
        serde_json::from_slice(text).map_err(|_| malformed("not the expected JSON"))?;
    if let Some(err) = &wire.error {
        return Err(CredentialsError::Refused {
            address: addr.to_owned(),
            detail: err.chars().filter(|c| !c.is_control()).take(200).collect(),
        });
    }
    let akid = wire
        .access_key_id
        .as_deref()
        .ok_or(malformed("no AccessKeyId"))?;
    if !(16..=128).contains(&akid.len())
        || !akid
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(malformed("AccessKeyId is not an AWS access key id"));
    }
    let secret = wire
        .secret_access_key
        .as_deref()
        .ok_or(malformed("no SecretAccessKey"))?;
    if secret.is_empty() || secret.len() > 256 || !printable(secret) {
        return Err(malformed("SecretAccessKey is not a secret access key"));
    }
    let token = match wire.session_token.as_deref() {
        Some(t) if t.is_empty() || t.len() > 8192 || !printable(t) => {
            return Err(malformed("SessionToken is not a session token"))
        }
        other => other,
    };
    let expiry = match wire.expiration.as_deref() {
        None => None,
        Some(e) => {
            let dt = DateTime::from_str(e, DateTimeFormat::DateTime)
                .map_err(|_| malformed("Expiration is not an RFC 3339 time"))?;
            let t = SystemTime::try_from(dt).map_err(|_| malformed("Expiration out of range"))?;
            if t <= SystemTime::now() {
                return Err(malformed("the credentials have expired"));
            }
            Some(t)
        }
    };
    Ok(Credentials::new(
        akid,
        secret,
        token.map(str::to_owned),
        expiry,
        PROVIDER_NAME,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Credentials, CredentialsError> {
        parse_answer(s.as_bytes(), "unix:/x")
    }

    #[test]
    fn answers_are_validated() {
        let c = parse(
            "{\"AccessKeyId\":\"ASIAZENALYZE0001\",\"SecretAccessKey\":\"s/e+c\",\"SessionToken\":\"tok\",\"Expiration\":\"2999-01-01T00:00:00Z\"}\n",
        )
        .unwrap();
        assert_eq!(c.access_key_id(), "ASIAZENALYZE0001");
        assert_eq!(c.secret_access_key(), "s/e+c");
        assert_eq!(c.session_token(), Some("tok"));
        assert!(c.expiry().is_some());
        let no_token =
            parse("{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\"}\n").unwrap();
        assert_eq!(no_token.session_token(), None);
        for bad in [
            "",
            "{}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\"}",
            "{\"AccessKeyId\":\"akia-lower\",\"SecretAccessKey\":\"s\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"a b\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\",\"Expiration\":\"2001-01-01T00:00:00Z\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}\n",
            "{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"s\",\"Extra\":1}\n",
        ] {
            assert!(
                matches!(parse(bad), Err(CredentialsError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse("{\"error\":\"none here\"}\n"),
            Err(CredentialsError::Refused { .. })
        ));
    }

    #[test]
    fn errors_never_carry_the_secret() {
        let e =
            parse("{\"AccessKeyId\":\"AKIAZENALYZE0001\",\"SecretAccessKey\":\"SECRET ONE\"}\n")
                .unwrap_err();
        assert!(!e.to_string().contains("SECRET"));
        assert!(!format!("{e:?}").contains("SECRET"));
    }
}
