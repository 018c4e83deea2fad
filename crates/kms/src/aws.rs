//! AWS KMS root of trust (feature `aws`), through the official Rust SDK.
//!
//! * New keys: `GenerateDataKey` (`KeySpec=AES_256`) under the configured
//!   KMS key; the SDK returns the plaintext data key (kept in memory only)
//!   and its `CiphertextBlob`, which is what the store keeps.
//! * Stored keys: `Decrypt` of the blob with the same `KeyId`.
//! * Both calls carry the **encryption context** `{"zenalyze:tenant": <tenant
//!   id>, "zenalyze:keyring": <name>, "zenalyze:version": <N>}`: KMS refuses
//!   to decrypt a blob under any other context, so a wrapped key moved to
//!   another tenant, keyring or version does not open, and CloudTrail logs
//!   name the tenant and keyring of every unwrap.
//!
//! Requests are SigV4-signed with the SDK's default credential chain
//! (environment, profile, IMDS/ECS role). The endpoint can be overridden
//! (VPC endpoint, or a local KMS-compatible server in tests). Every call has
//! a timeout; failures are [`RootError::Unavailable`] (nothing is served
//! with a wrong key), an `InvalidCiphertextException` is
//! [`RootError::UnwrapFailed`].

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use crate::format::{SecretKey, WrapContext};
use crate::root::{RootError, RootOfTrust};

/// Settings of the AWS KMS root of trust.
#[derive(Clone, Debug)]
pub struct AwsKmsSettings {
    /// KMS key id, ARN or alias (`alias/zenalyze-platform`).
    pub key_id: String,
    /// Region (default: the SDK's region chain).
    pub region: Option<String>,
    /// Endpoint override (e.g. `https://kms.eu-west-1.amazonaws.com`, a
    /// VPC endpoint, or `http://127.0.0.1:PORT` for a local test server).
    pub endpoint: Option<String>,
    /// Per-attempt and whole-operation timeout.
    pub timeout: Duration,
}

/// The AWS KMS root of trust.
pub struct AwsKmsRoot {
    client: aws_sdk_kms::Client,
    key_id: String,
    id: String,
}

impl std::fmt::Debug for AwsKmsRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsRoot")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn context_pairs(ctx: &WrapContext) -> [(&'static str, String); 3] {
    [
        ("zenalyze:tenant", ctx.tenant.clone()),
        ("zenalyze:keyring", ctx.keyring.clone()),
        ("zenalyze:version", ctx.version.to_string()),
    ]
}

fn unavailable<E: std::error::Error>(what: &'static str, e: &E) -> RootError {
    // The SDK's error display names the failure kind (dispatch failure,
    // timeout, service error code), never credentials.
    let mut msg = format!("AWS KMS {what} failed: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg.truncate(300);
    RootError::Unavailable(msg)
}

impl AwsKmsRoot {
    /// Builds the client (no request is made; see [`RootOfTrust::check`]).
    pub async fn new(settings: &AwsKmsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(settings.timeout)
                    .operation_attempt_timeout(settings.timeout)
                    .connect_timeout(settings.timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &settings.endpoint {
            loader = loader.endpoint_url(e.clone());
        }
        let conf = loader.load().await;
        AwsKmsRoot {
            client: aws_sdk_kms::Client::new(&conf),
            key_id: settings.key_id.clone(),
            id: format!("aws-kms:{}", settings.key_id),
        }
    }
}

impl AwsKmsRoot {
    /// The underlying SDK client (for provisioning keys in tests and tools).
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }
}

#[async_trait::async_trait]
impl RootOfTrust for AwsKmsRoot {
    fn id(&self) -> &str {
        &self.id
    }

    async fn generate(&self, ctx: &WrapContext) -> Result<(SecretKey, Vec<u8>), RootError> {
        let mut req = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256);
        for (k, v) in context_pairs(ctx) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| unavailable("GenerateDataKey", &e))?;
        let plain = out
            .plaintext()
            .map(|b| Zeroizing::new(b.as_ref().to_vec()))
            .ok_or_else(|| RootError::Unavailable("AWS KMS returned no data key".into()))?;
        let key = SecretKey::from_slice(&plain).ok_or_else(|| {
            RootError::Unavailable("AWS KMS returned a data key of the wrong size".into())
        })?;
        let blob = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| RootError::Unavailable("AWS KMS returned no ciphertext blob".into()))?;
        Ok((key, blob))
    }

    async fn unwrap(&self, ctx: &WrapContext, wrapped: &[u8]) -> Result<SecretKey, RootError> {
        let mut req = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()));
        for (k, v) in context_pairs(ctx) {
            req = req.encryption_context(k, v);
        }
        let out = req.send().await.map_err(|e| {
            let invalid = e.as_service_error().is_some_and(|s| {
                s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception()
            });
            if invalid {
                RootError::UnwrapFailed
            } else {
                unavailable("Decrypt", &e)
            }
        })?;
        let plain = out
            .plaintext()
            .map(|b| Zeroizing::new(b.as_ref().to_vec()))
            .ok_or(RootError::UnwrapFailed)?;
        SecretKey::from_slice(&plain).ok_or(RootError::UnwrapFailed)
    }

    async fn check(&self) -> Result<(), RootError> {
        self.client
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("DescribeKey", &e))
    }
}
