//! Tests: round trips through the encoder and through the real `openssl cms`
//! CLI (definite DER and streaming indefinite-length BER), strict refusal of
//! every unexpected variant, bit flips, truncations and random input.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;

use crate::encode::{seal_for_recipient, Form};
use crate::{oid, parse_enveloped_data, RecipientError, RecipientKey};

fn key() -> &'static RecipientKey {
    static KEY: OnceLock<RecipientKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientKey::generate().expect("RSA key generation"))
}

const DATA_KEY: &[u8; 32] = b"0123456789abcdef0123456789ABCDEF";

#[test]
fn public_key_is_rsa_2048_spki() {
    let spki = key().public_key_der();
    // SEQUENCE(294) { SEQUENCE { rsaEncryption, NULL }, BIT STRING ... }
    assert_eq!(spki.len(), 294);
    assert_eq!(
        &spki[..17],
        &[
            0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
            0x01, 0x01, 0x01
        ]
    );
    let other = RecipientKey::generate().unwrap();
    assert_ne!(other.public_key_der(), spki);
}

#[test]
fn encoder_round_trip_both_forms() {
    for form in [Form::Der, Form::IndefiniteBer] {
        for len in [0usize, 1, 15, 16, 32, 100, 4096] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let env = seal_for_recipient(key().public_key_der(), &pt, form).unwrap();
            if form == Form::IndefiniteBer {
                assert_eq!(env[1], 0x80);
            }
            assert_eq!(
                key().open(&env).unwrap().as_slice(),
                pt.as_slice(),
                "{form:?} {len}"
            );
        }
    }
}

#[test]
fn other_recipient_key_is_refused() {
    let env = seal_for_recipient(key().public_key_der(), DATA_KEY, Form::Der).unwrap();
    let other = RecipientKey::generate().unwrap();
    assert_eq!(other.open(&env).unwrap_err(), RecipientError::KeyDecryption);
}

// ---- openssl CLI -------------------------------------------------------

struct Openssl {
    dir: tempfile::TempDir,
    key: RecipientKey,
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn openssl");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Generates an RSA-2048 key and a self-signed certificate with openssl
/// (`k.pem`, `c.pem`, plus `c2.pem` for a second recipient) and imports the
/// key. `None` (and a loud message) when openssl is missing.
fn openssl_setup() -> Option<Openssl> {
    if !openssl_available() {
        eprintln!("SKIPPED: the openssl CLI is not installed; openssl interop not tested");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (k, c) in [("k.pem", "c.pem"), ("k2.pem", "c2.pem")] {
        run(Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(d.join(k)));
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-new",
                "-subj",
                "/CN=zenalyze-test",
                "-days",
                "1",
                "-key",
            ])
            .arg(d.join(k))
            .arg("-out")
            .arg(d.join(c)));
    }
    let pkcs8 = run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(d.join("k.pem")));
    let key = RecipientKey::from_pkcs8(&pkcs8).unwrap();
    Some(Openssl { dir, key })
}

impl Openssl {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `openssl cms -encrypt -binary -outform DER <args> -recip c.pem`.
    fn encrypt(&self, plaintext: &[u8], args: &[&str]) -> Vec<u8> {
        let input = self.path().join("m");
        std::fs::write(&input, plaintext).unwrap();
        let mut cmd = Command::new("openssl");
        cmd.args(["cms", "-encrypt", "-binary", "-outform", "DER", "-in"])
            .arg(&input);
        // -keyopt applies to the -recip before it.
        if !args.contains(&"-recip") {
            cmd.arg("-recip").arg(self.path().join("c.pem"));
        }
        run(cmd.args(args))
    }
}

const OAEP_SHA256: &[&str] = &[
    "-keyopt",
    "rsa_padding_mode:oaep",
    "-keyopt",
    "rsa_oaep_md:sha256",
    "-keyopt",
    "rsa_mgf1_md:sha256",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = extra.to_vec();
    v.extend_from_slice(OAEP_SHA256);
    v
}

#[test]
fn openssl_definite_and_indefinite_open() {
    let Some(o) = openssl_setup() else { return };
    for len in [0usize, 1, 32, 100, 4000] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
        let der = o.encrypt(&pt, &args(&["-aes256"]));
        assert_ne!(der[1], 0x80, "definite form expected");
        assert_eq!(
            o.key.open(&der).unwrap().as_slice(),
            pt.as_slice(),
            "DER {len}"
        );
        let ber = o.encrypt(&pt, &args(&["-aes256", "-stream"]));
        assert_eq!(ber[1], 0x80, "openssl -stream writes indefinite lengths");
        assert_eq!(
            o.key.open(&ber).unwrap().as_slice(),
            pt.as_slice(),
            "BER {len}"
        );
    }
}

#[test]
fn openssl_variants_are_refused() {
    let Some(o) = openssl_setup() else { return };
    let c2 = o.path().join("c2.pem").to_string_lossy().into_owned();
    let c1 = o.path().join("c.pem").to_string_lossy().into_owned();
    // PKCS#1 v1.5 key transport (openssl's default).
    let env = o.encrypt(DATA_KEY, &["-aes256"]);
    assert_eq!(
        o.key.open(&env).unwrap_err(),
        RecipientError::Pkcs1v15KeyTransport
    );
    // OAEP with the SHA-1 defaults.
    let env = o.encrypt(DATA_KEY, &["-aes256", "-keyopt", "rsa_padding_mode:oaep"]);
    assert!(matches!(
        o.key.open(&env).unwrap_err(),
        RecipientError::OaepParameters(_)
    ));
    // OAEP SHA-256 with MGF1-SHA-1.
    let env = o.encrypt(
        DATA_KEY,
        &[
            "-aes256",
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-keyopt",
            "rsa_oaep_md:sha256",
            "-keyopt",
            "rsa_mgf1_md:sha1",
        ],
    );
    assert!(matches!(
        o.key.open(&env).unwrap_err(),
        RecipientError::OaepParameters(_)
    ));
    // OAEP SHA-384 (MGF1 follows the OAEP hash).
    let env = o.encrypt(
        DATA_KEY,
        &[
            "-aes256",
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-keyopt",
            "rsa_oaep_md:sha384",
        ],
    );
    assert!(matches!(
        o.key.open(&env).unwrap_err(),
        RecipientError::OaepParameters(_)
    ));
    // OAEP with a label.
    let env = o.encrypt(
        DATA_KEY,
        &args(&["-aes256", "-keyopt", "rsa_oaep_label:0011"]),
    );
    assert!(matches!(
        o.key.open(&env).unwrap_err(),
        RecipientError::OaepParameters(_)
    ));
    // AES-128-CBC content.
    let env = o.encrypt(DATA_KEY, &args(&["-aes128"]));
    assert_eq!(
        o.key.open(&env).unwrap_err(),
        RecipientError::ContentEncryption
    );
    // AES-256-GCM content (AuthEnvelopedData in openssl 3: another content type).
    if let Ok(out) = Command::new("openssl")
        .args([
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-aes-256-gcm",
            "-in",
        ])
        .arg(o.path().join("c.pem"))
        .arg("-recip")
        .arg(&c1)
        .args(OAEP_SHA256)
        .output()
    {
        if out.status.success() {
            assert!(o.key.open(&out.stdout).is_err());
        }
    }
    // Two recipients.
    let env = o.encrypt(DATA_KEY, &args(&["-aes256", "-recip", &c1, "-recip", &c2]));
    assert_eq!(
        o.key.open(&env).unwrap_err(),
        RecipientError::RecipientCount(2)
    );
    // Encrypted to someone else.
    let env = o.encrypt(DATA_KEY, &args(&["-aes256", "-recip", &c2]));
    assert_eq!(o.key.open(&env).unwrap_err(), RecipientError::KeyDecryption);
}

#[test]
fn openssl_bit_flips_and_truncations_never_pass_silently() {
    let Some(o) = openssl_setup() else { return };
    for stream in [false, true] {
        let mut a = args(&["-aes256"]);
        if stream {
            a.push("-stream");
        }
        let env = o.encrypt(DATA_KEY, &a);
        let mut same = 0;
        for i in 0..env.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = env.clone();
                bad[i] ^= bit;
                match o.key.open(&bad) {
                    Err(_) => {}
                    Ok(pt) if pt.as_slice() != DATA_KEY => {} // CBC has no integrity: caught by the key-set seal
                    Ok(_) => same += 1, // only the unmatched recipient identifier may change
                }
            }
        }
        // IssuerAndSerialNumber of CN=zenalyze-test: under 64 bytes, two flips each.
        assert!(same <= 128, "{same} flips opened to the same plaintext");
        for n in 0..env.len() {
            assert!(o.key.open(&env[..n]).is_err(), "truncated to {n}");
        }
        let mut long = env.clone();
        long.push(0);
        assert!(o.key.open(&long).is_err());
    }
}

// ---- structural refusals with the encoder --------------------------------

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn wrong_oids_and_fields_are_refused() {
    let env = seal_for_recipient(key().public_key_der(), DATA_KEY, Form::Der).unwrap();
    let swap = |needle: &[u8], replacement: &[u8]| {
        let mut v = env.clone();
        let at = find(&v, needle);
        v[at..at + needle.len()].copy_from_slice(replacement);
        parse_enveloped_data(&v).unwrap_err()
    };
    let mut signed = oid::ENVELOPED_DATA.to_vec();
    *signed.last_mut().unwrap() = 0x02;
    assert_eq!(
        swap(oid::ENVELOPED_DATA, &signed),
        RecipientError::ContentType
    );
    assert_eq!(
        swap(oid::RSAES_OAEP, oid::RSA_ENCRYPTION),
        RecipientError::Pkcs1v15KeyTransport
    );
    let mut aes128 = oid::AES256_CBC.to_vec();
    *aes128.last_mut().unwrap() = 0x02;
    assert_eq!(
        swap(oid::AES256_CBC, &aes128),
        RecipientError::ContentEncryption
    );
    let mut other = oid::DATA.to_vec();
    *other.last_mut().unwrap() = 0x06;
    assert_eq!(
        swap(oid::DATA, &other),
        RecipientError::EncryptedContentType
    );
    let mut sha1ish = oid::SHA256.to_vec();
    *sha1ish.last_mut().unwrap() = 0x02; // sha384
    assert!(matches!(
        swap(oid::SHA256, &sha1ish),
        RecipientError::OaepParameters(_)
    ));
    let mut mgf = oid::MGF1.to_vec();
    *mgf.last_mut().unwrap() = 0x0a;
    assert!(matches!(
        swap(oid::MGF1, &mgf),
        RecipientError::OaepParameters(_)
    ));
}

#[test]
fn iv_length_and_trailing_data() {
    let env = seal_for_recipient(key().public_key_der(), DATA_KEY, Form::Der).unwrap();
    let parts = parse_enveloped_data(&env).unwrap();
    // IV OCTET STRING of 16 → 15: shrink the element and fix the outer lengths by re-encoding.
    let at = find(&env, &parts.iv);
    assert_eq!(env[at - 1], 16);
    let mut v = env.clone();
    v[at - 1] = 15;
    // The outer definite lengths now disagree: malformed, never accepted.
    assert!(parse_enveloped_data(&v).is_err());
    let mut v = env.clone();
    v.extend_from_slice(&[0x05, 0x00]);
    assert!(matches!(
        parse_enveloped_data(&v).unwrap_err(),
        RecipientError::Malformed(_)
    ));
    assert_eq!(
        parse_enveloped_data(&vec![0u8; crate::MAX_CIPHERTEXT_LEN + 1]).unwrap_err(),
        RecipientError::TooLarge(crate::MAX_CIPHERTEXT_LEN + 1)
    );
}

#[test]
fn encoder_bit_flips_only_pass_in_the_recipient_identifier_or_the_cbc_payload() {
    for form in [Form::Der, Form::IndefiniteBer] {
        let env = seal_for_recipient(key().public_key_der(), DATA_KEY, form).unwrap();
        let spki_digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key().public_key_der());
        let ski = &spki_digest.as_ref()[..20];
        let ski_at = find(&env, ski);
        for i in 0..env.len() {
            let mut bad = env.clone();
            bad[i] ^= 0x40;
            match key().open(&bad) {
                Err(_) => {}
                Ok(pt) if pt.as_slice() == DATA_KEY => {
                    assert!((ski_at..ski_at + 20).contains(&i), "{form:?} offset {i}")
                }
                Ok(_) => {}
            }
        }
        for n in 0..env.len() {
            assert!(key().open(&env[..n]).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = parse_enveloped_data(&data);
        let _ = key().open(&data);
    }

    #[test]
    fn mutated_envelopes_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        indefinite in any::<bool>(),
    ) {
        static ENVS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
        let envs = ENVS.get_or_init(|| [
            seal_for_recipient(key().public_key_der(), DATA_KEY, Form::Der).unwrap(),
            seal_for_recipient(key().public_key_der(), DATA_KEY, Form::IndefiniteBer).unwrap(),
        ]);
        let mut v = envs[usize::from(indefinite)].clone();
        for (pos, byte, op) in edits {
            if v.is_empty() { break; }
            let at = pos % v.len();
            match op {
                0 => v[at] = byte,
                1 => v.insert(at, byte),
                _ => { v.remove(at); }
            }
        }
        if let Ok(parts) = parse_enveloped_data(&v) {
            prop_assert_eq!(parts.encrypted_content.len() % 16, 0);
            prop_assert!(!parts.encrypted_content.is_empty());
        }
        let _ = key().open(&v);
    }
}
