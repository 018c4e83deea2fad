//! KMS `CiphertextForRecipient` (CMS EnvelopedData, BER): strict parsing and
//! opening with an enclave recipient key. Arbitrary input must give a typed
//! error or a value, never a panic; whatever parses has a 16-byte IV and a
//! whole number of AES blocks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zenalyze_kms_recipient::{parse_enveloped_data, RecipientKey};

fn key() -> &'static RecipientKey {
    static KEY: OnceLock<RecipientKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientKey::generate().expect("RSA key generation"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = parse_enveloped_data(data) {
        assert!(!parts.encrypted_content.is_empty());
        assert_eq!(parts.encrypted_content.len() % 16, 0);
        let _ = key().open(data);
    }
});
