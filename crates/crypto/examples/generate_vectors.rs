//! Regenerates `test-vectors/v1.json`:
//! `cargo run -p zenalyze-crypto --example generate_vectors > test-vectors/v1.json`
//!
//! IVs are derived from each case's name (SHA-256, first 12 bytes) so the
//! file is reproducible; real encryptions draw IVs from a CSPRNG.

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use zenalyze_crypto::{envelope, kdf};

struct Pos {
    name: &'static str,
    description: &'static str,
    email: &'static str,
    password: &'static str,
    aad: Option<Vec<u8>>,
    plaintext: Plain,
}

enum Plain {
    Bytes(Vec<u8>),
    Counter(usize),
}

fn iv_for(name: &str) -> [u8; 12] {
    let d = digest::digest(
        &digest::SHA256,
        format!("zenalyze-v1-vector-iv:{name}").as_bytes(),
    );
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&d.as_ref()[..12]);
    iv
}

fn counter(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn p(
    name: &'static str,
    description: &'static str,
    email: &'static str,
    password: &'static str,
    aad: Option<&[u8]>,
    plaintext: &[u8],
) -> Pos {
    Pos {
        name,
        description,
        email,
        password,
        aad: aad.map(<[u8]>::to_vec),
        plaintext: Plain::Bytes(plaintext.to_vec()),
    }
}

fn main() {
    let mib = 1024 * 1024;
    let positives = vec![
        p("ascii-basic", "Plain ASCII credentials and text, no context.", "alice@example.com", "correct horse battery staple", None, b"Sensitive health data"),
        p("email-uppercase", "Upper-case email lowercases to the same salt as ascii-basic.", "ALICE@EXAMPLE.COM", "correct horse battery staple", None, b"Sensitive health data"),
        p("email-mixed-case", "Mixed-case email.", "Alice@Example.Com", "correct horse battery staple", None, b"Feeling better today."),
        p("email-space-padded", "Leading and trailing spaces are trimmed from the email.", "   alice@example.com  ", "correct horse battery staple", None, b"Trimmed email"),
        p("email-tab-newline-padded", "Tab, CR and LF around the email are trimmed.", "\t\r\nalice@example.com\n", "correct horse battery staple", None, b"Tabs and newlines"),
        p("email-nbsp-bom-padded", "NBSP, ideographic space and BOM (U+FEFF) are trimmed as in ECMAScript String.prototype.trim.", "\u{feff}\u{a0}alice@example.com\u{3000}", "correct horse battery staple", None, b"Unicode spaces"),
        p("password-not-trimmed", "Passwords are never trimmed: spaces are part of the password.", "alice@example.com", " correct horse battery staple ", None, b"Spaces matter"),
        p("email-nfc", "Email with precomposed U+00E9 (NFC).", "Jos\u{e9}@Exempl\u{e9}.fr", "m\u{f6}t de passe", None, b"NFC email"),
        p("email-nfd", "Same email in NFD (e + U+0301): derives the same key as email-nfc.", "Jose\u{301}@Exemple\u{301}.fr", "m\u{f6}t de passe", None, b"NFD email"),
        p("password-nfc", "Password with precomposed characters (NFC).", "bob@example.com", "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e", None, b"NFC password"),
        p("password-nfd", "Same password in NFD: derives the same key as password-nfc.", "bob@example.com", "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e", None, b"NFD password"),
        p("turkish-dotted-capital-i", "Turkish U+0130 lowercases to i + U+0307 (Unicode default case mapping, not the Turkish locale).", "\u{130}STANBUL@\u{d6}rnek.com.tr", "\u{15f}ifre", None, b"Turkish email"),
        p("turkish-dotless-i-password", "Dotless \u{131} and dotted \u{130} in the password are kept as they are (passwords are not case-folded).", "ayse@example.com.tr", "\u{131}\u{130}i\u{131}", None, b"Turkish password"),
        p("greek-final-sigma", "Greek capital sigma at a word end lowercases to final sigma U+03C2.", "\u{39f}\u{394}\u{3a5}\u{3a3}\u{3a3}\u{395}\u{3a5}\u{3a3}@example.gr", "\u{3ba}\u{3c9}\u{3b4}\u{3b9}\u{3ba}\u{3cc}\u{3c2}", None, b"Greek email"),
        p("emoji-password", "Emoji (astral plane) in the password.", "emoji@example.com", "\u{1f510}\u{1f9e0}\u{1f48a} secret", None, "Mood: \u{1f614}\u{2192}\u{1f642}".as_bytes()),
        p("emoji-email", "Emoji in the email local part.", "\u{1f642}@Example.com", "password", None, b"Emoji email"),
        p("cjk-password", "CJK password.", "li.wei@example.cn", "\u{65e5}\u{8bb0}\u{5bc6}\u{7801}", None, "\u{4eca}\u{5929}\u{5fc3}\u{60c5}\u{4e0d}\u{9519}".as_bytes()),
        p("cjk-email-and-plaintext", "CJK email domain and Japanese plaintext.", "\u{5c71}\u{7530}@\u{4f8b}\u{3048}.jp", "\u{3072}\u{307f}\u{3064}", None, "\u{4eca}\u{65e5}\u{306f}\u{3068}\u{3066}\u{3082}\u{75b2}\u{308c}\u{305f}".as_bytes()),
        p("hangul-nfd-email", "Hangul written as conjoining jamo (NFD) composes to syllables under NFC.", "\u{1112}\u{1161}\u{11ab}@example.kr", "password", None, b"Hangul"),
        p("german-umlaut-sharp-s", "Upper-case umlauts lowercase; \u{df} stays \u{df}.", "M\u{dc}LLER.STRA\u{df}E@Example.DE", "Passw\u{f6}rter", None, b"German"),
        p("empty-plaintext", "Empty plaintext: a 29-byte envelope.", "alice@example.com", "correct horse battery staple", None, b""),
        p("empty-plaintext-with-context", "Empty plaintext bound to a context.", "alice@example.com", "correct horse battery staple", Some(b"rec_01"), b""),
        p("context-record-id", "Context (associated data) = a record id; not stored in the envelope.", "alice@example.com", "correct horse battery staple", Some(b"journal/rec_8f3a2c"), b"{\"message\":\"Sensitive health data\"}"),
        p("context-binary", "Context with arbitrary bytes.", "alice@example.com", "correct horse battery staple", Some(&[0u8, 1, 2, 0xfe, 0xff]), b"binary context"),
        p("json-object", "UTF-8 JSON of an object, as the object API encrypts it.", "carol@example.org", "hunter2-hunter2", None, b"{\"date\":\"2026-11-25\",\"mood\":3,\"entry\":\"Slept badly.\",\"tags\":[\"sleep\",\"work\"]}"),
        p("block-boundary-16", "Plaintext of exactly one AES block.", "alice@example.com", "correct horse battery staple", None, b"0123456789abcdef"),
        p("block-boundary-17", "Plaintext one byte over a block.", "alice@example.com", "correct horse battery staple", None, b"0123456789abcdefg"),
        p("long-password", "A 256-character password (longer than the HMAC block).", "dave@example.com", "pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-0123456789-pw-012345678", None, b"long password"),
        p("binary-small", "All 256 byte values.", "eve@example.com", "binary!", None, &(0..=255u8).collect::<Vec<_>>()),
        Pos { name: "binary-1mib", description: "1 MiB binary (byte i = i mod 251), no context.", email: "frank@example.com", password: "large file", aad: None, plaintext: Plain::Counter(mib) },
        Pos { name: "binary-1mib-with-context", description: "1 MiB binary bound to a context.", email: "frank@example.com", password: "large file", aad: Some(b"scan.pdf".to_vec()), plaintext: Plain::Counter(mib) },
    ];

    let mut pos_out = Vec::new();
    let mut sealed_by_name = std::collections::HashMap::new();
    for case in &positives {
        let key = kdf::derive_key_v1(case.email, case.password);
        let iv = iv_for(case.name);
        let (plain, plain_field): (Vec<u8>, (&str, Value)) = match &case.plaintext {
            Plain::Bytes(b) => (b.clone(), ("plaintext_hex", json!(hex::encode(b)))),
            Plain::Counter(n) => (
                counter(*n),
                (
                    "plaintext_generator",
                    json!({"kind": "counter_mod_251", "length": n}),
                ),
            ),
        };
        let env = envelope::seal_v1(&key, &iv, &plain, case.aad.as_deref()).expect("seal");
        sealed_by_name.insert(case.name, env.clone());
        let mut obj = serde_json::Map::new();
        obj.insert("name".into(), json!(case.name));
        obj.insert("description".into(), json!(case.description));
        obj.insert("email".into(), json!(case.email));
        obj.insert("password".into(), json!(case.password));
        obj.insert(
            "normalized_email".into(),
            json!(kdf::normalize_email(case.email)),
        );
        obj.insert(
            "salt_hex".into(),
            json!(hex::encode(kdf::salt_v1(case.email))),
        );
        obj.insert("key_hex".into(), json!(hex::encode(key.expose_secret())));
        obj.insert("iv_hex".into(), json!(hex::encode(iv)));
        obj.insert(
            "aad_hex".into(),
            case.aad
                .as_ref()
                .map_or(Value::Null, |a| json!(hex::encode(a))),
        );
        obj.insert(plain_field.0.into(), plain_field.1);
        obj.insert("envelope_b64".into(), json!(envelope::encode_base64(&env)));
        pos_out.push(Value::Object(obj));
    }

    let base = &sealed_by_name["context-record-id"];
    let flip = |offset: usize| {
        let mut e = base.clone();
        e[offset] ^= 0x01;
        STANDARD.encode(e)
    };
    let mut wrong_version = base.clone();
    wrong_version[0] = 0x02;
    let mut zero_version = base.clone();
    zero_version[0] = 0x00;
    let b64 = |b: &[u8]| STANDARD.encode(b);
    let good = b64(base);
    let email = "alice@example.com";
    let pw = "correct horse battery staple";
    let ctx = Some(hex::encode(b"journal/rec_8f3a2c"));
    let neg = |name: &str,
               description: &str,
               email: &str,
               password: &str,
               aad: &Option<String>,
               env: String,
               error: &str| {
        json!({"name": name, "description": description, "email": email, "password": password,
               "aad_hex": aad, "envelope_b64": env, "error": error})
    };
    let negatives = vec![
        neg(
            "empty",
            "Empty input.",
            email,
            pw,
            &ctx,
            String::new(),
            "too_short",
        ),
        neg(
            "truncated-header",
            "Only the first 20 bytes of a valid envelope.",
            email,
            pw,
            &ctx,
            b64(&base[..20]),
            "too_short",
        ),
        neg(
            "truncated-28",
            "28 bytes: one short of the header.",
            email,
            pw,
            &ctx,
            b64(&base[..28]),
            "too_short",
        ),
        neg(
            "version-0x02",
            "Unknown version byte 0x02.",
            email,
            pw,
            &ctx,
            b64(&wrong_version),
            "unsupported_version",
        ),
        neg(
            "version-0x00",
            "Unknown version byte 0x00.",
            email,
            pw,
            &ctx,
            b64(&zero_version),
            "unsupported_version",
        ),
        neg(
            "base64-invalid-chars",
            "Characters outside the standard alphabet.",
            email,
            pw,
            &ctx,
            "AQ!!".repeat(12),
            "invalid_base64",
        ),
        neg(
            "base64-missing-padding",
            "Valid envelope with its padding removed.",
            email,
            pw,
            &ctx,
            good.trim_end_matches('=').to_string(),
            "invalid_base64",
        ),
        neg(
            "base64-urlsafe-alphabet",
            "URL-safe alphabet instead of standard.",
            email,
            pw,
            &ctx,
            good.replace('+', "-").replace('/', "_")
                + if good.contains('+') || good.contains('/') {
                    ""
                } else {
                    "-_"
                },
            "invalid_base64",
        ),
        neg(
            "base64-inner-whitespace",
            "Whitespace inside the base64 text.",
            email,
            pw,
            &ctx,
            format!("{} {}", &good[..8], &good[8..]),
            "invalid_base64",
        ),
        neg(
            "flipped-bit-iv",
            "One bit flipped in the IV.",
            email,
            pw,
            &ctx,
            flip(5),
            "authentication_failed",
        ),
        neg(
            "flipped-bit-tag",
            "One bit flipped in the tag.",
            email,
            pw,
            &ctx,
            flip(20),
            "authentication_failed",
        ),
        neg(
            "flipped-bit-ciphertext",
            "One bit flipped in the ciphertext.",
            email,
            pw,
            &ctx,
            flip(40),
            "authentication_failed",
        ),
        neg(
            "truncated-ciphertext",
            "Last ciphertext byte removed.",
            email,
            pw,
            &ctx,
            b64(&base[..base.len() - 1]),
            "authentication_failed",
        ),
        neg(
            "wrong-context",
            "Opened with another context.",
            email,
            pw,
            &Some(hex::encode(b"journal/rec_000000")),
            good.clone(),
            "authentication_failed",
        ),
        neg(
            "missing-context",
            "Sealed with a context, opened without one.",
            email,
            pw,
            &None,
            good.clone(),
            "authentication_failed",
        ),
        neg(
            "wrong-password",
            "Wrong password.",
            email,
            "correct horse battery stapler",
            &ctx,
            good.clone(),
            "authentication_failed",
        ),
        neg(
            "wrong-email",
            "Another user's email.",
            "mallory@example.com",
            pw,
            &ctx,
            good.clone(),
            "authentication_failed",
        ),
    ];

    let doc = json!({
        "schema": "zenalyze/envelope-v1-vectors@1",
        "description": "Cross-language vectors for key derivation profile v1 and envelope v1 (SPEC section 2). See test-vectors/README.md for the schema.",
        "kdf": {"profile": "v1", "email_normalization": "lowercase(NFC(trim(email))), trim = ECMAScript String.prototype.trim", "salt": "SHA-256(UTF-8(normalized_email))", "prf": "HMAC-SHA256", "iterations": kdf::PBKDF2_ITERATIONS_V1, "key_length": 32, "password_normalization": "NFC"},
        "envelope": {"version": 1, "layout": "0x01 || iv(12) || tag(16) || ciphertext", "aead": "AES-256-GCM", "text_encoding": "standard base64 with padding"},
        "positive": pos_out,
        "negative": negatives,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}
