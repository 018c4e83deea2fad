//! Runs every case of `test-vectors/v1.json`, both ways.

use serde_json::Value;
use zenalyze_crypto::{envelope, kdf, EnvelopeError};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/v1.json");
    let text =
        std::fs::read_to_string(path).expect("test-vectors/v1.json is part of the repository");
    serde_json::from_str(&text).expect("v1.json parses")
}

fn s<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {case}"))
}

fn plaintext(case: &Value) -> Vec<u8> {
    if let Some(h) = case["plaintext_hex"].as_str() {
        return hex::decode(h).unwrap();
    }
    let gen = &case["plaintext_generator"];
    assert_eq!(gen["kind"], "counter_mod_251");
    (0..gen["length"].as_u64().unwrap() as usize)
        .map(|i| (i % 251) as u8)
        .collect()
}

fn aad(case: &Value) -> Option<Vec<u8>> {
    case["aad_hex"].as_str().map(|h| hex::decode(h).unwrap())
}

#[test]
fn file_has_the_required_coverage() {
    let v = vectors();
    assert_eq!(v["schema"], "zenalyze/envelope-v1-vectors@1");
    assert!(v["positive"].as_array().unwrap().len() >= 25);
    assert!(v["negative"].as_array().unwrap().len() >= 10);
}

#[test]
fn positive_vectors_derive_seal_and_open_exactly() {
    let v = vectors();
    for case in v["positive"].as_array().unwrap() {
        let name = s(case, "name");
        let (email, password) = (s(case, "email"), s(case, "password"));
        assert_eq!(
            kdf::normalize_email(email),
            s(case, "normalized_email"),
            "{name}"
        );
        assert_eq!(
            hex::encode(kdf::salt_v1(email)),
            s(case, "salt_hex"),
            "{name}"
        );
        let key = kdf::derive_key_v1(email, password);
        assert_eq!(
            hex::encode(key.expose_secret()),
            s(case, "key_hex"),
            "{name}"
        );
        let iv: [u8; 12] = hex::decode(s(case, "iv_hex")).unwrap().try_into().unwrap();
        let pt = plaintext(case);
        let aad = aad(case);
        let sealed = envelope::seal_v1(&key, &iv, &pt, aad.as_deref()).unwrap();
        assert_eq!(
            envelope::encode_base64(&sealed),
            s(case, "envelope_b64"),
            "{name}"
        );
        let bytes = envelope::decode_base64(s(case, "envelope_b64")).unwrap();
        let opened = envelope::open_v1(&key, &bytes, aad.as_deref()).unwrap();
        assert_eq!(&opened[..], &pt[..], "{name}");
    }
}

#[test]
fn normalization_pairs_share_keys() {
    let v = vectors();
    let key_of = |n: &str| {
        v["positive"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()["key_hex"]
            .clone()
    };
    assert_eq!(key_of("email-nfc"), key_of("email-nfd"));
    assert_eq!(key_of("password-nfc"), key_of("password-nfd"));
    assert_eq!(key_of("ascii-basic"), key_of("email-uppercase"));
    assert_eq!(key_of("ascii-basic"), key_of("email-space-padded"));
    assert_eq!(key_of("ascii-basic"), key_of("email-nbsp-bom-padded"));
    assert_ne!(key_of("ascii-basic"), key_of("password-not-trimmed"));
}

#[test]
fn negative_vectors_fail_with_their_code() {
    let v = vectors();
    for case in v["negative"].as_array().unwrap() {
        let name = s(case, "name");
        let key = kdf::derive_key_v1(s(case, "email"), s(case, "password"));
        let result: Result<_, EnvelopeError> = envelope::decode_base64(s(case, "envelope_b64"))
            .and_then(|b| envelope::open_v1(&key, &b, aad(case).as_deref()));
        match result {
            Ok(_) => panic!("{name}: opened, expected {}", s(case, "error")),
            Err(e) => assert_eq!(e.code(), s(case, "error"), "{name}"),
        }
    }
}
