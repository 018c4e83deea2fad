//! Metadata keys: the design's `getMetadataKey({purpose, version})`,
//! without ever handing a platform key to the caller.
//!
//! Platform keys (Key Management Service, `docs/kms.md`) protect metadata
//! such as usernames and e-mail addresses. Instead of returning raw key
//! bytes, [`ZenalyzeServer::metadata_key`] returns a [`MetadataKey`] handle
//! bound to one keyring (the *purpose*, e.g. `encrypt-email`): every
//! encryption, decryption, rewrap and blind index runs inside the gateway
//! (`POST /v1/encrypt`, `/v1/decrypt`, `/v1/rewrap`, `/v1/blind-index`), is
//! audited there, and the key material stays wrapped by the root of trust.
//!
//! ```no_run
//! # async fn demo(zen: zenalyze_server::ZenalyzeServer) -> Result<(), zenalyze_server::Error> {
//! use zenalyze_server::MetadataKeyRequest;
//! let email = zen.metadata_key(MetadataKeyRequest::purpose("encrypt-email"))?;
//! let sealed = email.encrypt(b"jane@example.org", Some(b"usr_42")).await?;
//! let lookup = email.blind_index(b"jane@example.org").await?;       // store next to it
//! let plain = email.decrypt(&sealed.ciphertext, Some(b"usr_42")).await?;
//! assert_eq!(plain.as_slice(), b"jane@example.org");
//! # Ok(()) }
//! ```

use base64::Engine as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::ZenalyzeServer;
use crate::error::Error;

/// Which metadata key: a keyring name (the purpose) and optionally the
/// lowest key version the caller accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataKeyRequest {
    /// Keyring name, `[a-z0-9][a-z0-9-]{0,63}` (e.g. `encrypt-email`).
    pub purpose: String,
    /// Lowest acceptable key version: encryptions answered with an older
    /// primary (a gateway that has not seen a rotation) and ciphertexts of
    /// older versions are refused locally. `None` accepts any version the
    /// keyring still decrypts.
    pub version: Option<u32>,
}

impl MetadataKeyRequest {
    /// A request for the keyring `purpose`, any version.
    pub fn purpose(purpose: impl Into<String>) -> Self {
        Self {
            purpose: purpose.into(),
            version: None,
        }
    }

    /// Requires key version `v` or newer.
    pub fn version(mut self, v: u32) -> Self {
        self.version = Some(v);
        self
    }
}

/// A platform ciphertext (`zen:v<N>:…`) and its key version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMetadata {
    /// The ciphertext text.
    pub ciphertext: String,
    /// The key version that encrypted it.
    pub key_version: u32,
}

/// Why one item of a batch failed (the gateway's problem document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    /// The problem `type` URI.
    pub problem_type: String,
    /// HTTP status the item would have had on its own.
    pub status: u16,
    /// Machine-readable code, when present.
    pub code: Option<String>,
    /// The gateway's explanation (never echoes data).
    pub detail: Option<String>,
}

/// A handle on one platform keyring. It holds no key material.
#[derive(Debug, Clone)]
pub struct MetadataKey<'a> {
    zen: &'a ZenalyzeServer,
    purpose: String,
    min_version: Option<u32>,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unexpected(what: &'static str) -> Error {
    Error::UnexpectedResponse { status: 200, what }
}

fn is_keyring_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn ciphertext_version(ct: &str) -> Option<u32> {
    let rest = ct.strip_prefix("zen:v")?;
    let (digits, _) = rest.split_once(':')?;
    digits.parse().ok()
}

fn sealed_from(v: &Value) -> Option<SealedMetadata> {
    Some(SealedMetadata {
        ciphertext: v.get("ciphertext")?.as_str()?.to_owned(),
        key_version: u32::try_from(v.get("key_version")?.as_u64()?).ok()?,
    })
}

fn item_problem(v: &Value) -> ItemProblem {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    ItemProblem {
        problem_type: s("type").unwrap_or_default(),
        status: v
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0),
        code: s("code"),
        detail: s("detail"),
    }
}

impl ZenalyzeServer {
    /// A handle for encrypting and decrypting metadata with the keyring
    /// `purpose` (see the module documentation of `MetadataKey`). No request is made; the
    /// keyring must exist (created by the operator or `zenalyze dev`).
    pub fn metadata_key(&self, req: MetadataKeyRequest) -> Result<MetadataKey<'_>, Error> {
        if !is_keyring_name(&req.purpose) {
            return Err(Error::InvalidArgument(
                "purpose must be a keyring name: [a-z0-9][a-z0-9-]{0,63}",
            ));
        }
        if req.version == Some(0) {
            return Err(Error::InvalidArgument("version starts at 1"));
        }
        Ok(MetadataKey {
            zen: self,
            purpose: req.purpose,
            min_version: req.version,
        })
    }
}

impl MetadataKey<'_> {
    /// The keyring name.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    fn check_version(&self, v: u32) -> Result<(), Error> {
        match self.min_version {
            Some(min) if v < min => Err(Error::InvalidArgument(
                "the key version is older than the requested version",
            )),
            _ => Ok(()),
        }
    }

    fn body(&self, field: &str, value: Value, context: Option<&[u8]>) -> Value {
        let mut body = json!({"keyring": self.purpose, field: value});
        if let (Some(c), Some(o)) = (context, body.as_object_mut()) {
            o.insert("context".into(), json!(b64(c)));
        }
        body
    }

    /// Encrypts `plaintext` (≤ 64 KiB); `context` (≤ 1 KiB, e.g. the user
    /// id) is bound into the ciphertext and needed to decrypt it.
    pub async fn encrypt(
        &self,
        plaintext: &[u8],
        context: Option<&[u8]>,
    ) -> Result<SealedMetadata, Error> {
        let body = self.body("plaintext", json!(b64(plaintext)), context);
        let v: Value = self
            .zen
            .request(ZenalyzeServer::post("/v1/encrypt", body))
            .await?
            .json()?;
        let sealed = sealed_from(&v).ok_or_else(|| unexpected("no ciphertext in the answer"))?;
        self.check_version(sealed.key_version)?;
        Ok(sealed)
    }

    /// Decrypts a `zen:v<N>:…` ciphertext with the context it was
    /// encrypted with. The plaintext is wiped when dropped.
    pub async fn decrypt(
        &self,
        ciphertext: &str,
        context: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let v = ciphertext_version(ciphertext)
            .ok_or(Error::InvalidArgument("ciphertext must be zen:v<N>:…"))?;
        self.check_version(v)?;
        let body = self.body("ciphertext", json!(ciphertext), context);
        let answer: Value = self
            .zen
            .request(ZenalyzeServer::post("/v1/decrypt", body))
            .await?
            .json()?;
        let text = answer
            .get("plaintext")
            .and_then(Value::as_str)
            .ok_or_else(|| unexpected("no plaintext in the answer"))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Zeroizing::new)
            .map_err(|_| unexpected("plaintext is not base64"))
    }

    /// Moves a ciphertext to the keyring's primary version without the
    /// plaintext ever leaving the gateway.
    pub async fn rewrap(
        &self,
        ciphertext: &str,
        context: Option<&[u8]>,
    ) -> Result<SealedMetadata, Error> {
        let body = self.body("ciphertext", json!(ciphertext), context);
        let v: Value = self
            .zen
            .request(ZenalyzeServer::post("/v1/rewrap", body))
            .await?
            .json()?;
        sealed_from(&v).ok_or_else(|| unexpected("no ciphertext in the answer"))
    }

    /// The 128-bit blind index of `value` (hex), for equality lookups of
    /// encrypted values (normalise the value first, e.g. lowercase e-mail).
    pub async fn blind_index(&self, value: &[u8]) -> Result<String, Error> {
        self.blind_index_bits(value, 128).await
    }

    /// The blind index truncated to `bits` (a multiple of 8, 32–256).
    pub async fn blind_index_bits(&self, value: &[u8], bits: u16) -> Result<String, Error> {
        if !(32..=256).contains(&bits) || bits % 8 != 0 {
            return Err(Error::InvalidArgument(
                "bits must be a multiple of 8 from 32 to 256",
            ));
        }
        let body = json!({"keyring": self.purpose, "value": b64(value), "bits": bits});
        let v: Value = self
            .zen
            .request(ZenalyzeServer::post("/v1/blind-index", body))
            .await?
            .json()?;
        v.get("index")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| unexpected("no index in the answer"))
    }

    /// Encrypts up to 1000 `(plaintext, context)` items in one request;
    /// results in input order, one bad item does not fail the others.
    pub async fn encrypt_batch(
        &self,
        items: &[(&[u8], Option<&[u8]>)],
    ) -> Result<Vec<Result<SealedMetadata, ItemProblem>>, Error> {
        if items.is_empty() || items.len() > 1000 {
            return Err(Error::InvalidArgument("a batch holds 1 to 1000 items"));
        }
        let batch: Vec<Value> = items
            .iter()
            .map(|(p, c)| {
                let mut o = json!({"plaintext": b64(p)});
                if let Some(c) = c {
                    o["context"] = json!(b64(c));
                }
                o
            })
            .collect();
        let v: Value = self
            .zen
            .request(ZenalyzeServer::post(
                "/v1/encrypt",
                json!({"keyring": self.purpose, "batch": batch}),
            ))
            .await?
            .json()?;
        let results = v
            .get("batch")
            .and_then(Value::as_array)
            .filter(|a| a.len() == items.len())
            .ok_or_else(|| unexpected("batch answer does not match the request"))?;
        results
            .iter()
            .map(|r| match (r.get("error"), sealed_from(r)) {
                (Some(e), _) => Ok(Err(item_problem(e))),
                (None, Some(s)) => {
                    self.check_version(s.key_version)?;
                    Ok(Ok(s))
                }
                (None, None) => Err(unexpected("batch item without result")),
            })
            .collect()
    }

    /// Decrypts up to 1000 `(ciphertext, context)` items in one request.
    pub async fn decrypt_batch(
        &self,
        items: &[(&str, Option<&[u8]>)],
    ) -> Result<Vec<Result<Zeroizing<Vec<u8>>, ItemProblem>>, Error> {
        if items.is_empty() || items.len() > 1000 {
            return Err(Error::InvalidArgument("a batch holds 1 to 1000 items"));
        }
        for (ct, _) in items {
            if let Some(v) = ciphertext_version(ct) {
                self.check_version(v)?;
            }
        }
        let batch: Vec<Value> = items
            .iter()
            .map(|(ct, c)| {
                let mut o = json!({"ciphertext": ct});
                if let Some(c) = c {
                    o["context"] = json!(b64(c));
                }
                o
            })
            .collect();
        let v: Value = self
            .zen
            .request(ZenalyzeServer::post(
                "/v1/decrypt",
                json!({"keyring": self.purpose, "batch": batch}),
            ))
            .await?
            .json()?;
        let results = v
            .get("batch")
            .and_then(Value::as_array)
            .filter(|a| a.len() == items.len())
            .ok_or_else(|| unexpected("batch answer does not match the request"))?;
        results
            .iter()
            .map(
                |r| match (r.get("error"), r.get("plaintext").and_then(Value::as_str)) {
                    (Some(e), _) => Ok(Err(item_problem(e))),
                    (None, Some(p)) => base64::engine::general_purpose::STANDARD
                        .decode(p)
                        .map(|b| Ok(Zeroizing::new(b)))
                        .map_err(|_| unexpected("plaintext is not base64")),
                    (None, None) => Err(unexpected("batch item without result")),
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_checks() {
        assert_eq!(ciphertext_version("zen:v12:abc"), Some(12));
        assert_eq!(ciphertext_version("zen:12:abc"), None);
        assert!(is_keyring_name("encrypt-email"));
        assert!(!is_keyring_name("Encrypt"));
        let p = item_problem(
            &json!({"type": "https://zenalyze.dev/problems/decryption-failed", "status": 422}),
        );
        assert_eq!(p.status, 422);
        assert!(p.code.is_none());
    }
}
