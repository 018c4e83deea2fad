//! The root of trust: everything that wraps platform keys at rest.
//!
//! Two providers implement [`RootOfTrust`]:
//! * [`LocalRootKey`]: a 32-byte key file (`DIR/root.key`, mode 0600), the
//!   development default; keys are wrapped with AES-256-GCM bound to tenant,
//!   keyring and version ([`crate::format::wrap_local`]);
//! * `AwsKmsRoot` (feature `aws`): AWS KMS `GenerateDataKey` / `Decrypt`
//!   with an encryption context naming tenant, keyring and version.

use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::format::{self, SecretKey, WrapContext, IV_LEN, KEY_LEN};

/// Why the root of trust failed. Messages are fixed text (never key bytes,
/// never connection strings with credentials).
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The root of trust cannot be reached (network, KMS outage). Nothing
    /// was wrapped or unwrapped.
    #[error("root of trust unavailable: {0}")]
    Unavailable(String),
    /// The wrapped key does not open under this root (another root key,
    /// another KMS key, or tampering).
    #[error("wrapped key does not open under this root of trust")]
    UnwrapFailed,
    /// The key was wrapped by another root of trust than the configured one.
    #[error("key was wrapped by another root of trust")]
    WrongRoot,
    /// The root key file is unusable.
    #[error("root key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why (fixed text).
        reason: &'static str,
    },
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
}

/// A root of trust wraps freshly generated keys and unwraps stored ones,
/// always bound to a [`WrapContext`].
#[async_trait::async_trait]
pub trait RootOfTrust: Send + Sync + std::fmt::Debug {
    /// Identifier stored next to every wrapped key (`local:<fingerprint>`,
    /// `aws-kms:<key id>`): a key wrapped by another root is refused with
    /// [`RootError::WrongRoot`] instead of being tried.
    fn id(&self) -> &str;

    /// Generates a new 256-bit key and returns it with its wrapped form.
    async fn generate(&self, ctx: &WrapContext) -> Result<(SecretKey, Vec<u8>), RootError>;

    /// Unwraps a stored key for exactly this context.
    async fn unwrap(&self, ctx: &WrapContext, wrapped: &[u8]) -> Result<SecretKey, RootError>;

    /// Readiness: whether the root answers (local: always).
    async fn check(&self) -> Result<(), RootError>;
}

/// Draws `N` bytes from the system CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], RootError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| RootError::Random)?;
    Ok(b)
}

/// File name of the local root key inside a data directory.
pub const ROOT_KEY_FILE: &str = "root.key";

/// The local root key (development default): 32 bytes in a file readable
/// only by its owner.
pub struct LocalRootKey {
    key: SecretKey,
    id: String,
}

impl std::fmt::Debug for LocalRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRootKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn key_file_err(path: &Path, reason: &'static str) -> RootError {
    RootError::KeyFile {
        path: path.to_owned(),
        reason,
    }
}

impl LocalRootKey {
    /// A root key from bytes (tests, or keys from a secret manager).
    pub fn from_key(key: SecretKey) -> Self {
        let mut input = Zeroizing::new(b"zenalyze.kms.root-id.v1".to_vec());
        input.extend_from_slice(key.expose());
        let fp = digest::digest(&digest::SHA256, &input);
        let id = format!("local:{}", hex::encode(&fp.as_ref()[..8]));
        LocalRootKey { key, id }
    }

    /// Loads the key file, refusing it when group or others have any
    /// permission on it (mode must be 0600 or stricter) or when it does not
    /// hold exactly 32 bytes.
    pub fn load(path: &Path) -> Result<Self, RootError> {
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                key_file_err(path, "does not exist")
            } else {
                key_file_err(path, "cannot be read")
            }
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(key_file_err(
                    path,
                    "is accessible by group or others; run chmod 600 on it",
                ));
            }
        }
        if !meta.is_file() || meta.len() != KEY_LEN as u64 {
            return Err(key_file_err(path, "must hold exactly 32 bytes"));
        }
        let bytes =
            Zeroizing::new(std::fs::read(path).map_err(|_| key_file_err(path, "cannot be read"))?);
        let key = SecretKey::from_slice(&bytes)
            .ok_or_else(|| key_file_err(path, "must hold exactly 32 bytes"))?;
        Ok(Self::from_key(key))
    }

    /// Loads `DIR/root.key`, creating it (32 random bytes, mode 0600,
    /// written atomically) when it does not exist.
    pub fn open_or_create(dir: &Path) -> Result<Self, RootError> {
        let path = dir.join(ROOT_KEY_FILE);
        if !path.exists() {
            create_key_file(&path)?;
        }
        Self::load(&path)
    }
}

fn create_key_file(path: &Path) -> Result<(), RootError> {
    use std::io::Write;
    let key = Zeroizing::new(random::<KEY_LEN>()?);
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|_| key_file_err(path, "cannot be created"))?;
    f.write_all(key.as_slice())
        .and_then(|()| f.sync_all())
        .map_err(|_| key_file_err(path, "cannot be written"))?;
    // Never replace a key another process created meanwhile.
    std::fs::hard_link(&tmp, path).or_else(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Ok(())
        } else {
            Err(key_file_err(path, "cannot be created"))
        }
    })?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

#[async_trait::async_trait]
impl RootOfTrust for LocalRootKey {
    fn id(&self) -> &str {
        &self.id
    }

    async fn generate(&self, ctx: &WrapContext) -> Result<(SecretKey, Vec<u8>), RootError> {
        let key = SecretKey::new(random::<KEY_LEN>()?);
        let iv = random::<IV_LEN>()?;
        let wrapped =
            format::wrap_local(&self.key, ctx, iv, &key).map_err(|_| RootError::Random)?;
        Ok((key, wrapped))
    }

    async fn unwrap(&self, ctx: &WrapContext, wrapped: &[u8]) -> Result<SecretKey, RootError> {
        format::unwrap_local(&self.key, ctx, wrapped).map_err(|_| RootError::UnwrapFailed)
    }

    async fn check(&self) -> Result<(), RootError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn key_file_permissions_and_size() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = LocalRootKey::open_or_create(dir.path()).unwrap();
        let p = dir.path().join(ROOT_KEY_FILE);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = LocalRootKey::open_or_create(dir.path()).unwrap();
        assert_eq!(a.id(), b.id(), "reused, not replaced");
        assert!(a.id().starts_with("local:"));
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = LocalRootKey::load(&p).unwrap_err();
            assert!(e.to_string().contains("group or others"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(LocalRootKey::load(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, [0u8; 31]).unwrap();
        assert!(LocalRootKey::load(&p)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
        assert!(LocalRootKey::load(&dir.path().join("missing")).is_err());
    }

    #[tokio::test]
    async fn wraps_bound_to_context() {
        let root = LocalRootKey::from_key(SecretKey::new([1; 32]));
        let ctx = WrapContext {
            tenant: "ten_a".into(),
            keyring: "k".into(),
            version: 1,
        };
        let (k, w) = root.generate(&ctx).await.unwrap();
        assert_eq!(root.unwrap(&ctx, &w).await.unwrap().expose(), k.expose());
        let other = WrapContext {
            tenant: "ten_b".into(),
            ..ctx.clone()
        };
        assert!(matches!(
            root.unwrap(&other, &w).await,
            Err(RootError::UnwrapFailed)
        ));
        let root2 = LocalRootKey::from_key(SecretKey::new([2; 32]));
        assert_ne!(root.id(), root2.id());
        assert!(matches!(
            root2.unwrap(&ctx, &w).await,
            Err(RootError::UnwrapFailed)
        ));
        assert!(!format!("{root:?}").contains("[1"));
    }
}
