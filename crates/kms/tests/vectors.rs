//! `test-vectors/platform-v1.json` against this implementation: every
//! positive case seals to exactly its ciphertext and opens back; every
//! negative case fails with its error; blind indexes and local wraps match.

use serde_json::Value;
use zenalyze_kms::format::{self, Binding, FormatError, SecretKey, WrapContext};

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/platform-v1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors")).expect("json")
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn opt_hx(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| hx(v))
}

fn key(v: &Value) -> SecretKey {
    SecretKey::from_slice(&hx(v)).expect("32-byte key")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

#[test]
fn positive_cases() {
    let doc = load();
    assert_eq!(doc["schema"], "zenalyze/platform-v1-vectors@1");
    let cases = doc["positive"].as_array().expect("positive");
    assert!(cases.len() >= 5);
    for c in cases {
        let ctx = opt_hx(&c["context_hex"]);
        let b = Binding {
            tenant: s(&c["tenant"]),
            keyring: s(&c["keyring"]),
            context: ctx.as_deref(),
        };
        let version = u32::try_from(c["key_version"].as_u64().unwrap()).unwrap();
        let aad = format::aad(b.tenant, b.keyring, version, b.context);
        assert_eq!(aad, hx(&c["aad_hex"]), "{}", c["name"]);
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&hx(&c["iv_hex"]));
        let k = key(&c["key_hex"]);
        let pt = hx(&c["plaintext_hex"]);
        let ct = format::seal(&k, version, b, iv, &pt).unwrap();
        assert_eq!(ct, s(&c["ciphertext"]), "{}", c["name"]);
        let parsed = format::parse(&ct).unwrap();
        assert_eq!(parsed.version, version);
        assert_eq!(
            format::open(&k, b, &parsed).unwrap().as_slice(),
            pt.as_slice()
        );
    }
}

#[test]
fn negative_cases() {
    let doc = load();
    let cases = doc["negative"].as_array().expect("negative");
    assert!(cases.len() >= 10);
    for c in cases {
        let ctx = opt_hx(&c["context_hex"]);
        let b = Binding {
            tenant: s(&c["tenant"]),
            keyring: s(&c["keyring"]),
            context: ctx.as_deref(),
        };
        let k = key(&c["key_hex"]);
        let got =
            format::parse(s(&c["ciphertext"])).and_then(|p| format::open(&k, b, &p).map(|_| ()));
        let want = match s(&c["error"]) {
            "malformed" => FormatError::Malformed,
            "invalid_base64" => FormatError::BadBase64,
            "too_short" => FormatError::TooShort,
            "decryption_failed" => FormatError::DecryptionFailed,
            other => panic!("unknown error {other}"),
        };
        assert_eq!(got, Err(want), "{}", c["name"]);
    }
}

#[test]
fn blind_index_cases() {
    let doc = load();
    for c in doc["blind_index_cases"].as_array().expect("cases") {
        let secret = key(&c["index_secret_hex"]);
        let ik = format::index_key(&secret, s(&c["tenant"]), s(&c["keyring"]));
        assert_eq!(
            ik.expose().as_slice(),
            hx(&c["index_key_hex"]).as_slice(),
            "{}",
            c["name"]
        );
        let bits = u16::try_from(c["bits"].as_u64().unwrap()).unwrap();
        assert_eq!(
            format::blind_index(&ik, &hx(&c["value_hex"]), bits).unwrap(),
            s(&c["index_hex"]),
            "{}",
            c["name"]
        );
    }
}

#[test]
fn local_wrap_cases() {
    let doc = load();
    for c in doc["local_wrap_cases"].as_array().expect("cases") {
        let root = key(&c["root_key_hex"]);
        let ctx = WrapContext {
            tenant: s(&c["tenant"]).into(),
            keyring: s(&c["keyring"]).into(),
            version: u32::try_from(c["version"].as_u64().unwrap()).unwrap(),
        };
        assert_eq!(ctx.aad(), hx(&c["aad_hex"]));
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&hx(&c["iv_hex"]));
        let k = key(&c["key_hex"]);
        let w = format::wrap_local(&root, &ctx, iv, &k).unwrap();
        assert_eq!(w, hx(&c["wrapped_hex"]), "{}", c["name"]);
        assert_eq!(
            format::unwrap_local(&root, &ctx, &w).unwrap().expose(),
            k.expose()
        );
    }
}
