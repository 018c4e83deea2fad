//! Writes `test-vectors/platform-v1.json` (deterministic: keys and IVs are
//! derived from each case's name). Run:
//! `cargo run -p zenalyze-kms --example generate_platform_vectors > test-vectors/platform-v1.json`.
//! `crates/kms/tests/vectors.rs` fails if the file and the code disagree.

use aws_lc_rs::digest;
use serde_json::{json, Value};
use zenalyze_kms::format::{self, Binding, SecretKey, WrapContext};

fn bytes_from(name: &str, label: &str, n: usize) -> Vec<u8> {
    let d = digest::digest(&digest::SHA256, format!("{label}:{name}").as_bytes());
    d.as_ref()[..n].to_vec()
}

fn key(name: &str, label: &str) -> SecretKey {
    SecretKey::from_slice(&bytes_from(name, label, 32)).expect("32 bytes")
}

fn iv(name: &str) -> [u8; 12] {
    let mut out = [0u8; 12];
    out.copy_from_slice(&bytes_from(name, "iv", 12));
    out
}

const T1: &str = "ten_0123456789abcdef0123456789abcdef";
const T2: &str = "ten_fedcba9876543210fedcba9876543210";

fn seal_case(
    name: &str,
    desc: &str,
    tenant: &str,
    keyring: &str,
    version: u32,
    ctx: Option<&[u8]>,
    pt: &[u8],
) -> Value {
    let k = key(name, "key");
    let b = Binding {
        tenant,
        keyring,
        context: ctx,
    };
    let ct = format::seal(&k, version, b, iv(name), pt).expect("seal");
    json!({
        "name": name,
        "description": desc,
        "tenant": tenant,
        "keyring": keyring,
        "key_version": version,
        "key_hex": hex::encode(k.expose()),
        "iv_hex": hex::encode(iv(name)),
        "context_hex": ctx.map(hex::encode),
        "plaintext_hex": hex::encode(pt),
        "aad_hex": hex::encode(format::aad(tenant, keyring, version, ctx)),
        "ciphertext": ct,
    })
}

fn main() {
    let long: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let positive = vec![
        seal_case(
            "email-with-context",
            "an e-mail address bound to a user id",
            T1,
            "encrypt-email",
            1,
            Some(b"usr_42"),
            b"jane.doe@example.org",
        ),
        seal_case(
            "username-no-context",
            "no context (presence byte 0x00)",
            T1,
            "encrypt-username",
            3,
            None,
            b"jdoe",
        ),
        seal_case(
            "empty-context",
            "an empty context differs from no context (0x01 00000000)",
            T1,
            "encrypt-username",
            3,
            Some(b""),
            b"jdoe",
        ),
        seal_case(
            "empty-plaintext",
            "empty plaintext: IV and tag only",
            T2,
            "encrypt-email",
            1,
            None,
            b"",
        ),
        seal_case(
            "utf8-name",
            "UTF-8 plaintext",
            T2,
            "encrypt-name",
            12,
            Some(b"ctx"),
            "Zoë Ünal 山田".as_bytes(),
        ),
        seal_case(
            "binary-1000",
            "1000 bytes, byte i = i mod 251",
            T2,
            "k",
            4294967295,
            Some(&[0, 1, 2, 255]),
            &long,
        ),
    ];

    // Negative cases: each must fail with `error` when opened with the
    // case's key, tenant, keyring and context.
    let base = &positive[0];
    let ct = base["ciphertext"].as_str().expect("ct").to_owned();
    let body = ct.trim_start_matches("zen:v1:").to_owned();
    let neg = |name: &str,
               desc: &str,
               tenant: &str,
               keyring: &str,
               ctx: Option<&[u8]>,
               text: String,
               err: &str| {
        json!({
            "name": name,
            "description": desc,
            "tenant": tenant,
            "keyring": keyring,
            "key_version": 1,
            "key_hex": base["key_hex"],
            "context_hex": ctx.map(hex::encode),
            "ciphertext": text,
            "error": err,
        })
    };
    let mut flipped = body.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let mut iv_flip = body.clone().into_bytes();
    iv_flip[0] = if iv_flip[0] == b'A' { b'B' } else { b'A' };
    let iv_flip = String::from_utf8(iv_flip).expect("ascii");
    let negative = vec![
        neg(
            "other-tenant",
            "same key, another tenant id in the AAD",
            T2,
            "encrypt-email",
            Some(b"usr_42"),
            ct.clone(),
            "decryption_failed",
        ),
        neg(
            "other-keyring",
            "same key, another keyring name",
            T1,
            "encrypt-username",
            Some(b"usr_42"),
            ct.clone(),
            "decryption_failed",
        ),
        neg(
            "other-context",
            "another context",
            T1,
            "encrypt-email",
            Some(b"usr_43"),
            ct.clone(),
            "decryption_failed",
        ),
        neg(
            "missing-context",
            "context omitted",
            T1,
            "encrypt-email",
            None,
            ct.clone(),
            "decryption_failed",
        ),
        neg(
            "other-version",
            "version in the text changed (v1 -> v2, same key)",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v2:{body}"),
            "decryption_failed",
        ),
        neg(
            "tag-flipped",
            "a flipped character in the tag",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v1:{flipped}"),
            "decryption_failed",
        ),
        neg(
            "iv-flipped",
            "a flipped character in the IV",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v1:{iv_flip}"),
            "decryption_failed",
        ),
        neg(
            "padded",
            "base64 padding is not allowed",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("{ct}="),
            "invalid_base64",
        ),
        neg(
            "standard-alphabet",
            "'+' and '/' are not base64url",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            "zen:v1:AAAAAAAAAAAAAAAAAAAA+/AAAAAAAAAAAAAAAAAA".into(),
            "invalid_base64",
        ),
        neg(
            "too-short",
            "fewer than 28 bytes (IV + tag)",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            "zen:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            "too_short",
        ),
        neg(
            "version-zero",
            "versions start at 1",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v0:{body}"),
            "malformed",
        ),
        neg(
            "leading-zero",
            "no leading zeros",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v01:{body}"),
            "malformed",
        ),
        neg(
            "version-overflow",
            "above 4294967295",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("zen:v4294967296:{body}"),
            "malformed",
        ),
        neg(
            "uppercase-prefix",
            "the prefix is lowercase",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            format!("ZEN:v1:{body}"),
            "malformed",
        ),
        neg(
            "no-separator",
            "missing ':' after the version",
            T1,
            "encrypt-email",
            Some(b"usr_42"),
            "zen:v1".into(),
            "malformed",
        ),
    ];

    let bi = |name: &str, tenant: &str, keyring: &str, value: &[u8], bits: u16| {
        let secret = key(name, "index-secret");
        let ik = format::index_key(&secret, tenant, keyring);
        json!({
            "name": name,
            "tenant": tenant,
            "keyring": keyring,
            "index_secret_hex": hex::encode(secret.expose()),
            "index_key_hex": hex::encode(ik.expose()),
            "value_hex": hex::encode(value),
            "bits": bits,
            "index_hex": format::blind_index(&ik, value, bits).expect("index"),
        })
    };
    let blind_index = vec![
        bi(
            "email-128",
            T1,
            "encrypt-email",
            b"jane.doe@example.org",
            128,
        ),
        bi(
            "email-other-tenant",
            T2,
            "encrypt-email",
            b"jane.doe@example.org",
            128,
        ),
        bi("email-32", T1, "encrypt-email", b"jane.doe@example.org", 32),
        bi(
            "email-256",
            T1,
            "encrypt-email",
            b"jane.doe@example.org",
            256,
        ),
        bi("empty-value", T1, "encrypt-username", b"", 64),
    ];

    let wrap = |name: &str, tenant: &str, keyring: &str, version: u32| {
        let root = key(name, "root");
        let k = key(name, "data-key");
        let ctx = WrapContext {
            tenant: tenant.into(),
            keyring: keyring.into(),
            version,
        };
        json!({
            "name": name,
            "root_key_hex": hex::encode(root.expose()),
            "tenant": tenant,
            "keyring": keyring,
            "version": version,
            "key_hex": hex::encode(k.expose()),
            "iv_hex": hex::encode(iv(name)),
            "aad_hex": hex::encode(ctx.aad()),
            "wrapped_hex": hex::encode(format::wrap_local(&root, &ctx, iv(name), &k).expect("wrap")),
        })
    };
    let local_wrap = vec![
        wrap("version-1", T1, "encrypt-email", 1),
        wrap("index-secret", T1, "encrypt-email", 0),
    ];

    let doc = json!({
        "schema": "zenalyze/platform-v1-vectors@1",
        "format": "zen:v<N>:<base64url-no-pad(IV(12) || ciphertext || tag(16))>, AES-256-GCM",
        "aad": "\"zenalyze.kms.v1\" || u32be(len tenant) || tenant || u32be(len keyring) || keyring || u32be(N) || (0x00 | 0x01 || u32be(len context) || context)",
        "blind_index": "HMAC-SHA256(HKDF-SHA256(salt=empty, ikm=index secret, info=\"zenalyze.kms.blind-index.v1\" || u32be(len tenant) || tenant || u32be(len keyring) || keyring, L=32), value) truncated to bits/8 bytes, lowercase hex",
        "local_wrap": "0x01 || IV(12) || AES-256-GCM(root key, key, AAD=\"zenalyze.kms.wrap.v1\" || u32be(len tenant) || tenant || u32be(len keyring) || keyring || u32be(version)) || tag(16)",
        "positive": positive,
        "negative": negative,
        "blind_index_cases": blind_index,
        "local_wrap_cases": local_wrap,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}
