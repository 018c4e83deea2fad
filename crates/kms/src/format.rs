//! The pure core: platform ciphertext text format, associated data, blind
//! indexes, key wrapping under a local root key, and the rotation rule.
//!
//! No I/O, no clock, no randomness: IVs and times are parameters, so every
//! port and fuzzer can drive these functions and the test vectors in
//! `test-vectors/platform-v1.json` pin them byte for byte.
//!
//! ```text
//! zen:v<N>:<base64url-no-pad(IV ‖ ciphertext ‖ tag)>        AES-256-GCM, 12-byte IV, 16-byte tag
//! AAD = "zenalyze.kms.v1" ‖ u32be(len tenant) ‖ tenant ‖ u32be(len keyring) ‖ keyring
//!       ‖ u32be(N) ‖ (0x00 | 0x01 ‖ u32be(len context) ‖ context)
//! ```

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

/// Length of the AES-GCM IV.
pub const IV_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of every key (AES-256, HMAC-SHA256 secrets, the root key).
pub const KEY_LEN: usize = 32;
/// Largest plaintext of one platform ciphertext (metadata, not documents).
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024;
/// Largest caller context bound into the AAD.
pub const MAX_CONTEXT_LEN: usize = 1024;
/// Largest value of one blind-index computation.
pub const MAX_INDEX_VALUE_LEN: usize = 64 * 1024;
/// Domain-separation label at the start of the AAD.
pub const AAD_LABEL: &[u8] = b"zenalyze.kms.v1";
/// Domain-separation label of local key wrapping.
pub const WRAP_LABEL: &[u8] = b"zenalyze.kms.wrap.v1";
/// HKDF `info` label of the blind-index key.
pub const INDEX_LABEL: &[u8] = b"zenalyze.kms.blind-index.v1";
/// Version byte of a locally wrapped key.
pub const LOCAL_WRAP_VERSION: u8 = 0x01;
/// Length of a locally wrapped key: version ‖ IV ‖ key ‖ tag.
pub const LOCAL_WRAPPED_LEN: usize = 1 + IV_LEN + KEY_LEN + TAG_LEN;
/// Default blind-index length in bits.
pub const DEFAULT_INDEX_BITS: u16 = 128;
/// Longest accepted ciphertext text (base64 of the largest plaintext, with
/// prefix): anything longer is refused before decoding.
pub const MAX_CIPHERTEXT_TEXT_LEN: usize = 16 + (MAX_PLAINTEXT_LEN + IV_LEN + TAG_LEN) * 4 / 3 + 4;

/// Why a ciphertext or an input was refused. Messages are fixed text and
/// never contain key bytes or data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not `zen:v<N>:<body>` (prefix, version digits, separator).
    #[error("ciphertext is not of the form zen:v<N>:<base64url>")]
    Malformed,
    /// The body is not unpadded base64url.
    #[error("ciphertext body is not unpadded base64url")]
    BadBase64,
    /// The body is shorter than IV + tag.
    #[error("ciphertext is too short")]
    TooShort,
    /// The ciphertext or plaintext exceeds the size limit.
    #[error("input exceeds the size limit")]
    TooLarge,
    /// The context exceeds [`MAX_CONTEXT_LEN`].
    #[error("context exceeds 1024 bytes")]
    ContextTooLarge,
    /// Authentication failed: wrong tenant, keyring, context or key, or the
    /// ciphertext was altered.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The blind-index length is not a multiple of 8 in 32..=256.
    #[error("bits must be a multiple of 8 from 32 to 256")]
    BadIndexBits,
    /// A wrapped key is malformed or does not open under the root key.
    #[error("wrapped key does not open under this root key")]
    UnwrapFailed,
    /// The crypto library refused a key (never expected with 32 bytes).
    #[error("crypto backend error")]
    Crypto,
}

/// A 256-bit secret key (data key, index secret, root key). Zeroized on
/// drop; `Debug` is redacted.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    /// Wraps 32 bytes.
    pub fn new(bytes: [u8; KEY_LEN]) -> Self {
        let mut z = Zeroizing::new([0u8; KEY_LEN]);
        z.copy_from_slice(&bytes);
        let mut b = bytes;
        b.zeroize();
        SecretKey(z)
    }

    /// Copies a 32-byte slice; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut z = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return None;
        }
        z.copy_from_slice(bytes);
        Some(SecretKey(z))
    }

    /// The key bytes (for the crypto calls of this crate).
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

fn push_lp(out: &mut Vec<u8>, field: &[u8]) {
    // Every field is bounded far below 4 GiB by the callers' validation.
    out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(field);
}

/// The associated data of a platform ciphertext (see the module docs and
/// `docs/formats.md`): binds the tenant id, the keyring name, the key
/// version and the caller's optional context.
pub fn aad(tenant: &str, keyring: &str, version: u32, context: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        AAD_LABEL.len() + 17 + tenant.len() + keyring.len() + context.map_or(0, |c| c.len() + 4),
    );
    out.extend_from_slice(AAD_LABEL);
    push_lp(&mut out, tenant.as_bytes());
    push_lp(&mut out, keyring.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    match context {
        None => out.push(0x00),
        Some(c) => {
            out.push(0x01);
            push_lp(&mut out, c);
        }
    }
    out
}

fn aead_key(key: &SecretKey) -> Result<LessSafeKey, FormatError> {
    UnboundKey::new(&AES_256_GCM, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| FormatError::Crypto)
}

fn check_context(context: Option<&[u8]>) -> Result<(), FormatError> {
    match context {
        Some(c) if c.len() > MAX_CONTEXT_LEN => Err(FormatError::ContextTooLarge),
        _ => Ok(()),
    }
}

/// Where a ciphertext belongs: the AAD inputs other than the version.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// Tenant id (`ten_…`).
    pub tenant: &'a str,
    /// Keyring name.
    pub keyring: &'a str,
    /// Caller context, if any (≤ [`MAX_CONTEXT_LEN`] bytes).
    pub context: Option<&'a [u8]>,
}

/// Encrypts `plaintext` under `key` (version `version`) with the given IV
/// and returns the text form `zen:v<N>:…`. The IV must be unique per key:
/// the service draws it from the system CSPRNG.
pub fn seal(
    key: &SecretKey,
    version: u32,
    binding: Binding<'_>,
    iv: [u8; IV_LEN],
    plaintext: &[u8],
) -> Result<String, FormatError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(FormatError::TooLarge);
    }
    check_context(binding.context)?;
    let k = aead_key(key)?;
    let mut buf = Vec::with_capacity(IV_LEN + plaintext.len() + TAG_LEN);
    buf.extend_from_slice(&iv);
    buf.extend_from_slice(plaintext);
    let tag = {
        let (_, body) = buf.split_at_mut(IV_LEN);
        k.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad(
                binding.tenant,
                binding.keyring,
                version,
                binding.context,
            )),
            body,
        )
        .map_err(|_| FormatError::Crypto)?
    };
    buf.extend_from_slice(tag.as_ref());
    let mut out = format!("zen:v{version}:");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&buf, &mut out);
    Ok(out)
}

/// A parsed (not yet authenticated) platform ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext {
    /// The key version named by the text.
    pub version: u32,
    /// IV ‖ ciphertext ‖ tag.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ciphertext(v{}, {} bytes)",
            self.version,
            self.body.len()
        )
    }
}

/// Parses `zen:v<N>:<base64url>` strictly: `N` is 1..=4294967295 in
/// decimal without leading zeros; the body is unpadded base64url (canonical)
/// of at least IV + tag bytes.
pub fn parse(text: &str) -> Result<Ciphertext, FormatError> {
    if text.len() > MAX_CIPHERTEXT_TEXT_LEN {
        return Err(FormatError::TooLarge);
    }
    let rest = text.strip_prefix("zen:v").ok_or(FormatError::Malformed)?;
    let (digits, body) = rest.split_once(':').ok_or(FormatError::Malformed)?;
    if digits.is_empty()
        || digits.len() > 10
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(FormatError::Malformed);
    }
    let version: u32 = digits.parse().map_err(|_| FormatError::Malformed)?;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| FormatError::BadBase64)?;
    if body.len() < IV_LEN + TAG_LEN {
        return Err(FormatError::TooShort);
    }
    Ok(Ciphertext { version, body })
}

/// Authenticates and decrypts a parsed ciphertext with the key of its
/// version. The plaintext is returned in a zeroizing buffer.
pub fn open(
    key: &SecretKey,
    binding: Binding<'_>,
    ct: &Ciphertext,
) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    check_context(binding.context)?;
    if ct.body.len() < IV_LEN + TAG_LEN {
        return Err(FormatError::TooShort);
    }
    let k = aead_key(key)?;
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&ct.body[..IV_LEN]);
    let mut buf = Zeroizing::new(ct.body[IV_LEN..].to_vec());
    let n = k
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad(
                binding.tenant,
                binding.keyring,
                ct.version,
                binding.context,
            )),
            &mut buf,
        )
        .map_err(|_| FormatError::DecryptionFailed)?
        .len();
    buf.truncate(n);
    Ok(buf)
}

/// The HMAC key of a keyring's blind index: HKDF-SHA256 (empty salt) of the
/// keyring's index secret with `info = INDEX_LABEL ‖ u32be(len tenant) ‖
/// tenant ‖ u32be(len keyring) ‖ keyring`, so indexes differ across
/// tenants and keyrings even under equal secrets.
pub fn index_key(secret: &SecretKey, tenant: &str, keyring: &str) -> IndexKey {
    let mut info = Vec::with_capacity(INDEX_LABEL.len() + 8 + tenant.len() + keyring.len());
    info.extend_from_slice(INDEX_LABEL);
    push_lp(&mut info, tenant.as_bytes());
    push_lp(&mut info, keyring.as_bytes());
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(secret.expose());
    let info_parts = [info.as_slice()];
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    // Expanding 32 bytes from SHA-256 HKDF cannot fail.
    let ok = prk
        .expand(&info_parts, hkdf::HKDF_SHA256)
        .and_then(|o| o.fill(okm.as_mut_slice()))
        .is_ok();
    debug_assert!(ok);
    IndexKey(SecretKey(okm))
}

/// The derived HMAC-SHA256 key of one keyring's blind index.
#[derive(Clone, Debug)]
pub struct IndexKey(SecretKey);

impl IndexKey {
    /// The raw derived key (for test vectors).
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        self.0.expose()
    }
}

/// Validates a blind-index length: a multiple of 8 from 32 to 256.
pub fn check_index_bits(bits: u16) -> Result<(), FormatError> {
    if (32..=256).contains(&bits) && bits % 8 == 0 {
        Ok(())
    } else {
        Err(FormatError::BadIndexBits)
    }
}

/// The blind index of `value`: HMAC-SHA256 under the keyring's index key,
/// truncated to `bits` (leading bytes), in lowercase hex.
pub fn blind_index(key: &IndexKey, value: &[u8], bits: u16) -> Result<String, FormatError> {
    check_index_bits(bits)?;
    if value.len() > MAX_INDEX_VALUE_LEN {
        return Err(FormatError::TooLarge);
    }
    let k = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    let tag = hmac::sign(&k, value);
    Ok(hex::encode(&tag.as_ref()[..usize::from(bits / 8)]))
}

/// What a wrapped key is bound to: tenant, keyring and version (version 0
/// is the keyring's blind-index secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapContext {
    /// Tenant id.
    pub tenant: String,
    /// Keyring name.
    pub keyring: String,
    /// Key version; 0 for the blind-index secret.
    pub version: u32,
}

impl WrapContext {
    /// The AAD of a local wrap: `WRAP_LABEL ‖ u32be(len tenant) ‖ tenant ‖
    /// u32be(len keyring) ‖ keyring ‖ u32be(version)`.
    pub fn aad(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(WRAP_LABEL.len() + 12 + self.tenant.len() + self.keyring.len());
        out.extend_from_slice(WRAP_LABEL);
        push_lp(&mut out, self.tenant.as_bytes());
        push_lp(&mut out, self.keyring.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

/// Wraps `key` under the local root key: `0x01 ‖ IV ‖ AES-256-GCM(root,
/// key, AAD = ctx.aad()) ‖ tag` (61 bytes).
pub fn wrap_local(
    root: &SecretKey,
    ctx: &WrapContext,
    iv: [u8; IV_LEN],
    key: &SecretKey,
) -> Result<Vec<u8>, FormatError> {
    let k = aead_key(root)?;
    let mut out = Vec::with_capacity(LOCAL_WRAPPED_LEN);
    out.push(LOCAL_WRAP_VERSION);
    out.extend_from_slice(&iv);
    out.extend_from_slice(key.expose());
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(ctx.aad()),
            &mut out[1 + IV_LEN..],
        )
        .map_err(|_| FormatError::Crypto)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a key wrapped by [`wrap_local`] for exactly this context.
pub fn unwrap_local(
    root: &SecretKey,
    ctx: &WrapContext,
    wrapped: &[u8],
) -> Result<SecretKey, FormatError> {
    if wrapped.len() != LOCAL_WRAPPED_LEN || wrapped[0] != LOCAL_WRAP_VERSION {
        return Err(FormatError::UnwrapFailed);
    }
    let k = aead_key(root)?;
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&wrapped[1..1 + IV_LEN]);
    let mut buf = Zeroizing::new(wrapped[1 + IV_LEN..].to_vec());
    let plain = k
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(ctx.aad()),
            &mut buf,
        )
        .map_err(|_| FormatError::UnwrapFailed)?;
    SecretKey::from_slice(plain).ok_or(FormatError::UnwrapFailed)
}

/// Whether a keyring whose primary version was created at
/// `primary_created_unix_s` is due for automatic rotation at `now_unix_s`
/// with period `period_s` (none: never).
pub fn rotation_due(primary_created_unix_s: i64, period_s: Option<u64>, now_unix_s: i64) -> bool {
    match period_s {
        None => false,
        Some(p) => {
            let p = i64::try_from(p).unwrap_or(i64::MAX);
            now_unix_s.saturating_sub(primary_created_unix_s) >= p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::new([b; 32])
    }

    const T: &str = "ten_0123456789abcdef0123456789abcdef";

    fn b<'a>(tenant: &'a str, keyring: &'a str, context: Option<&'a [u8]>) -> Binding<'a> {
        Binding {
            tenant,
            keyring,
            context,
        }
    }

    #[test]
    fn round_trip_and_bindings() {
        let k = key(7);
        let ct = seal(
            &k,
            3,
            b(T, "encrypt-email", Some(b"user-1")),
            [1; 12],
            b"a@b.c",
        )
        .unwrap();
        assert!(ct.starts_with("zen:v3:"));
        let p = parse(&ct).unwrap();
        assert_eq!(p.version, 3);
        assert_eq!(
            open(&k, b(T, "encrypt-email", Some(b"user-1")), &p)
                .unwrap()
                .as_slice(),
            b"a@b.c"
        );
        for wrong in [
            b("ten_ffff", "encrypt-email", Some(b"user-1".as_slice())),
            b(T, "encrypt-username", Some(b"user-1")),
            b(T, "encrypt-email", Some(b"user-2")),
            b(T, "encrypt-email", None),
            b(T, "encrypt-email", Some(b"")),
        ] {
            assert_eq!(open(&k, wrong, &p), Err(FormatError::DecryptionFailed));
        }
        assert_eq!(
            open(&key(8), b(T, "encrypt-email", Some(b"user-1")), &p),
            Err(FormatError::DecryptionFailed)
        );
        // Changing the version in the text breaks authentication too.
        let moved = ct.replacen("zen:v3:", "zen:v4:", 1);
        assert_eq!(
            open(
                &k,
                b(T, "encrypt-email", Some(b"user-1")),
                &parse(&moved).unwrap()
            ),
            Err(FormatError::DecryptionFailed)
        );
    }

    #[test]
    fn aad_is_injective_on_field_boundaries() {
        assert_ne!(aad("ab", "c", 1, None), aad("a", "bc", 1, None));
        assert_ne!(aad("a", "b", 1, None), aad("a", "b", 1, Some(b"")));
        assert_ne!(aad("a", "b", 1, None), aad("a", "b", 2, None));
        let a = aad("t", "k", 258, Some(b"xy"));
        let mut want = b"zenalyze.kms.v1".to_vec();
        want.extend_from_slice(&[
            0, 0, 0, 1, b't', 0, 0, 0, 1, b'k', 0, 0, 1, 2, 1, 0, 0, 0, 2, b'x', b'y',
        ]);
        assert_eq!(a, want);
    }

    #[test]
    fn parse_is_strict() {
        let good = seal(&key(1), 12, b(T, "k", None), [0; 12], b"").unwrap();
        assert!(parse(&good).is_ok());
        for bad in [
            "",
            "zen:",
            "zen:v",
            "zen:v:AAAA",
            "zen:v0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zen:v01:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zen:v4294967296:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zen:v+1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ZEN:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zen:v1",
        ] {
            assert_eq!(parse(bad), Err(FormatError::Malformed), "{bad:?}");
        }
        assert_eq!(parse("zen:v1:AAAA"), Err(FormatError::TooShort));
        assert_eq!(parse("zen:v1:AAAA="), Err(FormatError::BadBase64));
        assert_eq!(parse("zen:v1:AA+A"), Err(FormatError::BadBase64));
        assert_eq!(parse("zen:v1:A"), Err(FormatError::BadBase64));
        let huge = format!("zen:v1:{}", "A".repeat(MAX_CIPHERTEXT_TEXT_LEN));
        assert_eq!(parse(&huge), Err(FormatError::TooLarge));
        assert_eq!(
            parse("zen:v4294967295:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .unwrap()
                .version,
            u32::MAX
        );
    }

    #[test]
    fn limits() {
        assert_eq!(
            seal(
                &key(1),
                1,
                b(T, "k", None),
                [0; 12],
                &vec![0; MAX_PLAINTEXT_LEN + 1]
            ),
            Err(FormatError::TooLarge)
        );
        let ctx = vec![0u8; MAX_CONTEXT_LEN + 1];
        assert_eq!(
            seal(&key(1), 1, b(T, "k", Some(&ctx)), [0; 12], b"x"),
            Err(FormatError::ContextTooLarge)
        );
        // The largest plaintext still parses back.
        let big = seal(
            &key(1),
            1,
            b(T, "k", None),
            [0; 12],
            &vec![0; MAX_PLAINTEXT_LEN],
        )
        .unwrap();
        assert_eq!(parse(&big).unwrap().body.len(), MAX_PLAINTEXT_LEN + 28);
    }

    #[test]
    fn blind_index_properties() {
        let s = key(5);
        let ka = index_key(&s, T, "encrypt-email");
        let kb = index_key(&s, "ten_other", "encrypt-email");
        let kc = index_key(&s, T, "encrypt-username");
        let a = blind_index(&ka, b"a@b.c", 128).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, blind_index(&ka, b"a@b.c", 128).unwrap());
        assert_ne!(a, blind_index(&kb, b"a@b.c", 128).unwrap());
        assert_ne!(a, blind_index(&kc, b"a@b.c", 128).unwrap());
        assert!(blind_index(&ka, b"a@b.c", 256).unwrap().starts_with(&a));
        for bits in [0u16, 8, 24, 33, 264, 1000] {
            assert_eq!(blind_index(&ka, b"x", bits), Err(FormatError::BadIndexBits));
        }
        assert_eq!(blind_index(&ka, b"x", 32).unwrap().len(), 8);
    }

    #[test]
    fn local_wrapping() {
        let root = key(9);
        let ctx = WrapContext {
            tenant: T.into(),
            keyring: "k".into(),
            version: 2,
        };
        let w = wrap_local(&root, &ctx, [3; 12], &key(4)).unwrap();
        assert_eq!(w.len(), LOCAL_WRAPPED_LEN);
        assert_eq!(unwrap_local(&root, &ctx, &w).unwrap().expose(), &[4; 32]);
        let other = WrapContext {
            version: 3,
            ..ctx.clone()
        };
        assert_eq!(
            unwrap_local(&root, &other, &w).unwrap_err(),
            FormatError::UnwrapFailed
        );
        assert_eq!(
            unwrap_local(&key(1), &ctx, &w).unwrap_err(),
            FormatError::UnwrapFailed
        );
        assert_eq!(
            unwrap_local(&root, &ctx, &w[1..]).unwrap_err(),
            FormatError::UnwrapFailed
        );
        let mut bad = w.clone();
        bad[20] ^= 1;
        assert_eq!(
            unwrap_local(&root, &ctx, &bad).unwrap_err(),
            FormatError::UnwrapFailed
        );
    }

    #[test]
    fn rotation_rule() {
        assert!(!rotation_due(0, None, i64::MAX));
        assert!(!rotation_due(1000, Some(3600), 4599));
        assert!(rotation_due(1000, Some(3600), 4600));
        assert!(!rotation_due(0, Some(u64::MAX), 10));
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
        assert!(!format!("{:?}", index_key(&key(1), T, "k")).contains("01"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn prefixed_garbage_never_panics(body in "[A-Za-z0-9_=+/-]{0,120}", v in 0u64..5_000_000_000) {
            let _ = parse(&format!("zen:v{v}:{body}"));
        }

        #[test]
        fn round_trips(pt in proptest::collection::vec(proptest::num::u8::ANY, 0..300), v in 1u32.., ctx in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..40))) {
            let k = key(2);
            let ct = seal(&k, v, b(T, "k", ctx.as_deref()), [7; 12], &pt).unwrap();
            let p = parse(&ct).unwrap();
            proptest::prop_assert_eq!(p.version, v);
            let opened = open(&k, b(T, "k", ctx.as_deref()), &p).unwrap();
            proptest::prop_assert_eq!(opened.as_slice(), pt.as_slice());
        }
    }
}
