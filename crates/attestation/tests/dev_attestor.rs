//! The development attestor: round trips through the same verifier.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use zenalyze_attestation::dev::{DevDocumentRequest, DevError, DevRoot};
use zenalyze_attestation::{
    verify, MeasurementSet, Measurements, Policy, PolicyError, TrustedRoot, VerifyError,
    AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, PCR_LEN,
};

/// 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;

fn root() -> &'static DevRoot {
    static ROOT: OnceLock<DevRoot> = OnceLock::new();
    ROOT.get_or_init(|| DevRoot::generate(NOW_MS / 1000).expect("generate"))
}

fn other_root() -> &'static DevRoot {
    static ROOT: OnceLock<DevRoot> = OnceLock::new();
    ROOT.get_or_init(|| DevRoot::generate(NOW_MS / 1000).expect("generate"))
}

fn set(seed: u8) -> MeasurementSet {
    MeasurementSet {
        pcr0: [seed; PCR_LEN],
        pcr1: [seed.wrapping_add(1); PCR_LEN],
        pcr2: [seed.wrapping_add(2); PCR_LEN],
        pcr8: [seed.wrapping_add(3); PCR_LEN],
    }
}

#[test]
fn aws_root_constant_has_the_pinned_fingerprint() {
    let from_pem = TrustedRoot::from_pem(AWS_NITRO_ROOT_G1_PEM).expect("AWS root parses");
    assert_eq!(*from_pem.sha256(), AWS_NITRO_ROOT_G1_SHA256);
    assert_eq!(
        from_pem.sha256_hex(),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    assert_eq!(from_pem, TrustedRoot::aws_nitro_g1());
    assert_eq!(
        TrustedRoot::from_sha256_hex(
            "64:1A:03:21:A3:E2:44:EF:E4:56:46:31:95:D6:06:31:7E:D7:CD:CC:3C:17:56:E0:98:93:F3:C6:8F:79:BB:5B"
        )
        .unwrap(),
        TrustedRoot::aws_nitro_g1()
    );
    assert!(TrustedRoot::from_sha256_hex("641a").is_err());
    assert!(TrustedRoot::from_pem("not pem").is_err());
}

#[test]
fn round_trip_debug_document() {
    let root = root();
    let challenge = b"a 32-byte challenge from client!";
    let doc = root
        .issue(
            &DevDocumentRequest::new("dev-enclave", NOW_MS)
                .with_public_key(vec![1, 2, 3])
                .with_user_data(vec![])
                .with_nonce(challenge.to_vec()),
        )
        .unwrap();
    let policy = root.development_policy();
    let v = verify(&doc, &policy, Some(challenge), NOW_MS + 2000).unwrap();
    assert_eq!(v.module_id, "dev-enclave");
    assert_eq!(v.timestamp_ms, NOW_MS);
    assert_eq!(v.measurements, Measurements::Debug);
    assert_eq!(v.public_key, Some(vec![1, 2, 3]));
    assert_eq!(v.user_data, Some(vec![]));
    assert_eq!(v.nonce.as_deref(), Some(&challenge[..]));
    assert!(v.nonce_checked);
    assert_eq!(v.cabundle_len, 1);
    assert_eq!(v.root_sha256, root.sha256_fingerprint());
    assert_eq!(v.pcrs.len(), 16);
    assert!(v.leaf.subject.contains("zenalyze-dev-enclave"));
    assert!(v.leaf.issuer.contains("Zenalyze Development Nitro Root"));
    // Without allow_debug (and without sets) the policy is empty.
    let strict = root.development_policy().with_allow_debug(false);
    assert_eq!(
        verify(&doc, &strict, Some(challenge), NOW_MS).unwrap_err(),
        VerifyError::Policy(PolicyError::Empty)
    );
    // Without allow_debug but with a set: the debug document is refused.
    let strict = strict.with_measurements(set(9));
    assert_eq!(
        verify(&doc, &strict, Some(challenge), NOW_MS).unwrap_err(),
        VerifyError::DebugNotAllowed
    );
}

#[test]
fn measurement_set_path() {
    let root = root();
    let doc = root
        .issue(&DevDocumentRequest::new("m", NOW_MS).with_measurements(&set(7)))
        .unwrap();
    let policy = Policy::production(vec![set(1), set(7)]).with_trusted_root(root.trusted_root());
    let v = verify(&doc, &policy, None, NOW_MS).unwrap();
    assert_eq!(v.measurements, Measurements::Matched { set: 1 });
    assert!(!v.is_debug());
    // Each PCR of the set changed in the policy -> refused.
    for which in 0..4 {
        let mut s = set(7);
        match which {
            0 => s.pcr0[10] ^= 1,
            1 => s.pcr1[10] ^= 1,
            2 => s.pcr2[10] ^= 1,
            _ => s.pcr8[10] ^= 1,
        }
        let policy = Policy::production(vec![s]).with_trusted_root(root.trusted_root());
        assert_eq!(
            verify(&doc, &policy, None, NOW_MS).unwrap_err(),
            VerifyError::PcrMismatch
        );
    }
    // allow_debug does not accept a non-matching production document.
    let policy = root.development_policy().with_measurements(set(1));
    assert_eq!(
        verify(&doc, &policy, None, NOW_MS).unwrap_err(),
        VerifyError::PcrMismatch
    );
    // An unsigned image (PCR8 all zero) is a legitimate production set.
    let mut unsigned = set(7);
    unsigned.pcr8 = [0; PCR_LEN];
    let doc = root
        .issue(&DevDocumentRequest::new("m", NOW_MS).with_measurements(&unsigned))
        .unwrap();
    let policy = Policy::production(vec![unsigned]).with_trusted_root(root.trusted_root());
    assert_eq!(
        verify(&doc, &policy, None, NOW_MS).unwrap().measurements,
        Measurements::Matched { set: 0 }
    );
}

#[test]
fn partially_zero_and_missing_pcrs_are_refused() {
    let root = root();
    let policy = root.development_policy().with_measurements(set(1));
    // PCR1 zero, the rest real: not debug, not a measurement.
    let mut pcrs: BTreeMap<u8, Vec<u8>> = (0..16).map(|i| (i, vec![0x11; PCR_LEN])).collect();
    pcrs.insert(1, vec![0; PCR_LEN]);
    let doc = root
        .issue(&DevDocumentRequest::new("m", NOW_MS).with_pcrs(pcrs.clone()))
        .unwrap();
    assert_eq!(
        verify(&doc, &policy, None, NOW_MS).unwrap_err(),
        VerifyError::PartiallyZeroPcrs(1)
    );
    // Debug detection needs PCR8 zero too.
    let mut pcrs: BTreeMap<u8, Vec<u8>> = (0..16).map(|i| (i, vec![0; PCR_LEN])).collect();
    pcrs.insert(8, vec![0x22; PCR_LEN]);
    let doc = root
        .issue(&DevDocumentRequest::new("m", NOW_MS).with_pcrs(pcrs))
        .unwrap();
    assert_eq!(
        verify(&doc, &policy, None, NOW_MS).unwrap_err(),
        VerifyError::PartiallyZeroPcrs(0)
    );
    // The dev attestor refuses to issue a document without PCR8.
    let pcrs: BTreeMap<u8, Vec<u8>> = [0u8, 1, 2].iter().map(|i| (*i, vec![0; PCR_LEN])).collect();
    assert!(matches!(
        root.issue(&DevDocumentRequest::new("m", NOW_MS).with_pcrs(pcrs)),
        Err(DevError::InvalidRequest(_))
    ));
}

#[test]
fn dev_document_refused_under_the_aws_root() {
    let root = root();
    let doc = root.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    // The development policy but with the AWS root pinned.
    let policy = root
        .development_policy()
        .with_trusted_root(TrustedRoot::aws_nitro_g1());
    assert!(matches!(
        verify(&doc, &policy, None, NOW_MS).unwrap_err(),
        VerifyError::UntrustedRoot { .. }
    ));
    // The production policy with its measurements.
    let policy = Policy::production(vec![set(3)]);
    assert!(verify(&doc, &policy, None, NOW_MS).is_err());
}

#[test]
fn dev_document_refused_under_another_dev_root() {
    let (a, b) = (root(), other_root());
    assert_ne!(a.sha256_fingerprint(), b.sha256_fingerprint());
    let doc = a.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    assert!(matches!(
        verify(&doc, &b.development_policy(), None, NOW_MS).unwrap_err(),
        VerifyError::UntrustedRoot { .. }
    ));
    verify(&doc, &a.development_policy(), None, NOW_MS).unwrap();
}

#[test]
fn dev_document_time_checks() {
    let root = root();
    let doc = root.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    let policy = root.development_policy();
    // Stale after the default 5 minutes.
    assert!(matches!(
        verify(&doc, &policy, None, NOW_MS + 5 * 60 * 1000 + 1).unwrap_err(),
        VerifyError::Stale { .. }
    ));
    verify(&doc, &policy, None, NOW_MS + 5 * 60 * 1000).unwrap();
    // From the future beyond the default 60 s skew.
    assert!(matches!(
        verify(&doc, &policy, None, NOW_MS - 61_000).unwrap_err(),
        VerifyError::FromTheFuture { .. }
    ));
    verify(&doc, &policy, None, NOW_MS - 60_000).unwrap();
    // After the leaf's 3 hours, with an unlimited freshness window.
    let lax = policy.clone().with_max_age_ms(u64::MAX);
    assert!(matches!(
        verify(&doc, &lax, None, NOW_MS + 3 * 3600 * 1000 + 1000).unwrap_err(),
        VerifyError::CertificateExpiredOrNotYetValid { .. }
    ));
    // A document timestamped before the root existed: the leaf would be
    // valid but the root is not yet.
    let early = NOW_MS - 2 * 3600 * 1000;
    let doc = root.issue(&DevDocumentRequest::new("m", early)).unwrap();
    let err = verify(&doc, &policy, None, early).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::CertificateExpiredOrNotYetValid {
                cert: zenalyze_attestation::CertRole::Root,
                ..
            }
        ),
        "{err}"
    );
    // Nonce: expected but absent, and mismatching.
    let doc = root.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    assert_eq!(
        verify(&doc, &policy, Some(b"x"), NOW_MS).unwrap_err(),
        VerifyError::NonceMissing
    );
    let doc = root
        .issue(&DevDocumentRequest::new("m", NOW_MS).with_nonce(b"abc".to_vec()))
        .unwrap();
    assert_eq!(
        verify(&doc, &policy, Some(b"abd"), NOW_MS).unwrap_err(),
        VerifyError::NonceMismatch
    );
    assert_eq!(
        verify(&doc, &policy, Some(b"ab"), NOW_MS).unwrap_err(),
        VerifyError::NonceMismatch
    );
}

#[test]
fn every_flipped_byte_of_a_dev_document_is_refused() {
    let root = root();
    let doc = root
        .issue(
            &DevDocumentRequest::new("m", NOW_MS)
                .with_public_key(vec![5; 40])
                .with_nonce(vec![6; 32]),
        )
        .unwrap();
    let policy = root.development_policy();
    verify(&doc, &policy, Some(&[6; 32]), NOW_MS).unwrap();
    for offset in 0..doc.len() {
        let mut d = doc.clone();
        d[offset] ^= 0x04;
        assert!(
            verify(&d, &policy, Some(&[6; 32]), NOW_MS).is_err(),
            "offset {offset} accepted"
        );
    }
}

#[test]
fn root_persistence() {
    let root = root();
    let pem = root.to_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.contains("-----BEGIN CERTIFICATE-----\n"));
    let again = DevRoot::from_pem(&pem).unwrap();
    assert_eq!(again.sha256_fingerprint(), root.sha256_fingerprint());
    assert_eq!(again.cert_der(), root.cert_der());
    assert_eq!(again.pkcs8_der(), root.pkcs8_der());
    // Documents issued by the reloaded root verify under the original's
    // fingerprint.
    let doc = again.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    verify(&doc, &root.development_policy(), None, NOW_MS).unwrap();
    // Raw form.
    let raw = DevRoot::from_pkcs8_and_cert(root.pkcs8_der(), root.cert_der()).unwrap();
    assert_eq!(raw.sha256_fingerprint(), root.sha256_fingerprint());
    // The certificate PEM gives the same trusted root.
    let trusted = TrustedRoot::from_pem(&root.cert_pem().unwrap()).unwrap();
    assert_eq!(trusted, root.trusted_root());
    assert_eq!(
        TrustedRoot::from_sha256_hex(&root.sha256_fingerprint_hex()).unwrap(),
        trusted
    );
    // Key of one root with the certificate of another: refused.
    let other = other_root();
    assert_eq!(
        DevRoot::from_pkcs8_and_cert(other.pkcs8_der(), root.cert_der()).unwrap_err(),
        DevError::InvalidRoot("private key does not match the certificate")
    );
    // Missing or garbage blocks: refused.
    let cert_only = root.cert_pem().unwrap();
    assert!(DevRoot::from_pem(&cert_only).is_err());
    assert!(DevRoot::from_pem("").is_err());
    assert!(DevRoot::from_pem(&format!("{}{}", pem.as_str(), cert_only)).is_err());
    // Debug output never shows the key.
    let debug = format!("{root:?}");
    assert!(debug.contains("redacted") && !debug.contains("PRIVATE"));
}

#[test]
fn request_limits_are_enforced() {
    let root = root();
    let bad = [
        DevDocumentRequest::new("", NOW_MS),
        DevDocumentRequest::new("x".repeat(257), NOW_MS),
        DevDocumentRequest::new("m", 0),
        DevDocumentRequest::new("m", NOW_MS).with_public_key(vec![]),
        DevDocumentRequest::new("m", NOW_MS).with_public_key(vec![0; 1025]),
        DevDocumentRequest::new("m", NOW_MS).with_user_data(vec![0; 1025]),
        DevDocumentRequest::new("m", NOW_MS).with_nonce(vec![0; 1025]),
        DevDocumentRequest::new("m", NOW_MS).with_pcrs(BTreeMap::new()),
        DevDocumentRequest::new("m", NOW_MS).with_pcrs((0..16).map(|i| (i, vec![0; 32])).collect()),
        DevDocumentRequest::new("m", NOW_MS)
            .with_pcrs((0..33).map(|i| (i, vec![0; PCR_LEN])).collect()),
    ];
    for (i, req) in bad.iter().enumerate() {
        assert!(
            matches!(root.issue(req), Err(DevError::InvalidRequest(_))),
            "request {i}"
        );
    }
    // The limits themselves are accepted.
    let doc = root
        .issue(
            &DevDocumentRequest::new("x".repeat(256), NOW_MS)
                .with_public_key(vec![1; 1024])
                .with_user_data(vec![2; 1024])
                .with_nonce(vec![3; 1024])
                .with_pcrs((0..32).map(|i| (i, vec![0; PCR_LEN])).collect()),
        )
        .unwrap();
    let v = verify(&doc, &root.development_policy(), Some(&[3; 1024]), NOW_MS).unwrap();
    assert_eq!(v.pcrs.len(), 32);
}

#[test]
fn invalid_policies_are_refused_before_parsing() {
    let root = root();
    let doc = root.issue(&DevDocumentRequest::new("m", NOW_MS)).unwrap();
    let p = root.development_policy().with_max_age_ms(0);
    assert_eq!(
        verify(&doc, &p, None, NOW_MS).unwrap_err(),
        VerifyError::Policy(PolicyError::ZeroMaxAge)
    );
    // Even garbage input reports the policy problem first.
    assert_eq!(
        verify(b"garbage", &Policy::production(vec![]), None, NOW_MS).unwrap_err(),
        VerifyError::Policy(PolicyError::Empty)
    );
    let mut z = set(1);
    z.pcr2 = [0; PCR_LEN];
    assert_eq!(
        Policy::production(vec![set(5), z]).validate(),
        Err(PolicyError::ZeroMeasurement { set: 1, pcr: 2 })
    );
    assert!(MeasurementSet::from_hex("00", "00", "00", "00").is_err());
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<DevRoot>();
    check::<Policy>();
    check::<zenalyze_attestation::VerifiedDocument>();
    check::<VerifyError>();
}
