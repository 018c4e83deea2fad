//! Platform ciphertext text (`zen:v<N>:…`) parsing and opening, and the
//! local key unwrap: arbitrary input must give a typed error or a value,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenalyze_kms::format::{self, Binding, SecretKey, WrapContext};

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::new([7u8; 32]);
    let (ctx, rest) = match data.split_first() {
        Some((n, rest)) => rest.split_at((*n as usize).min(rest.len())),
        None => (&[][..], data),
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(ct) = format::parse(text) {
            assert!(ct.body.len() >= format::IV_LEN + format::TAG_LEN);
            let binding = Binding {
                tenant: "ten_fuzz",
                keyring: "encrypt-email",
                context: Some(ctx),
            };
            let _ = format::open(&key, binding, &ct);
        }
    }
    let wrap_ctx = WrapContext {
        tenant: "ten_fuzz".into(),
        keyring: "k".into(),
        version: 1,
    };
    let _ = format::unwrap_local(&key, &wrap_ctx, rest);
});
