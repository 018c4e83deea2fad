//! Attestation: one [`Attestor`] trait, the AWS Nitro Secure Module behind
//! the `nitro` feature, and the development attestor (local P-384 root from
//! `zenalyze-attestation`, persisted in the data directory) elsewhere.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zenalyze_attestation::dev::{DevDocumentRequest, DevRoot};

/// File name of the development attestation root (PEM bundle, mode 0600).
pub const DEV_ROOT_FILE: &str = "attestation-root.pem";

/// Attestation failures (no content).
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The attestor refused the request or failed.
    #[error("attestation failed: {0}")]
    Failed(&'static str),
    /// File system failure on the development root.
    #[error("attestation root I/O on {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// Issues attestation documents binding the enclave's key config (in
/// `public_key`) and the caller's challenge (in `nonce`).
pub trait Attestor: Send + Sync {
    /// Issues one COSE_Sign1 attestation document.
    fn attest(
        &self,
        public_key: &[u8],
        user_data: Option<&[u8]>,
        nonce: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, AttestError>;

    /// `"nitro"` or `"development"`.
    fn kind(&self) -> &'static str;
}

/// Development attestor: debug-mode documents (all-zero PCRs) signed by a
/// local development root.
pub struct DevAttestor {
    root: DevRoot,
    module_id: String,
}

impl std::fmt::Debug for DevAttestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAttestor")
            .field("root_sha256", &self.root.sha256_fingerprint_hex())
            .field("module_id", &self.module_id)
            .finish()
    }
}

impl DevAttestor {
    /// Loads `DIR/attestation-root.pem`, creating it (mode 0600) when
    /// absent; refuses a root file readable by group or others.
    pub fn load_or_create(dir: &Path, module_id: &str, now_ms: u64) -> Result<Self, AttestError> {
        let path = dir.join(DEV_ROOT_FILE);
        let io = |source| AttestError::Io {
            path: path.clone(),
            source,
        };
        let root = match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(AttestError::Failed(
                        "attestation root file must have mode 0600",
                    ));
                }
                let pem = zeroize::Zeroizing::new(fs::read_to_string(&path).map_err(io)?);
                DevRoot::from_pem(&pem)
                    .map_err(|_| AttestError::Failed("attestation root file is invalid"))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let root = DevRoot::generate(now_ms / 1000)
                    .map_err(|_| AttestError::Failed("root generation failed"))?;
                let pem = root
                    .to_pem()
                    .map_err(|_| AttestError::Failed("root encoding failed"))?;
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                {
                    Ok(mut f) => {
                        f.write_all(pem.as_bytes()).map_err(io)?;
                        f.sync_all().map_err(|source| AttestError::Io {
                            path: path.clone(),
                            source,
                        })?;
                        root
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Self::load_or_create(dir, module_id, now_ms);
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self {
            root,
            module_id: module_id.to_owned(),
        })
    }

    /// The development root (clients pin its fingerprint).
    pub fn root(&self) -> &DevRoot {
        &self.root
    }
}

impl Attestor for DevAttestor {
    fn attest(
        &self,
        public_key: &[u8],
        user_data: Option<&[u8]>,
        nonce: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, AttestError> {
        let mut req = DevDocumentRequest::new(self.module_id.clone(), now_ms)
            .with_public_key(public_key.to_vec())
            .with_nonce(nonce.to_vec());
        if let Some(u) = user_data {
            req = req.with_user_data(u.to_vec());
        }
        self.root
            .issue(&req)
            .map_err(|_| AttestError::Failed("development document issuance failed"))
    }

    fn kind(&self) -> &'static str {
        "development"
    }
}

/// The AWS Nitro Secure Module attestor (only inside a Nitro enclave).
#[cfg(feature = "nitro")]
pub mod nitro {
    use super::{AttestError, Attestor};
    use aws_nitro_enclaves_nsm_api::api::{Request, Response};
    use aws_nitro_enclaves_nsm_api::driver;
    use serde_bytes::ByteBuf;

    /// Asks `/dev/nsm` for attestation documents.
    #[derive(Debug)]
    pub struct NsmAttestor {
        fd: i32,
    }

    impl NsmAttestor {
        /// Opens the NSM device.
        pub fn open() -> Result<Self, AttestError> {
            let fd = driver::nsm_init();
            if fd < 0 {
                return Err(AttestError::Failed("cannot open /dev/nsm"));
            }
            Ok(Self { fd })
        }
    }

    impl Drop for NsmAttestor {
        fn drop(&mut self) {
            driver::nsm_exit(self.fd);
        }
    }

    impl Attestor for NsmAttestor {
        fn attest(
            &self,
            public_key: &[u8],
            user_data: Option<&[u8]>,
            nonce: &[u8],
            _now_ms: u64,
        ) -> Result<Vec<u8>, AttestError> {
            let req = Request::Attestation {
                public_key: Some(ByteBuf::from(public_key.to_vec())),
                user_data: user_data.map(|u| ByteBuf::from(u.to_vec())),
                nonce: Some(ByteBuf::from(nonce.to_vec())),
            };
            match driver::nsm_process_request(self.fd, req) {
                Response::Attestation { document } => Ok(document),
                _ => Err(AttestError::Failed("NSM refused the attestation request")),
            }
        }

        fn kind(&self) -> &'static str {
            "nitro"
        }
    }
}
