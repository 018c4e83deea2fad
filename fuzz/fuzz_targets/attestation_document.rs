//! Fuzz `zenalyze_attestation::verify` with arbitrary document bytes.
//!
//! Invariants: never panics, never accepts anything but a document signed
//! through the pinned AWS root whose PCRs match the policy (or are all zero,
//! debug allowed here so that the whole pipeline is reachable).
//!
//! Seed corpus: the real AWS documents of `shared/fixtures/nitro/*.cose`
//! (copied into `fuzz/corpus/attestation_document/`, which git ignores).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zenalyze_attestation::{verify, MeasurementSet, Measurements, Policy};

/// Inside the validity window of the production fixture's leaf
/// (document timestamp 1665651482136 + 30 s), so that mutated copies of it
/// get past the chain checks and exercise the later ones.
const NOW_MS: u64 = 1_665_651_512_136;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        // The measurement set of the public production fixture.
        let set = MeasurementSet::from_hex(
            "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b",
            "bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b214a414b7607236edf26fcb78654e63f",
            "d8f114da658de5481f8d9ec73907feb553560787522f705c92d7d96beed8e15e2aa611984e098c576832c292e8dc469a",
            "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb",
        )
        .expect("valid PCR hex");
        Policy::production(vec![set])
            .with_allow_debug(true)
            .with_max_age_ms(u64::MAX / 4)
            .with_max_future_skew_ms(u64::MAX / 4)
    })
}

fuzz_target!(|data: &[u8]| {
    let policy = policy();
    for nonce in [None, Some(&b"challenge"[..])] {
        if let Ok(v) = verify(data, policy, nonce, NOW_MS) {
            // Anything accepted satisfies the policy.
            assert_eq!(v.root_sha256, *policy.trusted_root.sha256());
            assert!(v.timestamp_ms > 0);
            match v.measurements {
                Measurements::Debug => assert!(policy.allow_debug),
                Measurements::Matched { set } => assert!(set < policy.measurements.len()),
            }
            assert_eq!(v.nonce_checked, nonce.is_some());
            if let Some(n) = nonce {
                assert_eq!(v.nonce.as_deref(), Some(n));
            }
        }
    }
});
