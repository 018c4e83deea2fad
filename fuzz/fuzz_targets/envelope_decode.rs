//! Text/binary decoding of envelopes (`decode_any`, `decode_base64`):
//! arbitrary input never panics, and whatever decodes re-encodes to the same
//! canonical text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenalyze_crypto::envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(bytes) = envelope::decode_any(data) {
        assert!(envelope::EnvelopeRef::parse(&bytes).is_ok());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = envelope::decode_base64(text) {
            assert_eq!(envelope::encode_base64(&bytes), text);
        }
    }
});
