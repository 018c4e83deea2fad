//! Verification of real AWS Nitro attestation documents (shared fixtures).

mod common;

use common::{load, Fixture};
use zenalyze_attestation::{
    verify, MeasurementSet, Measurements, Policy, PolicyError, VerifyError,
    AWS_NITRO_ROOT_G1_SHA256,
};

fn prod(fixtures: &[Fixture]) -> &Fixture {
    &fixtures[0]
}

#[test]
fn prod_document_verifies_inside_its_window() {
    let Some(fx) = load("prod_document_verifies_inside_its_window") else {
        return;
    };
    let p = prod(&fx);
    let policy = p.wide_policy();
    let nonce = p.nonce.as_deref().expect("prod fixture has a nonce");
    // Several times inside the leaf window: start, just after the
    // timestamp, middle, last second.
    let times = [
        p.timestamp_ms,
        p.good_time_ms(),
        (p.leaf_not_before + p.leaf_not_after) / 2 * 1000,
        p.leaf_not_after * 1000,
        p.leaf_not_after * 1000 + 999,
    ];
    for now in times {
        let v = verify(&p.bytes, &policy, Some(nonce), now)
            .unwrap_or_else(|e| panic!("{} at {now}: {e}", p.name));
        assert_eq!(v.module_id, p.module_id);
        assert_eq!(v.timestamp_ms, p.timestamp_ms);
        assert_eq!(v.measurements, Measurements::Matched { set: 0 });
        assert!(v.nonce_checked);
        assert_eq!(v.nonce.as_deref(), Some(nonce));
        assert_eq!(v.public_key, None);
        assert_eq!(v.user_data, None);
        assert_eq!(v.cabundle_len, 4);
        assert_eq!(v.root_sha256, AWS_NITRO_ROOT_G1_SHA256);
        assert_eq!(v.leaf.not_before, p.leaf_not_before);
        assert_eq!(v.leaf.not_after, p.leaf_not_after);
        assert!(
            v.leaf.subject.contains("i-020b6af9246d90e92"),
            "{}",
            v.leaf.subject
        );
        assert_eq!(hex::encode(&v.pcrs[&0]), p.pcrs[0]);
        assert_eq!(hex::encode(&v.pcrs[&8]), p.pcrs[3]);
        assert_eq!(v.pcrs.len(), 16);
    }
    // The default production policy (5-minute freshness) accepts it right
    // after its timestamp.
    let strict = Policy::production(vec![p.measurements()]);
    verify(&p.bytes, &strict, Some(nonce), p.good_time_ms()).expect("fresh");
    // Without a nonce check it verifies too, and says so.
    let v = verify(&p.bytes, &policy, None, p.good_time_ms()).expect("no nonce check");
    assert!(!v.nonce_checked);
}

#[test]
fn prod_document_fails_outside_its_window() {
    let Some(fx) = load("prod_document_fails_outside_its_window") else {
        return;
    };
    let p = prod(&fx);
    let policy = p.wide_policy().with_max_age_ms(u64::MAX / 2);
    let policy = policy.with_max_future_skew_ms(u64::MAX / 2);
    let nonce = p.nonce.as_deref();
    for now in [
        p.leaf_not_before * 1000 - 1,
        p.leaf_not_before * 1000 - 3_600_000,
        (p.leaf_not_after + 1) * 1000,
        (p.leaf_not_after + 86_400) * 1000,
        1_900_000_000_000,
        0,
    ] {
        let err = verify(&p.bytes, &policy, nonce, now).expect_err("outside the window");
        assert!(
            matches!(err, VerifyError::CertificateExpiredOrNotYetValid { .. }),
            "{now}: {err}"
        );
    }
}

#[test]
fn prod_document_is_refused_when_stale_or_from_the_future() {
    let Some(fx) = load("prod_document_is_refused_when_stale_or_from_the_future") else {
        return;
    };
    let p = prod(&fx);
    let policy = Policy::production(vec![p.measurements()]);
    let nonce = p.nonce.as_deref();
    let err = verify(&p.bytes, &policy, nonce, p.timestamp_ms + 10 * 60 * 1000).unwrap_err();
    assert!(matches!(err, VerifyError::Stale { .. }), "{err}");
    // Leaf valid (notBefore is 3 s before the timestamp) but the document is
    // from the future beyond the skew.
    let policy = policy.with_max_future_skew_ms(1000);
    let err = verify(&p.bytes, &policy, nonce, p.leaf_not_before * 1000).unwrap_err();
    assert!(matches!(err, VerifyError::FromTheFuture { .. }), "{err}");
}

#[test]
fn prod_document_fails_with_any_pcr_changed() {
    let Some(fx) = load("prod_document_fails_with_any_pcr_changed") else {
        return;
    };
    let p = prod(&fx);
    let nonce = p.nonce.as_deref();
    let good = p.measurements();
    for which in 0..4 {
        for byte in [0usize, 23, 47] {
            let mut set = good.clone();
            let pcr = match which {
                0 => &mut set.pcr0,
                1 => &mut set.pcr1,
                2 => &mut set.pcr2,
                _ => &mut set.pcr8,
            };
            pcr[byte] ^= 0x01;
            let policy = Policy::production(vec![set]).with_max_age_ms(p.wide_policy().max_age_ms);
            let err = verify(&p.bytes, &policy, nonce, p.good_time_ms()).unwrap_err();
            assert_eq!(
                err,
                VerifyError::PcrMismatch,
                "PCR index {which} byte {byte}"
            );
        }
    }
    // Rolling deploy: a wrong set first and the right set second passes and
    // reports the index; the same with only wrong sets fails.
    let mut wrong = good.clone();
    wrong.pcr2[5] ^= 0xff;
    let policy = Policy::production(vec![wrong.clone(), good.clone()]);
    let v = verify(&p.bytes, &policy, nonce, p.good_time_ms()).expect("second set matches");
    assert_eq!(v.measurements, Measurements::Matched { set: 1 });
    let policy = Policy::production(vec![wrong.clone(), wrong]);
    assert_eq!(
        verify(&p.bytes, &policy, nonce, p.good_time_ms()).unwrap_err(),
        VerifyError::PcrMismatch
    );
    // Mixing PCRs of two sets does not match (all four from ONE set).
    let mut a = good.clone();
    a.pcr0[0] ^= 1;
    let mut b = good.clone();
    b.pcr1[0] ^= 1;
    let policy = Policy::production(vec![a, b]);
    assert_eq!(
        verify(&p.bytes, &policy, nonce, p.good_time_ms()).unwrap_err(),
        VerifyError::PcrMismatch
    );
    // allow_debug does not relax the production PCR check.
    let mut wrong = good.clone();
    wrong.pcr8[0] ^= 1;
    let policy = Policy::production(vec![wrong]).with_allow_debug(true);
    assert_eq!(
        verify(&p.bytes, &policy, nonce, p.good_time_ms()).unwrap_err(),
        VerifyError::PcrMismatch
    );
}

#[test]
fn prod_document_fails_with_a_wrong_nonce() {
    let Some(fx) = load("prod_document_fails_with_a_wrong_nonce") else {
        return;
    };
    let p = prod(&fx);
    let policy = p.wide_policy();
    let nonce = p.nonce.clone().expect("nonce");
    let mut wrong = nonce.clone();
    wrong[0] ^= 1;
    let last = wrong.len() - 1;
    let mut wrong_last = nonce.clone();
    wrong_last[last] ^= 0x80;
    for bad in [
        wrong,
        wrong_last,
        nonce[..nonce.len() - 1].to_vec(),
        [nonce.as_slice(), &[0]].concat(),
        vec![0u8; 32],
    ] {
        assert_eq!(
            verify(&p.bytes, &policy, Some(&bad), p.good_time_ms()).unwrap_err(),
            VerifyError::NonceMismatch
        );
    }
    assert_eq!(
        verify(&p.bytes, &policy, Some(&[]), p.good_time_ms()).unwrap_err(),
        VerifyError::EmptyChallenge
    );
}

#[test]
fn debug_document_without_nonce_fails_when_a_challenge_is_expected() {
    let Some(fx) = load("debug_document_without_nonce_fails_when_a_challenge_is_expected") else {
        return;
    };
    let d = &fx[1];
    assert!(d.nonce.is_none());
    let policy = d.wide_policy_debug();
    assert_eq!(
        verify(&d.bytes, &policy, Some(b"challenge"), d.good_time_ms()).unwrap_err(),
        VerifyError::NonceMissing
    );
}

trait DebugPolicy {
    fn wide_policy_debug(&self) -> Policy;
}

impl DebugPolicy for Fixture {
    fn wide_policy_debug(&self) -> Policy {
        Policy::development(zenalyze_attestation::TrustedRoot::aws_nitro_g1())
            .with_max_age_ms(self.wide_policy().max_age_ms)
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    let Some(fx) = load("every_flipped_byte_is_refused") else {
        return;
    };
    let p = prod(&fx);
    let policy = p.wide_policy();
    let nonce = p.nonce.as_deref();
    let now = p.good_time_ms();
    verify(&p.bytes, &policy, nonce, now).expect("unmodified document verifies");
    let len = p.bytes.len();
    // Every 7th byte over the whole file, plus every byte of the signature
    // (the last 96 bytes) and of the first 64 bytes (COSE and map headers).
    let mut offsets: Vec<usize> = (0..len).step_by(7).collect();
    offsets.extend(len - 96..len);
    offsets.extend(0..64);
    offsets.sort_unstable();
    offsets.dedup();
    let mut tried = 0;
    for &offset in &offsets {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut doc = p.bytes.clone();
            doc[offset] ^= mask;
            let result = verify(&doc, &policy, nonce, now);
            assert!(
                result.is_err(),
                "flipping byte {offset} with mask {mask:#04x} was accepted"
            );
            tried += 1;
        }
    }
    assert!(tried > 3 * 700, "{tried}");
    // Truncations and extensions are refused too.
    for cut in [1usize, 2, 50, 96, 97, len / 2, len - 1] {
        assert!(
            verify(&p.bytes[..len - cut], &policy, nonce, now).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = p.bytes.clone();
    longer.push(0);
    assert!(verify(&longer, &policy, nonce, now).is_err());
}

#[test]
fn debug_documents_need_allow_debug() {
    let Some(fx) = load("debug_documents_need_allow_debug") else {
        return;
    };
    let prod_measurements = prod(&fx).measurements();
    for d in &fx[1..] {
        let now = d.good_time_ms();
        let nonce = d.nonce.as_deref();
        // Production policy (even with the prod fixture's measurements).
        let policy = Policy::production(vec![prod_measurements.clone()])
            .with_max_age_ms(d.wide_policy().max_age_ms);
        assert_eq!(
            verify(&d.bytes, &policy, nonce, now).unwrap_err(),
            VerifyError::DebugNotAllowed,
            "{}",
            d.name
        );
        // Debug allowed: accepted inside the window, without any set.
        let policy = d.wide_policy_debug();
        let v = verify(&d.bytes, &policy, nonce, now).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        assert!(v.is_debug());
        assert_eq!(v.module_id, d.module_id);
        assert_eq!(v.nonce_checked, nonce.is_some());
        // With debug allowed and a production set too.
        let policy = d
            .wide_policy_debug()
            .with_measurements(prod_measurements.clone());
        assert!(verify(&d.bytes, &policy, nonce, now).unwrap().is_debug());
        // Outside the window: refused even with debug allowed.
        let policy = d.wide_policy_debug().with_max_age_ms(u64::MAX / 2);
        for t in [
            d.leaf_not_before * 1000 - 1000,
            (d.leaf_not_after + 1) * 1000,
        ] {
            assert!(
                matches!(
                    verify(&d.bytes, &policy, nonce, t).unwrap_err(),
                    VerifyError::CertificateExpiredOrNotYetValid { .. }
                ),
                "{} at {t}",
                d.name
            );
        }
    }
    // The first debug document carries public_key and user_data.
    let d = &fx[1];
    let v = verify(&d.bytes, &d.wide_policy_debug(), None, d.good_time_ms()).unwrap();
    assert!(v.public_key.is_some() && v.user_data.is_some());
}

#[test]
fn a_measurement_set_cannot_whitelist_debug_pcrs() {
    let zero = "0".repeat(96);
    let set = MeasurementSet::from_hex(&zero, &zero, &zero, &zero).unwrap();
    let policy = Policy::production(vec![set]);
    assert_eq!(
        policy.validate(),
        Err(PolicyError::ZeroMeasurement { set: 0, pcr: 0 })
    );
    let Some(fx) = load("a_measurement_set_cannot_whitelist_debug_pcrs") else {
        return;
    };
    let d = &fx[1];
    assert_eq!(
        verify(&d.bytes, &policy, None, d.good_time_ms()).unwrap_err(),
        VerifyError::Policy(PolicyError::ZeroMeasurement { set: 0, pcr: 0 })
    );
}

#[test]
fn empty_policy_refuses_everything() {
    let Some(fx) = load("empty_policy_refuses_everything") else {
        return;
    };
    let empty = Policy::production(vec![]);
    for f in &fx {
        let err = verify(&f.bytes, &empty, f.nonce.as_deref(), f.good_time_ms()).unwrap_err();
        assert_eq!(err, VerifyError::Policy(PolicyError::Empty), "{}", f.name);
        let err = verify(&f.bytes, &empty, None, f.good_time_ms()).unwrap_err();
        assert_eq!(err, VerifyError::Policy(PolicyError::Empty), "{}", f.name);
    }
}

#[test]
fn another_root_is_refused() {
    let Some(fx) = load("another_root_is_refused") else {
        return;
    };
    let p = prod(&fx);
    let mut fp = AWS_NITRO_ROOT_G1_SHA256;
    fp[31] ^= 1;
    let policy = p
        .wide_policy()
        .with_trusted_root(zenalyze_attestation::TrustedRoot::from_sha256(fp));
    let err = verify(&p.bytes, &policy, p.nonce.as_deref(), p.good_time_ms()).unwrap_err();
    assert!(matches!(err, VerifyError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn chain_tampering_is_detected() {
    // Re-encode the document with a modified cabundle: the chain check (or
    // the signature over the payload) must fail. Uses only public API: the
    // document bytes are edited at the CBOR level.
    let Some(fx) = load("chain_tampering_is_detected") else {
        return;
    };
    let p = prod(&fx);
    let policy = p.wide_policy();
    let now = p.good_time_ms();
    // Swap two intermediates inside the payload (same lengths not needed:
    // rebuild with ciborium).
    let doc: ciborium::Value = ciborium::de::from_reader(p.bytes.as_slice()).unwrap();
    let ciborium::Value::Array(parts) = doc else {
        panic!("array")
    };
    let ciborium::Value::Bytes(payload) = parts[2].clone() else {
        panic!("payload")
    };
    let map: ciborium::Value = ciborium::de::from_reader(payload.as_slice()).unwrap();
    let ciborium::Value::Map(entries) = map else {
        panic!("map")
    };
    let rebuild = |entries: Vec<(ciborium::Value, ciborium::Value)>| -> Vec<u8> {
        let mut payload = Vec::new();
        ciborium::ser::into_writer(&ciborium::Value::Map(entries), &mut payload).unwrap();
        let mut parts = parts.clone();
        parts[2] = ciborium::Value::Bytes(payload);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&ciborium::Value::Array(parts), &mut out).unwrap();
        out
    };
    // Sanity: re-encoding unchanged entries still verifies (ciborium writes
    // the same canonical bytes as AWS).
    let same = rebuild(entries.clone());
    assert_eq!(same, p.bytes, "re-encoding is byte-identical");

    let cab_index = entries
        .iter()
        .position(|(k, _)| k == &ciborium::Value::Text("cabundle".into()))
        .unwrap();
    let ciborium::Value::Array(cab) = entries[cab_index].1.clone() else {
        panic!("cabundle")
    };
    let variants: Vec<(&str, Vec<ciborium::Value>)> = vec![
        ("swapped intermediates", {
            let mut c = cab.clone();
            c.swap(1, 2);
            c
        }),
        ("missing intermediate", {
            let mut c = cab.clone();
            c.remove(2);
            c
        }),
        ("root only", vec![cab[0].clone()]),
        ("reversed", cab.iter().rev().cloned().collect()),
        ("empty", vec![]),
        ("duplicate root", {
            let mut c = cab.clone();
            c.insert(0, cab[0].clone());
            c
        }),
    ];
    for (what, c) in variants {
        let mut e = entries.clone();
        e[cab_index].1 = ciborium::Value::Array(c);
        let doc = rebuild(e);
        assert!(
            verify(&doc, &policy, p.nonce.as_deref(), now).is_err(),
            "{what}"
        );
    }
    // Even a re-signed-looking payload with a valid chain but a changed
    // module id fails the COSE signature.
    let mut e = entries.clone();
    let m = e
        .iter()
        .position(|(k, _)| k == &ciborium::Value::Text("module_id".into()))
        .unwrap();
    e[m].1 = ciborium::Value::Text("i-000000000000000000-enc0000000000000000".into());
    assert_eq!(
        verify(&rebuild(e), &policy, p.nonce.as_deref(), now).unwrap_err(),
        VerifyError::DocumentSignature
    );
    // Tagging with 18 is accepted (same signature); another tag is not.
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&p.bytes);
    verify(&tagged, &policy, p.nonce.as_deref(), now).expect("tag 18 accepted");
    let mut tagged = vec![0xd1];
    tagged.extend_from_slice(&p.bytes);
    assert!(verify(&tagged, &policy, p.nonce.as_deref(), now).is_err());
}
