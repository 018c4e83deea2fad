//! Binary envelope parsing and opening: arbitrary bytes must give a typed
//! error or a plaintext, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenalyze_crypto::{envelope, UserKey};

fuzz_target!(|data: &[u8]| {
    let key = UserKey::from_bytes([7u8; 32]);
    if let Ok(parsed) = envelope::EnvelopeRef::parse(data) {
        assert_eq!(parsed.len(), data.len());
        assert_eq!(parsed.ciphertext().len() + envelope::HEADER_LEN, data.len());
    }
    // Split the input: the first byte chooses how much of the tail is AAD.
    let (aad, env) = match data.split_first() {
        Some((n, rest)) => rest.split_at((*n as usize).min(rest.len())),
        None => (&[][..], data),
    };
    let _ = envelope::open_v1(&key, env, Some(aad));
    let _ = envelope::open_v1(&key, env, None);
});
