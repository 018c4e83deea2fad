//! EHBP client/server round trips, tampering and key-config behaviour.

use proptest::prelude::*;
use zenalyze_ehbp::framing::DEFAULT_MAX_CHUNK_LEN;
use zenalyze_ehbp::{
    open_request, seal_request, Code, KeyConfig, ResponseContext, ServerKey, KEY_CONFIG_LEN,
};

const MAX: u32 = DEFAULT_MAX_CHUNK_LEN;

#[test]
fn key_config_encoding_matches_ehbp_clients() {
    let key = ServerKey::generate(9);
    let cfg = key.key_config().encode();
    assert_eq!(cfg.len(), KEY_CONFIG_LEN);
    assert_eq!(cfg[0], 9);
    assert_eq!(&cfg[1..3], &[0x00, 0x20]);
    assert_eq!(&cfg[35..41], &[0x00, 0x04, 0x00, 0x01, 0x00, 0x02]);
    let parsed = KeyConfig::parse(&cfg).unwrap();
    assert_eq!(parsed, key.key_config());
    // RFC 9458 list form is accepted too.
    let mut list = vec![0x00, KEY_CONFIG_LEN as u8];
    list.extend_from_slice(&cfg);
    assert_eq!(KeyConfig::parse_keys_body(&list).unwrap(), parsed);
    assert_eq!(KeyConfig::parse_keys_body(&cfg).unwrap(), parsed);
    // Wrong suite, truncation, trailing bytes.
    let mut other = cfg;
    other[40] = 0x01;
    assert_eq!(
        KeyConfig::parse(&other).unwrap_err().code(),
        Code::UnsupportedSuite
    );
    assert_eq!(
        KeyConfig::parse(&cfg[..40]).unwrap_err().code(),
        Code::InvalidKeyConfig
    );
    let mut long = cfg.to_vec();
    long.push(0);
    assert_eq!(
        KeyConfig::parse(&long).unwrap_err().code(),
        Code::InvalidKeyConfig
    );
}

#[test]
fn round_trip_multi_chunk() {
    let key = ServerKey::generate(1);
    let msg: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let (sealed, client_ctx) = seal_request(&key.key_config(), &msg, 1000).unwrap();
    assert_eq!(sealed.encapsulated_key_hex.len(), 64);
    let opened = open_request([&key], &sealed.encapsulated_key_hex, &sealed.body, MAX).unwrap();
    assert_eq!(opened.plaintext.as_slice(), msg.as_slice());
    assert_eq!(opened.key_id, 1);
    let nonce = zenalyze_ehbp::random_response_nonce().unwrap();
    let answer = b"the answer".repeat(300);
    let body = opened.response.seal_response(&nonce, &answer, 700).unwrap();
    let out = client_ctx
        .open_response(&hex::encode(nonce), &body, MAX)
        .unwrap();
    assert_eq!(out.as_slice(), answer.as_slice());
    // Recovery token gives the same result.
    let tok = ResponseContext::from_token(client_ctx.exported_secret(), client_ctx.request_enc())
        .unwrap();
    assert_eq!(
        tok.open_response(&hex::encode(nonce), &body, MAX)
            .unwrap()
            .as_slice(),
        answer.as_slice()
    );
    // Another response nonce does not open it.
    let other = [7u8; 32];
    assert_eq!(
        client_ctx
            .open_response_with_nonce(&other, &body, MAX)
            .unwrap_err()
            .code(),
        Code::AeadDecryptFailed
    );
}

#[test]
fn unknown_key_is_key_config_mismatch() {
    let key = ServerKey::generate(1);
    let stranger = ServerKey::generate(1);
    let (sealed, _) = seal_request(&stranger.key_config(), b"hello", 64).unwrap();
    let err = open_request([&key], &sealed.encapsulated_key_hex, &sealed.body, MAX).unwrap_err();
    assert_eq!(err.code(), Code::KeyConfigMismatch);
    assert_eq!(err.http_status(), 422);
}

#[test]
fn previous_key_opens_when_offered() {
    let current = ServerKey::generate(2);
    let previous = ServerKey::generate(1);
    let (sealed, _) = seal_request(&previous.key_config(), b"hello", 64).unwrap();
    let opened = open_request(
        [&current, &previous],
        &sealed.encapsulated_key_hex,
        &sealed.body,
        MAX,
    )
    .unwrap();
    assert_eq!(opened.key_id, 1);
    assert_eq!(
        open_request([&current], &sealed.encapsulated_key_hex, &sealed.body, MAX)
            .unwrap_err()
            .code(),
        Code::KeyConfigMismatch
    );
}

#[test]
fn tampering_is_400() {
    let key = ServerKey::generate(1);
    let (sealed, _) = seal_request(&key.key_config(), &[5u8; 300], 100).unwrap();
    // Flip a byte of the second chunk.
    let mut body = sealed.body.clone();
    let second = 4 + 116 + 4 + 3;
    body[second] ^= 0x40;
    let err = open_request([&key], &sealed.encapsulated_key_hex, &body, MAX).unwrap_err();
    assert_eq!(err.code(), Code::AeadDecryptFailed);
    assert_eq!(err.http_status(), 400);
    // Oversized length prefix.
    let mut body = sealed.body.clone();
    body[0] = 0x7f;
    let err = open_request([&key], &sealed.encapsulated_key_hex, &body, MAX).unwrap_err();
    assert_eq!(err.http_status(), 400);
    // Length prefix pointing past the end.
    let mut body = sealed.body.clone();
    let last_prefix = body.len() - 116 - 4;
    body[last_prefix + 3] += 1;
    let err = open_request([&key], &sealed.encapsulated_key_hex, &body, MAX).unwrap_err();
    assert_eq!(err.code(), Code::FramingTruncated);
    // Truncated body.
    let err = open_request(
        [&key],
        &sealed.encapsulated_key_hex,
        &sealed.body[..sealed.body.len() - 1],
        MAX,
    )
    .unwrap_err();
    assert_eq!(err.http_status(), 400);
    // Chunks reordered.
    let mut body = sealed.body[120..240].to_vec();
    body.extend_from_slice(&sealed.body[..120]);
    body.extend_from_slice(&sealed.body[240..]);
    assert!(open_request([&key], &sealed.encapsulated_key_hex, &body, MAX).is_err());
    // Bad header forms.
    for bad in [
        "",
        "zz",
        &sealed.encapsulated_key_hex[..62],
        &sealed.encapsulated_key_hex.to_uppercase(),
    ] {
        let err = open_request([&key], bad, &sealed.body, MAX).unwrap_err();
        assert_eq!(err.code(), Code::InvalidEncapsulatedKey);
        assert_eq!(err.http_status(), 400);
    }
    // Empty body.
    let err = open_request([&key], &sealed.encapsulated_key_hex, &[], MAX).unwrap_err();
    assert_eq!(err.http_status(), 400);
    // Error text never carries data.
    assert!(!err.to_string().contains(&sealed.encapsulated_key_hex));
}

#[test]
fn response_tampering_detected() {
    let key = ServerKey::generate(1);
    let (sealed, ctx) = seal_request(&key.key_config(), b"q", 64).unwrap();
    let opened = open_request([&key], &sealed.encapsulated_key_hex, &sealed.body, MAX).unwrap();
    let nonce = [3u8; 32];
    let body = opened
        .response
        .seal_response(&nonce, b"abcdefgh", 4)
        .unwrap();
    let mut bad = body.clone();
    let n = bad.len() - 1;
    bad[n] ^= 1;
    assert_eq!(
        ctx.open_response_with_nonce(&nonce, &bad, MAX)
            .unwrap_err()
            .code(),
        Code::AeadDecryptFailed
    );
    // Dropping the first chunk shifts the sequence numbers: refused.
    let first_len = 4 + 4 + 16;
    assert!(ctx
        .open_response_with_nonce(&nonce, &body[first_len..], MAX)
        .is_err());
    assert_eq!(
        ctx.open_response("ABC", &body, MAX).unwrap_err().code(),
        Code::InvalidResponseNonce
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn open_request_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), enc in "[0-9a-f]{64}") {
        let key = ServerKey::generate(1);
        let _ = open_request([&key], &enc, &body, 1 << 20);
    }

    #[test]
    fn round_trip_any(msg in proptest::collection::vec(any::<u8>(), 1..2000), chunk in 1usize..500) {
        let key = ServerKey::generate(4);
        let (sealed, ctx) = seal_request(&key.key_config(), &msg, chunk).unwrap();
        let opened = open_request([&key], &sealed.encapsulated_key_hex, &sealed.body, MAX).unwrap();
        prop_assert_eq!(opened.plaintext.as_slice(), msg.as_slice());
        let nonce = [9u8; 32];
        let body = opened.response.seal_response(&nonce, &msg, chunk).unwrap();
        let back = ctx.open_response_with_nonce(&nonce, &body, MAX).unwrap();
        prop_assert_eq!(back.as_slice(), msg.as_slice());
    }
}

#[test]
fn incremental_response_opening() {
    let key = ServerKey::generate(1);
    let (sealed, ctx) = seal_request(&key.key_config(), b"q", 64).unwrap();
    let opened = open_request([&key], &sealed.encapsulated_key_hex, &sealed.body, MAX).unwrap();
    let nonce = [1u8; 32];
    let msg: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let body = opened.response.seal_response(&nonce, &msg, 100).unwrap();
    for step in [1usize, 3, 7, 64, 1000, body.len()] {
        let mut op = ctx.response_opener(&nonce, MAX).unwrap();
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            out.extend_from_slice(&op.push(piece).unwrap());
        }
        op.finish().unwrap();
        assert_eq!(out, msg, "step {step}");
    }
    // Truncated stream: the authenticated prefix comes out, finish() fails.
    let mut op = ctx.response_opener(&nonce, MAX).unwrap();
    let got = op.push(&body[..body.len() - 5]).unwrap();
    assert_eq!(got.as_slice(), &msg[..900]);
    assert_eq!(op.finish().unwrap_err().code(), Code::FramingTruncated);
    // Tampered frame.
    let mut bad = body.clone();
    bad[10] ^= 1;
    let mut op = ctx.response_opener(&nonce, MAX).unwrap();
    assert_eq!(op.push(&bad).unwrap_err().code(), Code::AeadDecryptFailed);
}
