//! The deployment's shared HPKE key set and its sealed blob.
//!
//! A key set is the current X25519 key (with its one-byte key id) and the
//! previous key, still accepted for a grace period after a rotation. It is
//! kept on disk only sealed: in development with AES-256-GCM under the local
//! root key `DIR/root.key` (32 random bytes, mode 0600; looser permissions
//! are refused), in production under a 32-byte data key unwrapped by AWS KMS
//! for an attested enclave (module `kms`, cargo feature `kms`), with
//! an AAD naming the purpose. Every enclave process
//! started on the same data directory unwraps the same key set and so serves
//! the same key config. Rotation writes a new blob atomically (write, fsync,
//! rename) under a lock file; other processes pick it up on their next
//! reload.
//!
//! That random rotation through a shared directory is the development key
//! store (format v1). A production blob provisioned through KMS holds a
//! key schedule instead (format v2, [`crate::schedule`]): every enclave
//! derives the same key per epoch, with no shared directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use zenalyze_ehbp::ServerKey;
use zeroize::{Zeroize, Zeroizing};

use crate::schedule::KeySchedule;

/// File name of the development root key.
pub const ROOT_KEY_FILE: &str = "root.key";
/// File name of the sealed key set.
pub const KEYSET_FILE: &str = "hpke-keyset.sealed";
/// File name of the KMS-wrapped data key (the `CiphertextBlob` of
/// `GenerateDataKey`) that seals the key set in production.
pub const DATA_KEY_FILE: &str = "hpke-keyset.datakey.kms";
const LOCK_FILE: &str = "hpke-keyset.lock";
/// Magic prefix of a sealed key set blob (format version 1).
pub const BLOB_MAGIC: &[u8; 8] = b"ZKSET\x00\x00\x01";
/// The bytes every sealed blob starts with, before its format version byte
/// (1: a key set, [`KeySet::seal`]; 2: a key schedule,
/// [`crate::schedule::KeySchedule::seal`]).
pub const BLOB_MAGIC_PREFIX: &[u8; 7] = b"ZKSET\x00\x00";
/// AAD of the key set seal: names the purpose so the root key's other
/// ciphertexts cannot be substituted.
pub const BLOB_AAD: &[u8] = b"zenalyze/enclave/hpke-key-set/v1";

/// Key set errors. None carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// File system failure (path and OS error; no content).
    #[error("key set I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The root key file is readable by group or others.
    #[error("{0} must have mode 0600 (or stricter); refusing to use it")]
    RootKeyPermissions(PathBuf),
    /// The root key file is not 32 bytes.
    #[error("{0} must hold exactly 32 bytes")]
    RootKeyLength(PathBuf),
    /// The sealed blob does not open (wrong root key, tampered, truncated).
    #[error("sealed key set does not open with this root key")]
    Unseal,
    /// The opened blob is malformed.
    #[error("sealed key set is malformed")]
    Malformed,
    /// Randomness or sealing failed.
    #[error("key set sealing failed")]
    Seal,
    /// Production store without a provisioned key set (never created on
    /// the fly: run `zenalyze enclave provision-keyset`).
    #[error("{0} is absent: the key set must be provisioned (zenalyze enclave provision-keyset)")]
    NotProvisioned(PathBuf),
    /// A production key store has no development root key.
    #[error("a production key store has no development root key")]
    NoRootKey,
    /// The sealed blob has a format version this build does not read
    /// where it was expected (1 = key set, 2 = key schedule).
    #[error("sealed key blob has format version {0}, which is not supported here (v1: development key set, v2: production key schedule)")]
    UnsupportedVersion(u8),
    /// Invalid key schedule parameters or derivation failure.
    #[error("key schedule: {0}")]
    Schedule(String),
    /// Provisioning would overwrite an existing file.
    #[error("{0} already exists; refusing to overwrite a provisioned key set")]
    AlreadyExists(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeySetError + '_ {
    move |source| KeySetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One key of the set with its lifecycle times (unix ms).
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The key.
    pub key: ServerKey,
    /// When it became current.
    pub created_ms: u64,
    /// When it stopped being current (previous key only).
    pub retired_ms: Option<u64>,
}

/// The current key and, for a grace period, the previous one.
#[derive(Clone, Debug)]
pub struct KeySet {
    /// The key clients should seal to.
    pub current: KeyEntry,
    /// The key replaced by the last rotation.
    pub previous: Option<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRepr {
    key_id: u8,
    secret_hex: String,
    created_ms: u64,
    retired_ms: Option<u64>,
}

impl Drop for EntryRepr {
    fn drop(&mut self) {
        self.secret_hex.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRepr {
    version: u8,
    current: EntryRepr,
    previous: Option<EntryRepr>,
}

impl KeySet {
    /// A fresh key set with a random key of id `key_id`.
    pub fn generate(key_id: u8, now_ms: u64) -> Self {
        Self {
            current: KeyEntry {
                key: ServerKey::generate(key_id),
                created_ms: now_ms,
                retired_ms: None,
            },
            previous: None,
        }
    }

    /// Rotates: a new random current key (key id + 1, wrapping), the old
    /// current becomes previous (retired now); the old previous is dropped.
    pub fn rotated(&self, now_ms: u64) -> Self {
        let mut prev = self.current.clone();
        prev.retired_ms = Some(now_ms);
        Self {
            current: KeyEntry {
                key: ServerKey::generate(self.current.key.key_id().wrapping_add(1)),
                created_ms: now_ms,
                retired_ms: None,
            },
            previous: Some(prev),
        }
    }

    /// Keys that open requests at `now_ms`: the current key, then the
    /// previous key while `now_ms < retired_ms + grace_ms`.
    pub fn live_keys(&self, now_ms: u64, grace_ms: u64) -> Vec<&ServerKey> {
        let mut keys = vec![&self.current.key];
        if let Some(p) = &self.previous {
            if p.retired_ms
                .is_some_and(|r| now_ms < r.saturating_add(grace_ms))
            {
                keys.push(&p.key);
            }
        }
        keys
    }

    /// Whether the current key is older than `interval_ms` at `now_ms`.
    pub fn rotation_due(&self, now_ms: u64, interval_ms: u64) -> bool {
        now_ms >= self.current.created_ms.saturating_add(interval_ms)
    }

    fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, KeySetError> {
        let repr = |e: &KeyEntry| EntryRepr {
            key_id: e.key.key_id(),
            secret_hex: hex::encode(*e.key.secret_bytes()),
            created_ms: e.created_ms,
            retired_ms: e.retired_ms,
        };
        let set = SetRepr {
            version: 1,
            current: repr(&self.current),
            previous: self.previous.as_ref().map(repr),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        serde_json::to_writer(&mut *out, &set).map_err(|_| KeySetError::Seal)?;
        Ok(out)
    }

    fn from_json(bytes: &[u8]) -> Result<Self, KeySetError> {
        let set: SetRepr = serde_json::from_slice(bytes).map_err(|_| KeySetError::Malformed)?;
        if set.version != 1 {
            return Err(KeySetError::Malformed);
        }
        let entry = |e: &EntryRepr| -> Result<KeyEntry, KeySetError> {
            let secret =
                Zeroizing::new(hex::decode(&e.secret_hex).map_err(|_| KeySetError::Malformed)?);
            Ok(KeyEntry {
                key: ServerKey::from_secret_bytes(e.key_id, &secret)
                    .map_err(|_| KeySetError::Malformed)?,
                created_ms: e.created_ms,
                retired_ms: e.retired_ms,
            })
        };
        Ok(Self {
            current: entry(&set.current)?,
            previous: set.previous.as_ref().map(entry).transpose()?,
        })
    }

    /// Seals the key set under a 32-byte wrapping key:
    /// `MAGIC ‖ nonce(12) ‖ AES-256-GCM(json, aad = BLOB_AAD)`.
    pub fn seal(&self, wrapping_key: &[u8; 32]) -> Result<Vec<u8>, KeySetError> {
        seal_blob(BLOB_MAGIC, BLOB_AAD, self.to_json()?, wrapping_key)
    }

    /// Opens a blob written by [`KeySet::seal`].
    /// A blob of another format version is refused with
    /// [`KeySetError::UnsupportedVersion`].
    pub fn unseal(blob: &[u8], wrapping_key: &[u8; 32]) -> Result<Self, KeySetError> {
        match crate::schedule::blob_version(blob) {
            Some(1) => {}
            Some(v) => return Err(KeySetError::UnsupportedVersion(v)),
            None => return Err(KeySetError::Unseal),
        }
        Self::from_json(&open_blob(blob, BLOB_MAGIC, BLOB_AAD, wrapping_key)?)
    }
}

/// `magic ‖ nonce(12) ‖ AES-256-GCM(plaintext, aad)` under `wrapping_key`
/// (the sealed formats of [`KeySet`] and [`crate::schedule::KeySchedule`]).
pub(crate) fn seal_blob(
    magic: &[u8],
    aad: &[u8],
    mut plaintext: Zeroizing<Vec<u8>>,
    wrapping_key: &[u8; 32],
) -> Result<Vec<u8>, KeySetError> {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, wrapping_key).map_err(|_| KeySetError::Seal)?,
    );
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KeySetError::Seal)?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut *plaintext,
    )
    .map_err(|_| KeySetError::Seal)?;
    let mut out = Vec::with_capacity(magic.len() + NONCE_LEN + plaintext.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&plaintext);
    Ok(out)
}

/// Opens a blob written by [`seal_blob`] with the same `magic` and `aad`;
/// any mismatch, truncation or tampering is [`KeySetError::Unseal`].
pub(crate) fn open_blob(
    blob: &[u8],
    magic: &[u8],
    aad: &[u8],
    wrapping_key: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>, KeySetError> {
    let rest = blob.strip_prefix(magic).ok_or(KeySetError::Unseal)?;
    let (nonce, ct) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(KeySetError::Unseal)?;
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, wrapping_key).map_err(|_| KeySetError::Unseal)?,
    );
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| KeySetError::Unseal)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// What a sealed blob holds: a v1 key set (development, random rotation)
/// or a v2 key schedule (production, deterministic epochs).
#[derive(Debug)]
pub enum SealedKeys {
    /// Format v1: explicit keys, rotated by re-sealing.
    Set(KeySet),
    /// Format v2: a seed every enclave derives the same epoch keys from.
    Schedule(KeySchedule),
}

impl SealedKeys {
    /// Opens a blob of either format version.
    pub fn unseal(blob: &[u8], wrapping_key: &[u8; 32]) -> Result<Self, KeySetError> {
        match crate::schedule::blob_version(blob) {
            Some(1) => KeySet::unseal(blob, wrapping_key).map(Self::Set),
            Some(crate::schedule::SCHEDULE_VERSION) => {
                KeySchedule::unseal(blob, wrapping_key).map(Self::Schedule)
            }
            Some(v) => Err(KeySetError::UnsupportedVersion(v)),
            None => Err(KeySetError::Unseal),
        }
    }
}

/// What seals the key set of a [`KeyStore`].
#[derive(Clone)]
enum Wrapping {
    /// Development: `DIR/root.key`, created when absent.
    DevRootFile,
    /// Production: a data key unwrapped by KMS for this enclave, held in
    /// memory only (zeroized when the last clone drops).
    DataKey(Arc<Zeroizing<[u8; 32]>>),
}

/// The key store: `DIR/hpke-keyset.sealed`, sealed either under the
/// development root key `DIR/root.key` ([`KeyStore::new`]) or under a data
/// key held in memory ([`KeyStore::with_data_key`], production).
#[derive(Clone)]
pub struct KeyStore {
    dir: PathBuf,
    wrapping: Wrapping,
}

/// The development key store (the name it had before production stores).
pub type DevKeyStore = KeyStore;

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("development", &self.is_development())
            .finish()
    }
}

fn ensure_dir(dir: &Path) -> Result<(), KeySetError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
    }
    Ok(())
}

impl KeyStore {
    /// A development store in `dir` (created with mode 0700 when absent),
    /// sealed under `DIR/root.key`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, KeySetError> {
        let dir = dir.into();
        ensure_dir(&dir)?;
        Ok(Self {
            dir,
            wrapping: Wrapping::DevRootFile,
        })
    }

    /// A production store in `dir` sealed under `data_key` (unwrapped by
    /// KMS). It never creates a key set nor reads or writes `root.key`;
    /// rotations are re-sealed under the same data key.
    pub fn with_data_key(
        dir: impl Into<PathBuf>,
        data_key: Zeroizing<[u8; 32]>,
    ) -> Result<Self, KeySetError> {
        let dir = dir.into();
        ensure_dir(&dir)?;
        Ok(Self {
            dir,
            wrapping: Wrapping::DataKey(Arc::new(data_key)),
        })
    }

    /// Whether this is a development store (root key file).
    pub fn is_development(&self) -> bool {
        matches!(self.wrapping, Wrapping::DevRootFile)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn wrapping_key(&self) -> Result<Zeroizing<[u8; 32]>, KeySetError> {
        match &self.wrapping {
            Wrapping::DevRootFile => self.root_key(),
            Wrapping::DataKey(k) => Ok(Zeroizing::new(**k.as_ref())),
        }
    }

    /// Writes a fresh key set sealed under this store's key; refuses to
    /// overwrite an existing one (provisioning).
    pub fn create(&self, set: &KeySet) -> Result<(), KeySetError> {
        let path = self.blob_path();
        if fs::symlink_metadata(&path).is_ok() {
            return Err(KeySetError::AlreadyExists(path));
        }
        let key = self.wrapping_key()?;
        self.store(set, &key)
    }

    /// Path of the sealed blob.
    pub fn blob_path(&self) -> PathBuf {
        self.dir.join(KEYSET_FILE)
    }

    /// Loads `root.key`, creating 32 random bytes with mode 0600 when absent.
    /// Refuses a file readable or writable by group/others, or not 32 bytes.
    /// A production store ([`KeyStore::with_data_key`]) has none and refuses
    /// with [`KeySetError::NoRootKey`].
    pub fn root_key(&self) -> Result<Zeroizing<[u8; 32]>, KeySetError> {
        if !self.is_development() {
            return Err(KeySetError::NoRootKey);
        }
        let path = self.dir.join(ROOT_KEY_FILE);
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 || !meta.is_file() {
                    return Err(KeySetError::RootKeyPermissions(path));
                }
                let bytes = Zeroizing::new(fs::read(&path).map_err(io_err(&path))?);
                let mut key = Zeroizing::new([0u8; 32]);
                if bytes.len() != 32 {
                    return Err(KeySetError::RootKeyLength(path));
                }
                key.copy_from_slice(&bytes);
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| KeySetError::Seal)?;
                match write_new_0600(&path, key.as_ref()) {
                    Ok(()) => Ok(key),
                    // Another process created it first: use theirs.
                    Err(KeySetError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        self.root_key()
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Loads the key set, creating and sealing a fresh one when absent
    /// (development only: a production store refuses with
    /// [`KeySetError::NotProvisioned`]).
    pub fn load_or_create(&self, now_ms: u64) -> Result<KeySet, KeySetError> {
        if !self.is_development() {
            return self.load();
        }
        let root = self.root_key()?;
        let path = self.blob_path();
        match fs::read(&path) {
            Ok(blob) => KeySet::unseal(&blob, &root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(_lock) = self.lock()? else {
                    // Someone else is creating it: wait for them.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    return self.load_or_create(now_ms);
                };
                if path.exists() {
                    let blob = fs::read(&path).map_err(io_err(&path))?;
                    return KeySet::unseal(&blob, &root);
                }
                let set = KeySet::generate(1, now_ms);
                self.store(&set, &root)?;
                Ok(set)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Writes a fresh key schedule sealed under this store's key; refuses to
    /// overwrite an existing blob (provisioning).
    pub fn create_schedule(&self, schedule: &KeySchedule) -> Result<(), KeySetError> {
        let path = self.blob_path();
        if fs::symlink_metadata(&path).is_ok() {
            return Err(KeySetError::AlreadyExists(path));
        }
        let key = self.wrapping_key()?;
        let blob = schedule.seal(&key)?;
        write_atomic_0600(&self.dir, KEYSET_FILE, &blob)
    }

    /// Reads the blob, whichever format version it has (no creation).
    pub fn load_sealed(&self) -> Result<SealedKeys, KeySetError> {
        let key = self.wrapping_key()?;
        let blob = self.read_blob()?;
        SealedKeys::unseal(&blob, &key)
    }

    fn read_blob(&self) -> Result<Vec<u8>, KeySetError> {
        let path = self.blob_path();
        match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.is_development() => {
                Err(KeySetError::NotProvisioned(path))
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Reads the current v1 key set blob (no creation).
    pub fn load(&self) -> Result<KeySet, KeySetError> {
        let key = self.wrapping_key()?;
        let path = self.blob_path();
        let blob = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.is_development() => {
                return Err(KeySetError::NotProvisioned(path));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        KeySet::unseal(&blob, &key)
    }

    /// Rotates the stored key set if it is due, under the lock file; returns
    /// the key set now on disk (rotated or not).
    pub fn rotate_if_due(&self, now_ms: u64, interval_ms: u64) -> Result<KeySet, KeySetError> {
        let root = self.wrapping_key()?;
        let Some(_lock) = self.lock()? else {
            return self.load();
        };
        let set = self.load()?;
        if !set.rotation_due(now_ms, interval_ms) {
            return Ok(set);
        }
        let next = set.rotated(now_ms);
        self.store(&next, &root)?;
        Ok(next)
    }

    /// Rotates unconditionally (operator command).
    pub fn rotate_now(&self, now_ms: u64) -> Result<KeySet, KeySetError> {
        self.rotate_if_due(now_ms, 0)
    }

    fn store(&self, set: &KeySet, root: &[u8; 32]) -> Result<(), KeySetError> {
        let blob = set.seal(root)?;
        write_atomic_0600(&self.dir, KEYSET_FILE, &blob)
    }

    /// Takes the lock file (create-new). A lock older than 30 s is stale and
    /// broken. `None` when another process holds it.
    fn lock(&self) -> Result<Option<LockGuard>, KeySetError> {
        let path = self.dir.join(LOCK_FILE);
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(Some(LockGuard(path))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age.as_secs() > 30);
                    if !stale {
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(None)
    }
}

struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Writes `DIR/name` atomically with mode 0600: a temporary file (created
/// new, written, fsynced) renamed over the target, then the directory
/// fsynced.
pub fn write_atomic_0600(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), KeySetError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    write_new_0600(&tmp, bytes)?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_new_0600(path: &Path, bytes: &[u8]) -> Result<(), KeySetError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_unseal_and_tamper() {
        let set = KeySet::generate(1, 1000).rotated(2000);
        let k = [7u8; 32];
        let blob = set.seal(&k).unwrap();
        let back = KeySet::unseal(&blob, &k).unwrap();
        assert_eq!(back.current.key.key_config(), set.current.key.key_config());
        assert_eq!(
            back.previous.as_ref().unwrap().key.key_config(),
            set.previous.as_ref().unwrap().key.key_config()
        );
        assert_eq!(back.current.key.key_id(), 2);
        assert!(KeySet::unseal(&blob, &[8u8; 32]).is_err());
        let mut bad = blob.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(KeySet::unseal(&bad, &k).is_err());
        assert!(KeySet::unseal(&blob[..10], &k).is_err());
    }

    #[test]
    fn data_key_store_never_creates_and_rotates_under_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = Zeroizing::new([9u8; 32]);
        let store = KeyStore::with_data_key(dir.path(), key.clone()).unwrap();
        assert!(!store.is_development());
        assert!(matches!(
            store.load_or_create(1).unwrap_err(),
            KeySetError::NotProvisioned(_)
        ));
        let set = KeySet::generate(1, 10);
        store.create(&set).unwrap();
        assert!(matches!(
            store.create(&set).unwrap_err(),
            KeySetError::AlreadyExists(_)
        ));
        assert!(!dir.path().join(ROOT_KEY_FILE).exists());
        let blob_mode = fs::metadata(store.blob_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(blob_mode & 0o777, 0o600);
        let rotated = store.rotate_if_due(100, 50).unwrap();
        assert_eq!(rotated.current.key.key_id(), 2);
        let blob = fs::read(store.blob_path()).unwrap();
        let reopened = KeySet::unseal(&blob, &key).unwrap();
        assert_eq!(
            reopened.current.key.key_config(),
            rotated.current.key.key_config()
        );
        // Another data key does not open it.
        let other = KeyStore::with_data_key(dir.path(), Zeroizing::new([8u8; 32])).unwrap();
        assert!(matches!(other.load().unwrap_err(), KeySetError::Unseal));
    }

    #[test]
    fn grace_window() {
        let set = KeySet::generate(1, 0).rotated(1000);
        assert_eq!(set.live_keys(1000, 500).len(), 2);
        assert_eq!(set.live_keys(1499, 500).len(), 2);
        assert_eq!(set.live_keys(1500, 500).len(), 1);
        assert!(set.rotation_due(2000, 1000));
        assert!(!set.rotation_due(1999, 1000));
    }

    #[test]
    fn store_shares_one_key_set_and_refuses_loose_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = DevKeyStore::new(dir.path()).unwrap();
        let b = DevKeyStore::new(dir.path()).unwrap();
        let s1 = a.load_or_create(10).unwrap();
        let s2 = b.load_or_create(20).unwrap();
        assert_eq!(s1.current.key.key_config(), s2.current.key.key_config());
        let r = a.rotate_if_due(100, 50).unwrap();
        assert_eq!(r.current.key.key_id(), 2);
        assert_eq!(
            b.load().unwrap().current.key.key_config(),
            r.current.key.key_config()
        );
        let root = dir.path().join(ROOT_KEY_FILE);
        fs::set_permissions(&root, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            a.root_key().unwrap_err(),
            KeySetError::RootKeyPermissions(_)
        ));
    }
}
