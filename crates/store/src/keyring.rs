//! Platform keyrings of the Key Management Service (SPEC §3): a keyring per
//! tenant and purpose (`encrypt-email`…) with numbered key versions.
//!
//! The store holds **wrapped** key material only (opaque bytes produced by
//! the root of trust); it never sees an unwrapped key. `root_id` records
//! which root of trust wrapped a key so that a mismatch is detected instead
//! of producing garbage.

use crate::error::StoreError;
use crate::ids::{OpaqueId, TenantId};
use std::fmt;
use time::OffsetDateTime;

/// Shortest automatic rotation period (one hour, SPEC §3).
pub const MIN_AUTO_ROTATE_PERIOD_S: u64 = 3600;
/// Longest automatic rotation period accepted (ten years).
pub const MAX_AUTO_ROTATE_PERIOD_S: u64 = 10 * 366 * 24 * 3600;
/// Largest wrapped key blob accepted (AWS KMS ciphertext blobs are < 1 KiB).
pub const MAX_WRAPPED_LEN: usize = 4096;
/// Longest root-of-trust identifier.
pub const MAX_ROOT_ID_LEN: usize = 256;

/// True when `name` is a valid keyring name: `[a-z0-9][a-z0-9-]{0,63}`.
pub fn is_valid_keyring_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A validated keyring name (`[a-z0-9][a-z0-9-]{0,63}`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyringName(String);

impl KeyringName {
    /// Parses a keyring name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        if is_valid_keyring_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(StoreError::InvalidInput("keyring name"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyringName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyringName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyringName({})", self.0)
    }
}

impl KeyringName {
    /// The audit resource id of the keyring (its name, which is a valid
    /// opaque id by construction).
    pub fn resource_id(&self) -> Option<OpaqueId> {
        OpaqueId::parse(&self.0).ok()
    }
}

/// The audit resource id of a key version: `<keyring>:v<version>`.
pub fn version_resource_id(name: &KeyringName, version: u32) -> Option<OpaqueId> {
    OpaqueId::parse(&format!("{}:v{version}", name.as_str())).ok()
}

/// Wrapped key material (opaque to the store). `Debug` prints the size only.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(pub Vec<u8>);

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

/// A keyring as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name (purpose).
    pub name: KeyringName,
    /// Versions below this no longer decrypt.
    pub min_decryption_version: u32,
    /// Automatic rotation period in seconds (≥ 3600), if any.
    pub auto_rotate_period_s: Option<u64>,
    /// Whether the keyring may be deleted.
    pub deletion_allowed: bool,
    /// Root of trust that wrapped the blind-index key.
    pub root_id: String,
    /// The wrapped per-keyring blind-index secret.
    pub index_key: WrappedKey,
    /// The newest version (primary for encryption).
    pub primary_version: u32,
    /// When the primary version was created.
    pub primary_created_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change of settings or versions.
    pub updated_at: OffsetDateTime,
}

/// One key version as stored (wrapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVersion {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Keyring.
    pub keyring: KeyringName,
    /// Version number (1, 2, …).
    pub version: u32,
    /// Root of trust that wrapped it.
    pub root_id: String,
    /// The wrapped key.
    pub wrapped: WrappedKey,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Settings of a keyring (default: manual rotation, deletion refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyringSettings {
    /// Automatic rotation period in seconds (≥ 3600), `None` for manual only.
    pub auto_rotate_period_s: Option<u64>,
    /// Whether deletion is allowed (default false).
    pub deletion_allowed: bool,
}

fn validate_period(p: Option<u64>) -> Result<(), StoreError> {
    match p {
        Some(p) if !(MIN_AUTO_ROTATE_PERIOD_S..=MAX_AUTO_ROTATE_PERIOD_S).contains(&p) => Err(
            StoreError::InvalidInput("auto_rotate_period (1 hour to 10 years)"),
        ),
        _ => Ok(()),
    }
}

fn validate_wrapped(root_id: &str, wrapped: &[u8]) -> Result<(), StoreError> {
    if root_id.is_empty() || root_id.len() > MAX_ROOT_ID_LEN {
        return Err(StoreError::InvalidInput("root id"));
    }
    if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
        return Err(StoreError::InvalidInput("wrapped key"));
    }
    Ok(())
}

/// A keyring to create, with its blind-index secret and version 1.
#[derive(Clone, Debug)]
pub struct NewKeyring {
    /// Owning tenant (must exist).
    pub tenant_id: TenantId,
    /// Name.
    pub name: KeyringName,
    /// Settings.
    pub settings: KeyringSettings,
    /// Root of trust of both wrapped keys.
    pub root_id: String,
    /// Wrapped blind-index secret.
    pub index_key: WrappedKey,
    /// Wrapped key of version 1.
    pub first_key: WrappedKey,
}

impl NewKeyring {
    /// Validates the settings and sizes.
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_period(self.settings.auto_rotate_period_s)?;
        validate_wrapped(&self.root_id, &self.index_key.0)?;
        validate_wrapped(&self.root_id, &self.first_key.0)
    }
}

/// A new key version; it applies only if `version` is exactly the current
/// primary + 1 (otherwise [`crate::Outcome::Conflict`]: someone else
/// rotated first).
#[derive(Clone, Debug)]
pub struct NewKeyVersion {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Keyring.
    pub keyring: KeyringName,
    /// The new version number.
    pub version: u32,
    /// Root of trust that wrapped it.
    pub root_id: String,
    /// The wrapped key.
    pub wrapped: WrappedKey,
}

impl NewKeyVersion {
    /// Validates the sizes and the version number.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.version < 2 {
            return Err(StoreError::InvalidInput("key version"));
        }
        validate_wrapped(&self.root_id, &self.wrapped.0)
    }
}

/// A change of keyring settings; `None` fields are left as they are.
#[derive(Clone, Debug)]
pub struct KeyringUpdate {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Keyring.
    pub name: KeyringName,
    /// New minimum decryption version (1 ..= primary version, else
    /// [`crate::Outcome::Conflict`]).
    pub min_decryption_version: Option<u32>,
    /// New rotation period (`Some(None)` turns automatic rotation off).
    pub auto_rotate_period_s: Option<Option<u64>>,
    /// New deletion permission.
    pub deletion_allowed: Option<bool>,
}

impl KeyringUpdate {
    /// An empty update of one keyring.
    pub fn of(tenant_id: TenantId, name: KeyringName) -> Self {
        Self {
            tenant_id,
            name,
            min_decryption_version: None,
            auto_rotate_period_s: None,
            deletion_allowed: None,
        }
    }

    /// Validates the values.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.min_decryption_version == Some(0) {
            return Err(StoreError::InvalidInput("min_decryption_version"));
        }
        validate_period(self.auto_rotate_period_s.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "encrypt-email", "0-x", &"a".repeat(64)] {
            assert!(is_valid_keyring_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "A",
            "a_b",
            "a b",
            "é",
            &"a".repeat(65),
            "a.b",
            "a:b",
        ] {
            assert!(!is_valid_keyring_name(bad), "{bad}");
        }
        let n = KeyringName::parse("encrypt-email").unwrap();
        assert_eq!(n.resource_id().unwrap().as_str(), "encrypt-email");
        assert_eq!(
            version_resource_id(&n, 7).unwrap().as_str(),
            "encrypt-email:v7"
        );
    }

    #[test]
    fn periods() {
        assert!(validate_period(Some(3599)).is_err());
        assert!(validate_period(Some(3600)).is_ok());
        assert!(validate_period(None).is_ok());
        assert!(validate_period(Some(u64::MAX)).is_err());
    }
}
