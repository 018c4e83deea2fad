//! Production key set source (feature `kms`): the shared HPKE key set sealed
//! under a data key that AWS KMS releases only to an attested enclave.
//!
//! Files (in the data directory, mode 0600):
//!
//! * [`KEYSET_FILE`]: the key schedule sealed
//!   (AES-256-GCM, format v2 of [`KeySchedule::seal`]: seed, deployment,
//!   interval, grace; see [`crate::schedule`]) under a 32-byte data key
//!   (directories provisioned before key schedules hold a v1
//!   [`crate::keyset::KeySet`], still accepted and rotated by re-sealing);
//! * [`DATA_KEY_FILE`]: that data key as the
//!   KMS `CiphertextBlob` of `GenerateDataKey`, under the encryption context
//!   `{"zenalyze:purpose": "enclave-hpke-keyset", "zenalyze:deployment": NAME}`.
//!
//! Provisioning ([`provision`], parent side, `zenalyze enclave
//! provision-keyset`) calls `GenerateDataKey`, creates a fresh random seed,
//! seals the schedule and writes both files; the plaintext data key is
//! zeroized.
//!
//! Start-up ([`open_key_store`], inside the enclave): a fresh RSA-2048
//! recipient key ([`zenalyze_kms_recipient::RecipientKey`]), an attestation
//! document from the enclave's [`Attestor`] whose `public_key` is the
//! recipient's SubjectPublicKeyInfo, `Decrypt` with `Recipient {
//! AttestationDocument, RSAES_OAEP_SHA_256 }`; KMS answers
//! `CiphertextForRecipient` (an answer carrying `Plaintext` is refused: the
//! key would have left KMS unprotected), the enclave opens it, unseals the
//! key schedule. Every enclave that unwrapped the same files derives the
//! same key for each epoch, so rotation needs neither KMS nor a shared
//! disk: KMS is called only at start-up. Any
//! failure stops the start-up with a typed [`KmsError`]; there is no fallback
//! to a development key.
//!
//! The HTTP client is the SDK's own hyper/rustls (AWS-LC) connector. With an
//! egress proxy ([`KmsSettings::egress`]) it tunnels every connection with
//! `CONNECT kms.<region>.amazonaws.com:443` through `zenalyze egress-proxy`
//! (for `unix:`/`vsock:` proxies through a loopback shim piping into the
//! transport), TLS ending in the enclave.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::config::{Credentials, HttpClient, RuntimeComponents};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyEncryptionMechanism, RecipientInfo};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use zenalyze_ehbp::KeyConfig;
use zenalyze_kms_recipient::{RecipientError, RecipientKey};
use zenalyze_transport::Address;
use zeroize::Zeroizing;

use crate::attest::{AttestError, Attestor};
use crate::keyset::{
    write_atomic_0600, KeySetError, KeyStore, SealedKeys, DATA_KEY_FILE, KEYSET_FILE,
};
use crate::schedule::{KeySchedule, ScheduleParams};

/// Encryption-context key naming the purpose of the data key.
pub const CONTEXT_PURPOSE_KEY: &str = "zenalyze:purpose";
/// The purpose value.
pub const CONTEXT_PURPOSE: &str = "enclave-hpke-keyset";
/// Encryption-context key naming the deployment.
pub const CONTEXT_DEPLOYMENT_KEY: &str = "zenalyze:deployment";
/// Default timeout of every KMS call (and of its connection).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest wrapped data key accepted from disk (KMS ciphertext blobs of a
/// 32-byte key are under 200 bytes).
pub const MAX_WRAPPED_KEY_LEN: usize = 6144;

/// Failures of provisioning and of the start-up unwrap. None carries key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// Invalid settings (deployment name, endpoint, proxy).
    #[error("KMS configuration: {0}")]
    Config(String),
    /// KMS could not be reached (connection, TLS, timeout, egress proxy).
    #[error("AWS KMS unreachable during {operation}: {detail}")]
    Unreachable {
        /// `GenerateDataKey` or `Decrypt`.
        operation: &'static str,
        /// What failed (no credentials, no content).
        detail: String,
    },
    /// KMS refused: key policy, grants, attestation conditions, or
    /// credentials.
    #[error("AWS KMS denied {operation}: {code}: {message}")]
    AccessDenied {
        /// `GenerateDataKey` or `Decrypt`.
        operation: &'static str,
        /// Service error code.
        code: String,
        /// Service message.
        message: String,
    },
    /// The wrapped data key does not decrypt under this KMS key and
    /// encryption context (another deployment, another key, tampered blob).
    #[error(
        "AWS KMS: the wrapped data key does not decrypt under this key and deployment ({code})"
    )]
    InvalidCiphertext {
        /// Service error code.
        code: String,
    },
    /// Any other service error.
    #[error("AWS KMS {operation} failed: {code}: {message}")]
    Service {
        /// `GenerateDataKey` or `Decrypt`.
        operation: &'static str,
        /// Service error code.
        code: String,
        /// Service message.
        message: String,
    },
    /// No AWS credentials were found (inside Nitro: none passed to the
    /// enclave's environment).
    #[error("no AWS credentials for {operation}: {detail}")]
    NoCredentials {
        /// `GenerateDataKey` or `Decrypt`.
        operation: &'static str,
        /// The credential chain's explanation.
        detail: String,
    },
    /// The answer is not what was asked for (missing field, wrong size).
    #[error("AWS KMS answer is malformed: {0}")]
    MalformedAnswer(&'static str),
    /// `Decrypt` answered `Plaintext`: the data key left KMS without the
    /// attestation binding. Refused.
    #[error("AWS KMS answered Plaintext instead of CiphertextForRecipient; refusing a data key that left KMS unprotected")]
    PlaintextReturned,
    /// The `CiphertextForRecipient` does not open.
    #[error("CiphertextForRecipient refused: {0}")]
    Recipient(#[from] RecipientError),
    /// The attestor failed.
    #[error(transparent)]
    Attest(#[from] AttestError),
    /// AWS credentials could not be fetched from the parent.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
    /// Reading, writing or unsealing the key set failed.
    #[error(transparent)]
    KeySet(#[from] KeySetError),
}

/// Where and how to reach KMS.
#[derive(Clone)]
pub struct KmsSettings {
    /// KMS key id, ARN or alias.
    pub key_id: String,
    /// Deployment name, bound into the encryption context.
    pub deployment: String,
    /// Region (default: the SDK's region chain).
    pub region: Option<String>,
    /// Endpoint override (a VPC endpoint, or a local server in tests).
    pub endpoint: Option<String>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Egress proxy the connections are tunnelled through (inside Nitro:
    /// `vsock:3:PORT` to `zenalyze egress-proxy`).
    pub egress: Option<Address>,
    /// Static credentials; `None` = the SDK's default chain (environment,
    /// profile, container/instance role).
    pub credentials: Option<Credentials>,
    /// Additional trusted CA certificates (PEM) for the KMS endpoint, beside
    /// the system roots (tests, private endpoints).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for KmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSettings")
            .field("key_id", &self.key_id)
            .field("deployment", &self.deployment)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("egress", &self.egress)
            .field("credentials", &self.credentials.as_ref().map(|_| "static"))
            .finish_non_exhaustive()
    }
}

impl KmsSettings {
    /// Settings with the defaults: SDK region and credential chains, the
    /// public endpoint, direct connections, [`DEFAULT_TIMEOUT`].
    pub fn new(key_id: impl Into<String>, deployment: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            deployment: deployment.into(),
            region: None,
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
            egress: None,
            credentials: None,
            extra_ca_pem: None,
        }
    }
}

/// Checks a deployment name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn validate_deployment(name: &str) -> Result<(), KmsError> {
    if crate::schedule::valid_deployment(name) {
        Ok(())
    } else {
        Err(KmsError::Config(format!(
            "deployment name {name:?} must match [a-z0-9][a-z0-9._-]{{0,63}}"
        )))
    }
}

/// The encryption context of the deployment's data key.
pub fn encryption_context(deployment: &str) -> [(&'static str, String); 2] {
    [
        (CONTEXT_PURPOSE_KEY, CONTEXT_PURPOSE.to_owned()),
        (CONTEXT_DEPLOYMENT_KEY, deployment.to_owned()),
    ]
}

/// The SDK's hyper/rustls connector, optionally tunnelled through an HTTP
/// CONNECT proxy and with extra trusted roots. One connector (one pool) per
/// client.
#[derive(Debug)]
struct EgressHttpClient {
    proxy: ProxyConfig,
    tls: TlsContext,
    connector: OnceLock<SharedHttpConnector>,
}

impl HttpClient for EgressHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector
            .get_or_init(|| {
                let mut b = Connector::builder()
                    .connector_settings(settings.clone())
                    .proxy_config(self.proxy.clone());
                if let Some(sleep) = components.sleep_impl() {
                    b = b.sleep_impl(sleep);
                }
                SharedHttpConnector::new(
                    b.tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                        .tls_context(self.tls.clone())
                        .build(),
                )
            })
            .clone()
    }
}

/// A KMS client for the deployment's data key.
pub struct KmsClient {
    client: aws_sdk_kms::Client,
    key_id: String,
    deployment: String,
    _shim: Option<zenalyze_egress::LocalShim>,
}

impl std::fmt::Debug for KmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsClient")
            .field("key_id", &self.key_id)
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

fn chain<E: std::error::Error>(e: &E) -> String {
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

fn map_sdk_error<E, R>(operation: &'static str, e: SdkError<E, R>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err.message().unwrap_or("").chars().take(300).collect();
            match code.as_str() {
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                // AWS spells the common authentication errors with and
                // without the `Exception` suffix depending on the protocol.
                | "IncompleteSignature"
                | "IncompleteSignatureException"
                | "ExpiredTokenException"
                | "MissingAuthenticationToken"
                | "MissingAuthenticationTokenException" => KmsError::AccessDenied {
                    operation,
                    code,
                    message,
                },
                "InvalidCiphertextException" | "IncorrectKeyException" => {
                    KmsError::InvalidCiphertext { code }
                }
                _ => KmsError::Service {
                    operation,
                    code,
                    message,
                },
            }
        }
        SdkError::ResponseError(_) => KmsError::MalformedAnswer("response could not be parsed"),
        SdkError::ConstructionFailure(_) => KmsError::Config(format!(
            "{operation} request could not be built: {}",
            chain(&e)
        )),
        _ if has_source::<CredentialsError>(&e) => KmsError::NoCredentials {
            operation,
            detail: chain(&e),
        },
        _ => KmsError::Unreachable {
            operation,
            detail: chain(&e),
        },
    }
}

fn has_source<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

impl KmsClient {
    /// Builds the client (no request is made). With
    /// [`KmsSettings::egress`] set, every connection goes through that
    /// proxy.
    pub async fn new(settings: &KmsSettings) -> Result<Self, KmsError> {
        validate_deployment(&settings.deployment)?;
        if settings.key_id.trim().is_empty() {
            return Err(KmsError::Config("the KMS key id is empty".into()));
        }
        let (proxy, shim) = match &settings.egress {
            None => (ProxyConfig::disabled(), None),
            Some(address) => {
                let (url, shim) = match address {
                    Address::Tcp { host, port } if host.contains(':') => {
                        (format!("http://[{host}]:{port}"), None)
                    }
                    Address::Tcp { host, port } => (format!("http://{host}:{port}"), None),
                    other => {
                        let shim = zenalyze_egress::start_local_shim(other.clone())
                            .await
                            .map_err(|e| KmsError::Config(format!("egress shim: {e}")))?;
                        (format!("http://{}", shim.addr), Some(shim))
                    }
                };
                let proxy = ProxyConfig::all(url.as_str())
                    .map_err(|e| KmsError::Config(format!("egress proxy {url}: {e}")))?;
                (proxy, shim)
            }
        };
        let mut trust = TrustStore::default();
        if let Some(pem) = &settings.extra_ca_pem {
            trust = trust.with_pem_certificate(pem.clone());
        }
        let tls = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| KmsError::Config(format!("TLS configuration: {e}")))?;
        let http = EgressHttpClient {
            proxy,
            tls,
            connector: OnceLock::new(),
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
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
        if let Some(c) = &settings.credentials {
            loader = loader.credentials_provider(c.clone());
        }
        let conf = loader.load().await;
        if conf.region().is_none() {
            return Err(KmsError::Config(
                "no AWS region: pass --region or set AWS_REGION".into(),
            ));
        }
        Ok(Self {
            client: aws_sdk_kms::Client::new(&conf),
            key_id: settings.key_id.clone(),
            deployment: settings.deployment.clone(),
            _shim: shim,
        })
    }

    /// `GenerateDataKey` (AES-256) under the deployment's encryption
    /// context: the plaintext data key and its `CiphertextBlob`.
    pub async fn generate_data_key(&self) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), KmsError> {
        let mut req = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256);
        for (k, v) in encryption_context(&self.deployment) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk_error("GenerateDataKey", e))?;
        let plain = out.plaintext().ok_or(KmsError::MalformedAnswer(
            "GenerateDataKey returned no Plaintext",
        ))?;
        if plain.as_ref().len() != 32 {
            return Err(KmsError::MalformedAnswer("data key is not 32 bytes"));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(plain.as_ref());
        let blob = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .filter(|b| !b.is_empty() && b.len() <= MAX_WRAPPED_KEY_LEN)
            .ok_or(KmsError::MalformedAnswer(
                "GenerateDataKey returned no usable CiphertextBlob",
            ))?;
        Ok((key, blob))
    }

    /// `Decrypt` of `wrapped` with `Recipient { attestation_document,
    /// RSAES_OAEP_SHA_256 }`: the `CiphertextForRecipient`. An answer with
    /// `Plaintext` is refused ([`KmsError::PlaintextReturned`]).
    pub async fn decrypt_for_recipient(
        &self,
        wrapped: &[u8],
        attestation_document: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let recipient = RecipientInfo::builder()
            .attestation_document(Blob::new(attestation_document.to_vec()))
            .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
            .build();
        let mut req = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .recipient(recipient);
        for (k, v) in encryption_context(&self.deployment) {
            req = req.encryption_context(k, v);
        }
        let out = req.send().await.map_err(|e| map_sdk_error("Decrypt", e))?;
        if out.plaintext().is_some_and(|p| !p.as_ref().is_empty()) {
            return Err(KmsError::PlaintextReturned);
        }
        out.ciphertext_for_recipient()
            .map(|b| b.as_ref().to_vec())
            .filter(|b| !b.is_empty())
            .ok_or(KmsError::MalformedAnswer(
                "Decrypt returned no CiphertextForRecipient",
            ))
    }
}

/// What provisioning produced.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// Key config of the new key set (what enclaves will serve).
    pub key_config: KeyConfig,
    /// Path of the sealed key set.
    pub keyset_path: std::path::PathBuf,
    /// Path of the wrapped data key.
    pub data_key_path: std::path::PathBuf,
}

/// [`provision_schedule`] with the default interval and grace
/// ([`ScheduleParams::default`]).
pub async fn provision(
    client: &KmsClient,
    out_dir: &Path,
    now_ms: u64,
) -> Result<Provisioned, KmsError> {
    provision_schedule(client, out_dir, now_ms, ScheduleParams::default()).await
}

/// Provisions a deployment's key schedule in `out_dir` (parent side): a
/// data key from `GenerateDataKey`, a fresh random 32-byte seed with
/// `params` and the deployment name sealed under it (format v2), both files
/// written atomically with mode 0600. Refuses to overwrite existing files
/// and invalid parameters (before calling KMS).
pub async fn provision_schedule(
    client: &KmsClient,
    out_dir: &Path,
    now_ms: u64,
    params: ScheduleParams,
) -> Result<Provisioned, KmsError> {
    params.validate()?;
    let keyset_path = out_dir.join(KEYSET_FILE);
    let data_key_path = out_dir.join(DATA_KEY_FILE);
    for p in [&keyset_path, &data_key_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(KeySetError::AlreadyExists(p.clone()).into());
        }
    }
    let schedule = KeySchedule::generate(&client.deployment, params, now_ms)?;
    let key_config = schedule.key_config_at(now_ms)?;
    let (data_key, wrapped) = client.generate_data_key().await?;
    let store = KeyStore::with_data_key(out_dir, data_key)?;
    store.create_schedule(&schedule)?;
    drop(store);
    drop(schedule);
    write_atomic_0600(out_dir, DATA_KEY_FILE, &wrapped)?;
    Ok(Provisioned {
        key_config,
        keyset_path,
        data_key_path,
    })
}

/// Unwraps the data key for this enclave: fresh recipient key, attestation
/// document with its SubjectPublicKeyInfo as `public_key`, `Decrypt` with
/// the recipient, `CiphertextForRecipient` opened.
pub async fn unwrap_data_key(
    client: &KmsClient,
    attestor: &dyn Attestor,
    wrapped: &[u8],
    now_ms: u64,
) -> Result<Zeroizing<[u8; 32]>, KmsError> {
    let recipient = RecipientKey::generate()?;
    let mut nonce = [0u8; 32];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| AttestError::Failed("no randomness"))?;
    let document = attestor.attest(recipient.public_key_der(), None, &nonce, now_ms)?;
    let cfr = client.decrypt_for_recipient(wrapped, &document).await?;
    let plain = recipient.open(&cfr)?;
    drop(recipient);
    if plain.len() != 32 {
        return Err(KmsError::MalformedAnswer(
            "unwrapped data key is not 32 bytes",
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&plain);
    Ok(key)
}

/// Start-up in production: reads `DIR/`[`DATA_KEY_FILE`], unwraps it with
/// [`unwrap_data_key`], and returns the production [`KeyStore`] on `dir`
/// after checking that the sealed key set opens with it.
pub async fn open_key_store(
    client: &KmsClient,
    attestor: Arc<dyn Attestor>,
    dir: &Path,
    now_ms: u64,
) -> Result<KeyStore, KmsError> {
    let path = dir.join(DATA_KEY_FILE);
    let wrapped = match std::fs::read(&path) {
        Ok(w) => w,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeySetError::NotProvisioned(path).into())
        }
        Err(source) => return Err(KeySetError::Io { path, source }.into()),
    };
    if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_KEY_LEN {
        return Err(KmsError::Config(format!(
            "{} is not a KMS ciphertext blob ({} bytes)",
            path.display(),
            wrapped.len()
        )));
    }
    let data_key = unwrap_data_key(client, attestor.as_ref(), &wrapped, now_ms).await?;
    let store = KeyStore::with_data_key(dir, data_key)?;
    if let SealedKeys::Schedule(s) = store.load_sealed()? {
        if s.deployment() != client.deployment {
            return Err(KmsError::Config(format!(
                "the key schedule in {} belongs to deployment {:?}, not {:?}",
                dir.display(),
                s.deployment(),
                client.deployment
            )));
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names() {
        for ok in ["prod", "eu-west-1.prod", "a", "0_x"] {
            validate_deployment(ok).unwrap();
        }
        for bad in ["", "Prod", "-a", ".a", "a b", "a/b", &"a".repeat(65)] {
            assert!(validate_deployment(bad).is_err(), "{bad}");
        }
    }
}
