//! EHBP parsers on untrusted bytes: key configs (raw and RFC 9458 list
//! form), chunk framing, request opening (server) and response opening
//! (client). None may panic; a parsed key config re-encodes to its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenalyze_ehbp::framing::Frames;
use zenalyze_ehbp::{open_request, KeyConfig, ResponseContext, ServerKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = KeyConfig::parse(data) {
        assert_eq!(&cfg.encode()[..], data);
    }
    let _ = KeyConfig::parse_keys_body(data);

    for frame in Frames::new(data, 1 << 16) {
        if frame.is_err() {
            break;
        }
    }

    let (head, body) = data.split_at(data.len().min(64));
    let enc = String::from_utf8_lossy(head);
    let key = ServerKey::derive(1, b"zenalyze ehbp fuzz key material!");
    let _ = open_request([&key], &enc, body, 1 << 16);

    let ctx = ResponseContext::from_token(&[7u8; 32], &[9u8; 32]).expect("fixed token");
    let mut nonce = [0u8; 32];
    let n = head.len().min(32);
    nonce[..n].copy_from_slice(&head[..n]);
    let _ = ctx.open_response_with_nonce(&nonce, body, 1 << 16);
    let _ = ctx.open_response(&enc, body, 1 << 16);
});
