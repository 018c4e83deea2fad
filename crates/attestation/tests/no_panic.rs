//! Property tests: random bytes and random mutations never panic and are
//! never accepted.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use zenalyze_attestation::dev::{DevDocumentRequest, DevRoot};
use zenalyze_attestation::{verify, Policy, TrustedRoot};

const NOW_MS: u64 = 1_767_225_600_000;

struct Setup {
    root: DevRoot,
    doc: Vec<u8>,
    prod: Option<(Vec<u8>, Policy, Vec<u8>, u64)>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let root = DevRoot::generate(NOW_MS / 1000).unwrap();
        let doc = root
            .issue(
                &DevDocumentRequest::new("m", NOW_MS)
                    .with_public_key(vec![1; 41])
                    .with_nonce(vec![2; 32]),
            )
            .unwrap();
        let prod = common::load("no_panic (AWS part)").map(|fx| {
            let p = &fx[0];
            (
                p.bytes.clone(),
                p.wide_policy(),
                p.nonce.clone().unwrap(),
                p.good_time_ms(),
            )
        });
        Setup { root, doc, prod }
    })
}

fn lenient(root: &DevRoot) -> Policy {
    root.development_policy()
        .with_max_age_ms(u64::MAX)
        .with_max_future_skew_ms(u64::MAX)
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

fn apply(doc: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for m in muts {
        if d.is_empty() {
            break;
        }
        let len = d.len();
        match m {
            Mutation::Flip(i, mask) => d[i % len] ^= mask,
            Mutation::Insert(i, b) => d.insert(i % (len + 1), *b),
            Mutation::Remove(i) => {
                d.remove(i % len);
            }
            Mutation::Truncate(i) => d.truncate(i % len),
            Mutation::Overwrite(i, bytes) => {
                for (k, b) in bytes.iter().enumerate() {
                    let at = (i % len + k) % len;
                    d[at] = *b;
                }
            }
        }
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let s = setup();
        prop_assert!(verify(&bytes, &lenient(&s.root), None, NOW_MS).is_err());
        let prod = Policy::production(vec![]).with_allow_debug(true);
        prop_assert!(verify(&bytes, &prod, Some(b"n"), NOW_MS).is_err());
    }

    #[test]
    fn cbor_shaped_bytes_never_panic(
        head in proptest::sample::select(vec![0x84u8, 0xd2, 0x80, 0xa1, 0x9f, 0xbf, 0x5f, 0x7f, 0x1b, 0xfb]),
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        let s = setup();
        let mut doc = vec![head];
        doc.extend_from_slice(&bytes);
        prop_assert!(verify(&doc, &lenient(&s.root), None, NOW_MS).is_err());
    }

    #[test]
    fn mutated_dev_documents_never_panic_nor_verify(muts in proptest::collection::vec(mutation(), 1..4)) {
        let s = setup();
        let d = apply(&s.doc, &muts);
        let result = verify(&d, &lenient(&s.root), Some(&[2; 32]), NOW_MS);
        if d != s.doc {
            prop_assert!(result.is_err(), "mutated document accepted: {:?}", muts);
        } else {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn mutated_aws_documents_never_panic_nor_verify(muts in proptest::collection::vec(mutation(), 1..4)) {
        let s = setup();
        let Some((doc, policy, nonce, now)) = &s.prod else {
            return Ok(());
        };
        let d = apply(doc, &muts);
        let result = verify(&d, policy, Some(nonce), *now);
        if &d != doc {
            prop_assert!(result.is_err(), "mutated document accepted: {:?}", muts);
        }
        // With another trusted root nothing is accepted either way.
        let dev = lenient(&s.root).with_trusted_root(TrustedRoot::from_sha256([7; 32]));
        prop_assert!(verify(&d, &dev, None, *now).is_err());
    }
}

fn nonzero_pcr() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 48)
        .prop_filter("not all zero", |v| v.iter().any(|b| *b != 0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Whatever the development attestor issues, the verifier reads back
    /// exactly (encoder and strict decoder agree on every field).
    #[test]
    fn dev_documents_round_trip(
        module_id in "[ -~\u{e9}\u{4e2d}]{1,64}",
        timestamp_offset in 0u64..3_600_000,
        pcr0 in nonzero_pcr(),
        pcr1 in nonzero_pcr(),
        pcr2 in nonzero_pcr(),
        pcr8 in proptest::collection::vec(any::<u8>(), 48),
        extra in proptest::collection::btree_map(3u8..32, proptest::collection::vec(any::<u8>(), 48), 0..8),
        public_key in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..200)),
        user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        nonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..200)),
    ) {
        let s = setup();
        let mut pcrs = extra;
        pcrs.insert(0, pcr0.clone());
        pcrs.insert(1, pcr1.clone());
        pcrs.insert(2, pcr2.clone());
        pcrs.insert(8, pcr8.clone());
        let ts = NOW_MS + timestamp_offset;
        let request = DevDocumentRequest {
            module_id: module_id.clone(),
            timestamp_ms: ts,
            pcrs: pcrs.clone(),
            public_key: public_key.clone(),
            user_data: user_data.clone(),
            nonce: nonce.clone(),
        };
        let doc = s.root.issue(&request).unwrap();
        let set = zenalyze_attestation::MeasurementSet {
            pcr0: pcr0.clone().try_into().unwrap(),
            pcr1: pcr1.clone().try_into().unwrap(),
            pcr2: pcr2.clone().try_into().unwrap(),
            pcr8: pcr8.clone().try_into().unwrap(),
        };
        let policy = Policy::production(vec![set]).with_trusted_root(s.root.trusted_root());
        let v = verify(&doc, &policy, nonce.as_deref(), ts + 1).unwrap();
        prop_assert_eq!(v.module_id, module_id);
        prop_assert_eq!(v.timestamp_ms, ts);
        prop_assert_eq!(v.pcrs, pcrs);
        prop_assert_eq!(v.public_key, public_key);
        prop_assert_eq!(v.user_data, user_data);
        prop_assert_eq!(v.nonce, nonce.clone());
        prop_assert_eq!(v.nonce_checked, nonce.is_some());
    }
}
