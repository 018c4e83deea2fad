//! The production key schedule: every enclave that unwrapped the same
//! provisioned seed computes the same HPKE key for each rotation epoch, with
//! no shared disk and no coordination.
//!
//! A [`KeySchedule`] is a 32-byte random seed, the deployment name, the
//! rotation interval and the grace period, all chosen at provisioning and
//! sealed together (format v2 of the sealed blob, [`KeySchedule::seal`]).
//!
//! * Epoch `e = floor(now_unix_secs / interval)`.
//! * The key of epoch `e` is the X25519 private key
//!   `HKDF-SHA256(salt = SCHEDULE_SALT, ikm = seed, info = KEY_INFO ‖ 0x00 ‖
//!   len(deployment) ‖ deployment ‖ e as u64 big-endian)`, 32 bytes,
//!   clamped as RFC 9180 `DeserializePrivateKey` requires; its key id is
//!   `e mod 256`.
//! * At time `t` the enclave serves epoch `e`'s key config and opens
//!   requests sealed to `e`, to `e − 1` while `t` is within the grace period
//!   after the boundary of `e`, and to `e + 1` within [`SKEW_WINDOW_SECS`]
//!   before the next boundary (clock skew between hosts).
//!
//! Keys are looked up by their full epoch, never by the one-byte key id, so
//! the key id wrapping after 256 epochs cannot make an old key acceptable:
//! only the (at most three) live epochs are ever derived and tried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use serde::{Deserialize, Serialize};
use zenalyze_ehbp::{KeyConfig, ServerKey};
use zeroize::{Zeroize, Zeroizing};

use crate::keyset::{KeySetError, BLOB_MAGIC_PREFIX};

/// Format version byte of a sealed key schedule.
pub const SCHEDULE_VERSION: u8 = 2;
/// Magic prefix of a sealed key schedule blob (format version 2).
pub const SCHEDULE_MAGIC: &[u8; 8] = b"ZKSET\x00\x00\x02";
/// AAD of the key schedule seal.
pub const SCHEDULE_AAD: &[u8] = b"zenalyze/enclave/hpke-key-schedule/v2";
/// HKDF salt of the epoch key derivation.
pub const SCHEDULE_SALT: &[u8] = b"zenalyze/enclave/hpke-key-schedule/v2/salt";
/// HKDF info prefix naming the purpose of the derived key.
pub const KEY_INFO: &[u8] = b"zenalyze/enclave/hpke-epoch-key/v1";
/// Clock skew tolerated between hosts: within this many seconds before the
/// next epoch boundary, the next epoch's key also opens requests (a host
/// whose clock is ahead may already serve it).
pub const SKEW_WINDOW_SECS: u64 = 30;
/// Shortest accepted rotation interval (5 minutes).
pub const MIN_INTERVAL_SECS: u64 = 300;
/// Longest accepted rotation interval (366 days).
pub const MAX_INTERVAL_SECS: u64 = 366 * 24 * 3600;
/// Default rotation interval (24 hours, as in development).
pub const DEFAULT_INTERVAL_SECS: u64 = 24 * 3600;
/// Default grace period of the previous epoch's key (1 hour, as in development).
pub const DEFAULT_GRACE_SECS: u64 = 3600;

/// The rotation parameters chosen at provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleParams {
    /// Rotation interval, seconds ([`MIN_INTERVAL_SECS`]..=[`MAX_INTERVAL_SECS`]).
    pub interval_secs: u64,
    /// Grace period of the previous epoch's key, seconds
    /// ([`SKEW_WINDOW_SECS`]..=`interval_secs / 2`).
    pub grace_secs: u64,
}

impl Default for ScheduleParams {
    fn default() -> Self {
        Self {
            interval_secs: DEFAULT_INTERVAL_SECS,
            grace_secs: DEFAULT_GRACE_SECS,
        }
    }
}

impl ScheduleParams {
    /// Checks the ranges: the interval within
    /// [`MIN_INTERVAL_SECS`]..=[`MAX_INTERVAL_SECS`], the grace at least
    /// [`SKEW_WINDOW_SECS`] (a request sealed to a lagging host's key must
    /// still open at a host already past the boundary) and at most half the
    /// interval (so at most one previous epoch is ever live).
    pub fn validate(&self) -> Result<(), KeySetError> {
        if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&self.interval_secs) {
            return Err(KeySetError::Schedule(format!(
                "rotation interval {} s is outside {MIN_INTERVAL_SECS}..={MAX_INTERVAL_SECS} s",
                self.interval_secs
            )));
        }
        let max_grace = self.interval_secs / 2;
        if !(SKEW_WINDOW_SECS..=max_grace).contains(&self.grace_secs) {
            return Err(KeySetError::Schedule(format!(
                "grace period {} s is outside {SKEW_WINDOW_SECS}..={max_grace} s (half the interval)",
                self.grace_secs
            )));
        }
        Ok(())
    }
}

/// Whether `name` is a valid deployment name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn valid_deployment(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The epochs whose keys are live at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveEpochs {
    /// The current epoch: its key is served and committed to.
    pub current: u64,
    /// The previous epoch, while within the grace period after the boundary.
    pub previous: Option<u64>,
    /// The next epoch, within the skew window before the next boundary.
    pub next: Option<u64>,
}

impl LiveEpochs {
    /// The epochs whose keys open requests: current, previous, next.
    pub fn accepted(&self) -> impl Iterator<Item = u64> {
        [Some(self.current), self.previous, self.next]
            .into_iter()
            .flatten()
    }

    /// Whether `epoch` opens requests.
    pub fn accepts(&self, epoch: u64) -> bool {
        self.accepted().any(|e| e == epoch)
    }
}

/// The epoch of `now_ms` for an interval of `interval_secs` (0 is treated as 1).
pub fn epoch_at(now_ms: u64, interval_secs: u64) -> u64 {
    (now_ms / 1000) / interval_secs.max(1)
}

/// Which epochs are live at `now_ms`: the current epoch; the previous one
/// while `now < boundary(current) + grace`; the next one while
/// `now ≥ boundary(current + 1) − skew`. Pure.
pub fn live_epochs(now_ms: u64, interval_secs: u64, grace_secs: u64, skew_secs: u64) -> LiveEpochs {
    let interval_ms = interval_secs.max(1).saturating_mul(1000);
    let current = epoch_at(now_ms, interval_secs);
    let start_ms = current.saturating_mul(interval_ms);
    let next_start_ms = start_ms.saturating_add(interval_ms);
    let previous = (current > 0
        && now_ms < start_ms.saturating_add(grace_secs.saturating_mul(1000)))
    .then(|| current - 1);
    let next = (now_ms.saturating_add(skew_secs.saturating_mul(1000)) >= next_start_ms
        && current < u64::MAX)
        .then(|| current + 1);
    LiveEpochs {
        current,
        previous,
        next,
    }
}

/// The key id of `epoch`: its low byte.
pub fn key_id_of(epoch: u64) -> u8 {
    (epoch % 256) as u8
}

struct Len32;

impl KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// Derives epoch `epoch`'s key from `seed` for `deployment` (pure; see the
/// module documentation for the HKDF inputs). The intermediate bytes are
/// zeroized; the private key zeroizes itself on drop.
pub fn derive_epoch_key(
    seed: &[u8; 32],
    deployment: &str,
    epoch: u64,
) -> Result<ServerKey, KeySetError> {
    let dep_len = u8::try_from(deployment.len())
        .map_err(|_| KeySetError::Schedule("deployment name longer than 255 bytes".to_owned()))?;
    let epoch_be = epoch.to_be_bytes();
    let dep_len_b = [dep_len];
    let info: [&[u8]; 5] = [
        KEY_INFO,
        &[0u8],
        &dep_len_b,
        deployment.as_bytes(),
        &epoch_be,
    ];
    let prk = Salt::new(HKDF_SHA256, SCHEDULE_SALT).extract(seed);
    let okm = prk
        .expand(&info, Len32)
        .map_err(|_| KeySetError::Schedule("HKDF expand failed".to_owned()))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    okm.fill(secret.as_mut())
        .map_err(|_| KeySetError::Schedule("HKDF fill failed".to_owned()))?;
    ServerKey::from_secret_bytes(key_id_of(epoch), secret.as_ref())
        .map_err(|_| KeySetError::Schedule("derived key rejected".to_owned()))
}

/// A provisioned key schedule: seed, deployment, interval, grace.
pub struct KeySchedule {
    seed: Zeroizing<[u8; 32]>,
    deployment: String,
    params: ScheduleParams,
    created_ms: u64,
}

impl std::fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySchedule")
            .field("deployment", &self.deployment)
            .field("params", &self.params)
            .field("created_ms", &self.created_ms)
            .field("seed", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleRepr {
    version: u8,
    deployment: String,
    seed_hex: String,
    interval_secs: u64,
    grace_secs: u64,
    created_ms: u64,
}

impl Drop for ScheduleRepr {
    fn drop(&mut self) {
        self.seed_hex.zeroize();
    }
}

impl KeySchedule {
    /// A schedule from its parts (validated).
    pub fn new(
        seed: Zeroizing<[u8; 32]>,
        deployment: &str,
        params: ScheduleParams,
        created_ms: u64,
    ) -> Result<Self, KeySetError> {
        params.validate()?;
        if !valid_deployment(deployment) {
            return Err(KeySetError::Schedule(format!(
                "deployment name {deployment:?} must match [a-z0-9][a-z0-9._-]{{0,63}}"
            )));
        }
        Ok(Self {
            seed,
            deployment: deployment.to_owned(),
            params,
            created_ms,
        })
    }

    /// A fresh schedule with a random seed (provisioning).
    pub fn generate(
        deployment: &str,
        params: ScheduleParams,
        created_ms: u64,
    ) -> Result<Self, KeySetError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| KeySetError::Seal)?;
        Self::new(seed, deployment, params, created_ms)
    }

    /// The deployment the keys are derived for.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The rotation parameters.
    pub fn params(&self) -> ScheduleParams {
        self.params
    }

    /// The live epochs at `now_ms` (with [`SKEW_WINDOW_SECS`]).
    pub fn live_epochs(&self, now_ms: u64) -> LiveEpochs {
        live_epochs(
            now_ms,
            self.params.interval_secs,
            self.params.grace_secs,
            SKEW_WINDOW_SECS,
        )
    }

    /// The key of `epoch`.
    pub fn key_for_epoch(&self, epoch: u64) -> Result<ServerKey, KeySetError> {
        derive_epoch_key(&self.seed, &self.deployment, epoch)
    }

    /// The key config served at `now_ms` (the current epoch's).
    pub fn key_config_at(&self, now_ms: u64) -> Result<KeyConfig, KeySetError> {
        Ok(self
            .key_for_epoch(self.live_epochs(now_ms).current)?
            .key_config())
    }

    fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, KeySetError> {
        let repr = ScheduleRepr {
            version: SCHEDULE_VERSION,
            deployment: self.deployment.clone(),
            seed_hex: hex::encode(*self.seed),
            interval_secs: self.params.interval_secs,
            grace_secs: self.params.grace_secs,
            created_ms: self.created_ms,
        };
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        serde_json::to_writer(&mut *out, &repr).map_err(|_| KeySetError::Seal)?;
        Ok(out)
    }

    fn from_json(bytes: &[u8]) -> Result<Self, KeySetError> {
        let repr: ScheduleRepr =
            serde_json::from_slice(bytes).map_err(|_| KeySetError::Malformed)?;
        if repr.version != SCHEDULE_VERSION {
            return Err(KeySetError::UnsupportedVersion(repr.version));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&repr.seed_hex, seed.as_mut()).map_err(|_| KeySetError::Malformed)?;
        Self::new(
            seed,
            &repr.deployment,
            ScheduleParams {
                interval_secs: repr.interval_secs,
                grace_secs: repr.grace_secs,
            },
            repr.created_ms,
        )
        .map_err(|_| KeySetError::Malformed)
    }

    /// Seals the schedule under a 32-byte wrapping key:
    /// `SCHEDULE_MAGIC ‖ nonce(12) ‖ AES-256-GCM(json, aad = SCHEDULE_AAD)`.
    pub fn seal(&self, wrapping_key: &[u8; 32]) -> Result<Vec<u8>, KeySetError> {
        crate::keyset::seal_blob(SCHEDULE_MAGIC, SCHEDULE_AAD, self.to_json()?, wrapping_key)
    }

    /// Opens a blob written by [`KeySchedule::seal`]. A blob of another
    /// format version is refused with [`KeySetError::UnsupportedVersion`].
    pub fn unseal(blob: &[u8], wrapping_key: &[u8; 32]) -> Result<Self, KeySetError> {
        match blob_version(blob) {
            Some(SCHEDULE_VERSION) => {}
            Some(v) => return Err(KeySetError::UnsupportedVersion(v)),
            None => return Err(KeySetError::Unseal),
        }
        Self::from_json(&crate::keyset::open_blob(
            blob,
            SCHEDULE_MAGIC,
            SCHEDULE_AAD,
            wrapping_key,
        )?)
    }
}

/// The format version byte of a sealed blob (`ZKSET\0\0` then the
/// version), or `None` when it is not a sealed key blob at all.
pub fn blob_version(blob: &[u8]) -> Option<u8> {
    let rest = blob.strip_prefix(BLOB_MAGIC_PREFIX)?;
    rest.first().copied()
}

/// One derived key and its full epoch.
#[derive(Debug)]
pub struct EpochKey {
    /// The epoch.
    pub epoch: u64,
    /// Its key (key id `epoch mod 256`).
    pub key: ServerKey,
}

struct Cache {
    live: LiveEpochs,
    /// The key of `live.current`.
    current: EpochKey,
    /// The keys of `live.previous` and `live.next` when present.
    others: Vec<EpochKey>,
}

impl Cache {
    fn all(&self) -> impl Iterator<Item = &EpochKey> {
        std::iter::once(&self.current).chain(self.others.iter())
    }
}

/// A schedule with the live epochs' keys derived and cached (the enclave's
/// production key source). Keys of epochs no longer live are dropped (and
/// so zeroized) at the next refresh.
pub struct ScheduledKeys {
    schedule: KeySchedule,
    cache: RwLock<Cache>,
    observed_epoch: AtomicU64,
}

impl std::fmt::Debug for ScheduledKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduledKeys")
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

fn derive_live(
    schedule: &KeySchedule,
    live: LiveEpochs,
    old: Option<&Cache>,
) -> Result<Cache, KeySetError> {
    let get = |epoch: u64| -> Result<EpochKey, KeySetError> {
        let reused = old.and_then(|c| c.all().find(|k| k.epoch == epoch));
        let key = match reused {
            Some(k) => k.key.clone(),
            None => schedule.key_for_epoch(epoch)?,
        };
        Ok(EpochKey { epoch, key })
    };
    let current = get(live.current)?;
    let mut others = Vec::with_capacity(2);
    for epoch in [live.previous, live.next].into_iter().flatten() {
        others.push(get(epoch)?);
    }
    Ok(Cache {
        live,
        current,
        others,
    })
}

impl ScheduledKeys {
    /// Derives the keys live at `now_ms`.
    pub fn new(schedule: KeySchedule, now_ms: u64) -> Result<Self, KeySetError> {
        let live = schedule.live_epochs(now_ms);
        let cache = derive_live(&schedule, live, None)?;
        Ok(Self {
            schedule,
            cache: RwLock::new(cache),
            observed_epoch: AtomicU64::new(live.current),
        })
    }

    /// The schedule.
    pub fn schedule(&self) -> &KeySchedule {
        &self.schedule
    }

    /// Brings the cache to `now_ms`. On a derivation failure the cache is
    /// left as it was (requests are still only opened with keys of epochs
    /// live at `now_ms`, see [`ScheduledKeys::with_live_keys`]).
    pub fn refresh(&self, now_ms: u64) -> Result<(), KeySetError> {
        let live = self.schedule.live_epochs(now_ms);
        {
            let c = match self.cache.read() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            if c.live == live {
                return Ok(());
            }
        }
        let mut c = match self.cache.write() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if c.live == live {
            return Ok(());
        }
        let next = derive_live(&self.schedule, live, Some(&c))?;
        // The replaced keys drop here and zeroize themselves.
        *c = next;
        Ok(())
    }

    fn refresh_logged(&self, now_ms: u64) {
        if let Err(e) = self.refresh(now_ms) {
            tracing::error!(error = %e, "HPKE epoch key derivation failed");
        }
    }

    /// The key config served at `now_ms`: the current epoch's (should its
    /// derivation ever fail, the last derived current key's, logged).
    pub fn current_config(&self, now_ms: u64) -> KeyConfig {
        self.refresh_logged(now_ms);
        let c = match self.cache.read() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        c.current.key.key_config()
    }

    /// Calls `f` with the keys that open requests at `now_ms`: those of the
    /// epochs live at `now_ms` (compared by full epoch), current first.
    pub fn with_live_keys<R>(&self, now_ms: u64, f: impl FnOnce(Vec<&ServerKey>) -> R) -> R {
        self.refresh_logged(now_ms);
        let live = self.schedule.live_epochs(now_ms);
        let c = match self.cache.read() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let keys = c
            .all()
            .filter(|k| live.accepts(k.epoch))
            .map(|k| &k.key)
            .collect();
        f(keys)
    }

    /// Records the current epoch at `now_ms`; returns `Some((from, to))`
    /// when it changed since the last call.
    pub fn observe(&self, now_ms: u64) -> Option<(u64, u64)> {
        self.refresh_logged(now_ms);
        let current = self.schedule.live_epochs(now_ms).current;
        let before = self.observed_epoch.swap(current, Ordering::SeqCst);
        (before != current).then_some((before, current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;
    const DAY: u64 = 24 * H;

    fn schedule(seed: u8, deployment: &str) -> KeySchedule {
        KeySchedule::new(
            Zeroizing::new([seed; 32]),
            deployment,
            ScheduleParams::default(),
            0,
        )
        .unwrap()
    }

    fn ms(secs: u64) -> u64 {
        secs * 1000
    }

    #[test]
    fn epochs_boundaries_grace_and_skew() {
        // Middle of epoch 10: only 10.
        let l = live_epochs(ms(10 * DAY + 12 * H), DAY, H, 30);
        assert_eq!(
            l,
            LiveEpochs {
                current: 10,
                previous: None,
                next: None
            }
        );
        // Exactly at the boundary of 10: 10, and 9 in grace.
        let l = live_epochs(ms(10 * DAY), DAY, H, 30);
        assert_eq!((l.current, l.previous, l.next), (10, Some(9), None));
        // Last millisecond of grace, then grace over.
        let l = live_epochs(ms(10 * DAY + H) - 1, DAY, H, 30);
        assert_eq!(l.previous, Some(9));
        let l = live_epochs(ms(10 * DAY + H), DAY, H, 30);
        assert_eq!(l.previous, None);
        // One millisecond before the boundary: still 9, with 10 (skew) and
        // no grace for 8.
        let l = live_epochs(ms(10 * DAY) - 1, DAY, H, 30);
        assert_eq!((l.current, l.previous, l.next), (9, None, Some(10)));
        // Skew window opens exactly 30 s before the boundary.
        let l = live_epochs(ms(10 * DAY - 30), DAY, H, 30);
        assert_eq!(l.next, Some(10));
        let l = live_epochs(ms(10 * DAY - 30) - 1, DAY, H, 30);
        assert_eq!(l.next, None);
        // Epoch 0 has no previous.
        let l = live_epochs(0, DAY, H, 30);
        assert_eq!((l.current, l.previous), (0, None));
        assert!(l.accepts(0) && !l.accepts(1));
        // The far end does not overflow.
        let l = live_epochs(u64::MAX, MIN_INTERVAL_SECS, 60, 30);
        assert_eq!(l.current, u64::MAX / 1000 / MIN_INTERVAL_SECS);
    }

    #[test]
    fn params_are_validated() {
        ScheduleParams::default().validate().unwrap();
        for (i, g) in [
            (MIN_INTERVAL_SECS - 1, 60),
            (MAX_INTERVAL_SECS + 1, 60),
            (DAY, SKEW_WINDOW_SECS - 1),
            (DAY, DAY / 2 + 1),
            (0, 0),
        ] {
            let p = ScheduleParams {
                interval_secs: i,
                grace_secs: g,
            };
            assert!(p.validate().is_err(), "{p:?}");
        }
        assert!(KeySchedule::new(
            Zeroizing::new([1; 32]),
            "Bad Name",
            ScheduleParams::default(),
            0
        )
        .is_err());
    }

    #[test]
    fn derivation_is_deterministic_and_separated() {
        let a = schedule(1, "prod");
        let b = schedule(1, "prod");
        for e in [0u64, 1, 255, 256, 20_000] {
            let ka = a.key_for_epoch(e).unwrap();
            let kb = b.key_for_epoch(e).unwrap();
            assert_eq!(ka.key_config(), kb.key_config());
            assert_eq!(*ka.secret_bytes(), *kb.secret_bytes());
            assert_eq!(ka.key_id(), (e % 256) as u8);
        }
        let e = 20_000;
        let base = a.key_for_epoch(e).unwrap().key_config();
        assert_ne!(a.key_for_epoch(e + 1).unwrap().key_config(), base);
        assert_ne!(
            schedule(1, "staging")
                .key_for_epoch(e)
                .unwrap()
                .key_config(),
            base
        );
        assert_ne!(
            schedule(2, "prod").key_for_epoch(e).unwrap().key_config(),
            base
        );
        // Key id wraps after 256 epochs; the key does not.
        let k0 = a.key_for_epoch(5).unwrap();
        let k256 = a.key_for_epoch(5 + 256).unwrap();
        assert_eq!(k0.key_id(), k256.key_id());
        assert_ne!(k0.key_config(), k256.key_config());
    }

    #[test]
    fn key_id_wrap_does_not_revive_an_old_key() {
        let keys = ScheduledKeys::new(schedule(3, "prod"), ms(5 * DAY + 12 * H)).unwrap();
        let old = keys.schedule().key_for_epoch(5).unwrap();
        let later = ms((5 + 256) * DAY);
        // At the boundary of epoch 261 (key id 5 again), 260 is in grace.
        keys.with_live_keys(later, |live| {
            assert_eq!(live.len(), 2);
            assert!(live.iter().all(|k| k.key_config() != old.key_config()));
            assert_eq!(live[0].key_id(), old.key_id());
        });
        assert_ne!(keys.current_config(later), old.key_config());
        assert_eq!(keys.current_config(later).key_id(), 5);
    }

    #[test]
    fn two_unsealed_instances_agree() {
        let wrap = [9u8; 32];
        let s = KeySchedule::generate("prod-eu", ScheduleParams::default(), 1).unwrap();
        let blob = s.seal(&wrap).unwrap();
        assert!(blob.starts_with(SCHEDULE_MAGIC));
        let a = ScheduledKeys::new(KeySchedule::unseal(&blob, &wrap).unwrap(), 0).unwrap();
        let b = ScheduledKeys::new(KeySchedule::unseal(&blob, &wrap).unwrap(), 0).unwrap();
        let t = ms(123 * DAY + 7);
        assert_eq!(a.current_config(t), b.current_config(t));
        assert_eq!(
            a.current_config(t).encode(),
            s.key_config_at(t).unwrap().encode()
        );
        assert_ne!(a.current_config(t), a.current_config(t + ms(DAY)));
        let other = KeySchedule::generate("prod-eu", ScheduleParams::default(), 1).unwrap();
        assert_ne!(other.key_config_at(t).unwrap(), s.key_config_at(t).unwrap());
        assert_eq!(a.schedule().params(), ScheduleParams::default());
        assert_eq!(a.schedule().deployment(), "prod-eu");
        // Epoch changes are observed once.
        assert_eq!(a.observe(ms(DAY / 2)), None);
        assert_eq!(a.observe(ms(DAY)), Some((0, 1)));
        assert_eq!(a.observe(ms(DAY + 1)), None);
    }

    #[test]
    fn sealed_format_is_versioned_and_authenticated() {
        let wrap = [4u8; 32];
        let s = KeySchedule::generate("prod", ScheduleParams::default(), 1).unwrap();
        let blob = s.seal(&wrap).unwrap();
        assert!(matches!(
            KeySchedule::unseal(&blob, &[5u8; 32]).unwrap_err(),
            KeySetError::Unseal
        ));
        let mut tampered = blob.clone();
        let n = tampered.len() - 1;
        tampered[n] ^= 1;
        assert!(KeySchedule::unseal(&tampered, &wrap).is_err());
        let mut v9 = blob.clone();
        v9[7] = 9;
        assert!(matches!(
            KeySchedule::unseal(&v9, &wrap).unwrap_err(),
            KeySetError::UnsupportedVersion(9)
        ));
        assert!(matches!(
            KeySchedule::unseal(b"garbage", &wrap).unwrap_err(),
            KeySetError::Unseal
        ));
        // The v1 key set reader refuses a v2 blob clearly.
        assert!(matches!(
            crate::keyset::KeySet::unseal(&blob, &wrap).unwrap_err(),
            KeySetError::UnsupportedVersion(2)
        ));
        // Debug never shows the seed.
        assert!(!format!("{s:?}").contains(&hex::encode([4u8; 4])));
        assert!(format!("{s:?}").contains("redacted"));
    }
}
