//! Property tests: round trips, tamper rejection anywhere, and parsers that
//! never panic on arbitrary input.

use proptest::prelude::*;
use zenalyze_crypto::{envelope, EnvelopeError, UserKey};

fn key(seed: u8) -> UserKey {
    UserKey::from_bytes([seed; 32])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn seal_open_round_trips(
        seed in any::<u8>(),
        iv in any::<[u8; 12]>(),
        pt in proptest::collection::vec(any::<u8>(), 0..4096),
        aad in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let env = envelope::seal_v1(&key(seed), &iv, &pt, aad.as_deref()).unwrap();
        prop_assert_eq!(env.len(), envelope::HEADER_LEN + pt.len());
        let text = envelope::encode_base64(&env);
        let back = envelope::decode_base64(&text).unwrap();
        let opened = envelope::open_v1(&key(seed), &back, aad.as_deref()).unwrap();
        prop_assert_eq!(&opened[..], &pt[..]);
    }

    #[test]
    fn any_flipped_bit_is_rejected(
        pt in proptest::collection::vec(any::<u8>(), 0..512),
        pos in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut env = envelope::seal_v1(&key(1), &[3u8; 12], &pt, Some(b"ctx")).unwrap();
        let i = pos.index(env.len());
        env[i] ^= 1 << bit;
        let err = envelope::open_v1(&key(1), &env, Some(b"ctx")).unwrap_err();
        if i == 0 {
            let is_version = matches!(err, EnvelopeError::UnsupportedVersion { .. });
            prop_assert!(is_version);
        } else {
            prop_assert_eq!(err, EnvelopeError::AuthenticationFailed);
        }
    }

    #[test]
    fn truncation_is_rejected(pt in proptest::collection::vec(any::<u8>(), 1..256), cut in any::<proptest::sample::Index>()) {
        let env = envelope::seal_v1(&key(2), &[4u8; 12], &pt, None).unwrap();
        let keep = cut.index(env.len());
        prop_assert!(envelope::open_v1(&key(2), &env[..keep], None).is_err());
    }

    #[test]
    fn wrong_key_or_context_is_rejected(pt in proptest::collection::vec(any::<u8>(), 0..256), ctx in proptest::collection::vec(any::<u8>(), 1..32)) {
        let env = envelope::seal_v1(&key(5), &[6u8; 12], &pt, Some(&ctx)).unwrap();
        prop_assert_eq!(envelope::open_v1(&key(7), &env, Some(&ctx)).unwrap_err(), EnvelopeError::AuthenticationFailed);
        prop_assert_eq!(envelope::open_v1(&key(5), &env, None).unwrap_err(), EnvelopeError::AuthenticationFailed);
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), text in ".{0,128}") {
        let _ = envelope::EnvelopeRef::parse(&bytes);
        let _ = envelope::decode_any(&bytes);
        let _ = envelope::decode_base64(&text);
        let _ = envelope::decode_any(text.as_bytes());
        let _ = envelope::open_v1(&key(9), &bytes, None);
    }
}
