//! Unit tests of the strict parsers (COSE_Sign1 envelope and payload map).

use ciborium::Value;

use crate::cose::{encode_payload, sig_structure, CoseSign1, Payload, PROTECTED_ES384};
use crate::error::VerifyError;

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn good_payload() -> Payload {
    Payload {
        module_id: "m".into(),
        timestamp_ms: 1,
        pcrs: (0..16).map(|i| (i, vec![0; 48])).collect(),
        certificate: vec![1; 10],
        cabundle: vec![vec![2; 10]],
        public_key: None,
        user_data: Some(vec![]),
        nonce: Some(vec![3; 4]),
    }
}

fn good_entries() -> Vec<(Value, Value)> {
    let Value::Map(m) =
        ciborium::de::from_reader(encode_payload(&good_payload()).as_slice()).unwrap()
    else {
        panic!("map")
    };
    m
}

fn with(key: &str, value: Value) -> Vec<u8> {
    let mut m = good_entries();
    for (k, v) in m.iter_mut() {
        if *k == t(key) {
            *v = value.clone();
        }
    }
    enc(&Value::Map(m))
}

fn without(key: &str) -> Vec<u8> {
    let mut m = good_entries();
    m.retain(|(k, _)| *k != t(key));
    enc(&Value::Map(m))
}

fn payload_err(bytes: &[u8]) -> VerifyError {
    Payload::parse(bytes).expect_err("must be refused")
}

#[test]
fn good_payload_parses_and_encoder_is_canonical() {
    let bytes = encode_payload(&good_payload());
    let p = Payload::parse(&bytes).unwrap();
    assert_eq!(p.module_id, "m");
    assert_eq!(p.pcrs.len(), 16);
    assert_eq!(p.public_key, None);
    assert_eq!(p.user_data, Some(vec![]));
    assert_eq!(p.nonce, Some(vec![3; 4]));
    // Our hand-written encoder agrees with ciborium's.
    assert_eq!(enc(&Value::Map(good_entries())), bytes);
    // Optional fields may be absent altogether.
    let mut m = good_entries();
    m.retain(|(k, _)| *k != t("public_key") && *k != t("user_data") && *k != t("nonce"));
    let p = Payload::parse(&enc(&Value::Map(m))).unwrap();
    assert_eq!((p.public_key, p.user_data, p.nonce), (None, None, None));
}

#[test]
fn payload_fields_are_strict() {
    let mut dup = good_entries();
    dup.push((t("module_id"), t("other")));
    assert_eq!(
        payload_err(&enc(&Value::Map(dup))),
        VerifyError::MalformedPayload("duplicate module_id")
    );
    let mut dup = good_entries();
    dup.push((t("nonce"), Value::Null));
    assert_eq!(
        payload_err(&enc(&Value::Map(dup))),
        VerifyError::MalformedPayload("duplicate nonce")
    );
    let mut unknown = good_entries();
    unknown.push((t("extra"), int(1)));
    assert_eq!(
        payload_err(&enc(&Value::Map(unknown))),
        VerifyError::MalformedPayload("unknown payload field")
    );
    let mut intkey = good_entries();
    intkey.push((int(1), int(1)));
    assert!(matches!(
        payload_err(&enc(&Value::Map(intkey))),
        VerifyError::MalformedPayload(_)
    ));

    for key in [
        "module_id",
        "digest",
        "timestamp",
        "pcrs",
        "certificate",
        "cabundle",
    ] {
        assert!(
            matches!(payload_err(&without(key)), VerifyError::MalformedPayload(_)),
            "{key}"
        );
    }
    let bad: Vec<(&str, Value)> = vec![
        ("module_id", t("")),
        ("module_id", t(&"x".repeat(257))),
        ("module_id", Value::Bytes(b"m".to_vec())),
        ("digest", t("SHA256")),
        ("digest", t("sha384")),
        ("digest", Value::Null),
        ("timestamp", int(0)),
        ("timestamp", int(-5)),
        ("timestamp", t("1")),
        ("timestamp", Value::Float(1.0)),
        ("pcrs", Value::Map(vec![])),
        ("pcrs", Value::Array(vec![])),
        (
            "pcrs",
            Value::Map(vec![(int(0), Value::Bytes(vec![0; 32]))]),
        ),
        (
            "pcrs",
            Value::Map(vec![(int(0), Value::Bytes(vec![0; 64]))]),
        ),
        (
            "pcrs",
            Value::Map(vec![(int(32), Value::Bytes(vec![0; 48]))]),
        ),
        (
            "pcrs",
            Value::Map(vec![(int(-1), Value::Bytes(vec![0; 48]))]),
        ),
        (
            "pcrs",
            Value::Map(vec![(t("0"), Value::Bytes(vec![0; 48]))]),
        ),
        (
            "pcrs",
            Value::Map(vec![
                (int(1), Value::Bytes(vec![0; 48])),
                (int(1), Value::Bytes(vec![1; 48])),
            ]),
        ),
        (
            "pcrs",
            Value::Map(
                (0..33)
                    .map(|i| (int(i), Value::Bytes(vec![0; 48])))
                    .collect(),
            ),
        ),
        ("certificate", Value::Bytes(vec![])),
        ("certificate", Value::Bytes(vec![1; 1025])),
        ("certificate", Value::Null),
        ("cabundle", Value::Array(vec![])),
        ("cabundle", Value::Array(vec![Value::Bytes(vec![])])),
        ("cabundle", Value::Array(vec![Value::Bytes(vec![1; 1025])])),
        (
            "cabundle",
            Value::Array((0..17).map(|_| Value::Bytes(vec![1])).collect()),
        ),
        ("cabundle", Value::Bytes(vec![1])),
        ("public_key", Value::Bytes(vec![])),
        ("public_key", Value::Bytes(vec![1; 1025])),
        ("public_key", t("key")),
        ("user_data", Value::Bytes(vec![1; 1025])),
        ("user_data", Value::Bool(false)),
        ("nonce", Value::Bytes(vec![1; 1025])),
        ("nonce", Value::Array(vec![])),
    ];
    for (key, value) in bad {
        assert!(
            matches!(
                payload_err(&with(key, value.clone())),
                VerifyError::MalformedPayload(_)
            ),
            "{key} = {value:?}"
        );
    }
    // Limits themselves are fine.
    for (key, value) in [
        ("public_key", Value::Bytes(vec![1; 1024])),
        ("user_data", Value::Bytes(vec![1; 1024])),
        ("nonce", Value::Bytes(vec![])),
        ("module_id", t(&"x".repeat(256))),
        (
            "pcrs",
            Value::Map(
                (0..32)
                    .map(|i| (int(i), Value::Bytes(vec![0; 48])))
                    .collect(),
            ),
        ),
    ] {
        Payload::parse(&with(key, value.clone())).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // Not a map, trailing bytes.
    assert!(matches!(
        payload_err(&enc(&Value::Array(vec![]))),
        VerifyError::MalformedPayload(_)
    ));
    let mut trailing = encode_payload(&good_payload());
    trailing.push(0);
    assert!(matches!(
        payload_err(&trailing),
        VerifyError::MalformedPayload(_)
    ));
}

fn sign1(protected: Value, unprotected: Value, payload: Value, signature: Value) -> Vec<u8> {
    enc(&Value::Array(vec![
        protected,
        unprotected,
        payload,
        signature,
    ]))
}

fn prot(entries: Vec<(Value, Value)>) -> Value {
    Value::Bytes(enc(&Value::Map(entries)))
}

#[test]
fn cose_envelope_is_strict() {
    let es384 = || prot(vec![(int(1), int(-35))]);
    let sig = || Value::Bytes(vec![0; 96]);
    let payload = || Value::Bytes(vec![0xa0]);
    let empty = || Value::Map(vec![]);
    let ok = sign1(es384(), empty(), payload(), sig());
    assert_eq!(enc(&es384()), {
        let mut v = vec![0x44];
        v.extend_from_slice(&PROTECTED_ES384);
        v
    });
    let c = CoseSign1::parse(&ok).unwrap();
    assert_eq!(c.protected, PROTECTED_ES384);
    // Tag 18 accepted, any other tag or a double tag refused.
    CoseSign1::parse(&enc(&Value::Tag(
        18,
        Box::new(ciborium::de::from_reader(ok.as_slice()).unwrap()),
    )))
    .unwrap();
    for tag in [16u64, 17, 98] {
        let v = Value::Tag(
            tag,
            Box::new(ciborium::de::from_reader(ok.as_slice()).unwrap()),
        );
        assert!(CoseSign1::parse(&enc(&v)).is_err(), "tag {tag}");
    }
    let inner = Value::Tag(
        18,
        Box::new(ciborium::de::from_reader(ok.as_slice()).unwrap()),
    );
    assert!(CoseSign1::parse(&enc(&Value::Tag(18, Box::new(inner)))).is_err());

    let unsupported = [
        prot(vec![(int(1), int(-7))]),
        prot(vec![(int(1), int(-36))]),
        prot(vec![(int(1), t("ES384"))]),
        prot(vec![]),
        Value::Bytes(vec![]),
    ];
    for p in unsupported {
        assert_eq!(
            CoseSign1::parse(&sign1(p.clone(), empty(), payload(), sig())).err(),
            Some(VerifyError::UnsupportedAlgorithm),
            "{p:?}"
        );
    }
    let malformed = vec![
        sign1(
            prot(vec![(int(1), int(-35)), (int(4), Value::Bytes(vec![1]))]),
            empty(),
            payload(),
            sig(),
        ),
        sign1(
            prot(vec![(int(1), int(-35)), (int(2), Value::Array(vec![]))]),
            empty(),
            payload(),
            sig(),
        ),
        sign1(
            prot(vec![(int(1), int(-35)), (int(1), int(-35))]),
            empty(),
            payload(),
            sig(),
        ),
        sign1(
            Value::Map(vec![(int(1), int(-35))]),
            empty(),
            payload(),
            sig(),
        ),
        sign1(Value::Bytes(vec![0xa1, 0x01]), empty(), payload(), sig()),
        sign1(
            es384(),
            Value::Map(vec![(int(1), int(-35))]),
            payload(),
            sig(),
        ),
        sign1(es384(), Value::Null, payload(), sig()),
        sign1(es384(), empty(), Value::Null, sig()),
        sign1(es384(), empty(), t("payload"), sig()),
        sign1(es384(), empty(), payload(), Value::Bytes(vec![0; 95])),
        sign1(es384(), empty(), payload(), Value::Bytes(vec![0; 97])),
        sign1(es384(), empty(), payload(), Value::Bytes(vec![0; 104])),
        sign1(es384(), empty(), payload(), t("sig")),
        enc(&Value::Array(vec![es384(), empty(), payload()])),
        enc(&Value::Array(vec![
            es384(),
            empty(),
            payload(),
            sig(),
            sig(),
        ])),
        enc(&Value::Map(vec![])),
        vec![],
        vec![0x84],
    ];
    for (i, m) in malformed.iter().enumerate() {
        assert!(CoseSign1::parse(m).is_err(), "case {i}");
    }
    let mut trailing = ok.clone();
    trailing.push(0xf6);
    assert!(matches!(
        CoseSign1::parse(&trailing),
        Err(VerifyError::MalformedCose(_))
    ));
}

#[test]
fn sig_structure_matches_rfc9052_layout() {
    let protected = PROTECTED_ES384.to_vec();
    let payload = vec![0xAA; 300];
    let expected = enc(&Value::Array(vec![
        t("Signature1"),
        Value::Bytes(protected.clone()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.clone()),
    ]));
    assert_eq!(sig_structure(&protected, &payload), expected);
    let big = vec![1u8; 70_000];
    let expected = enc(&Value::Array(vec![
        t("Signature1"),
        Value::Bytes(protected.clone()),
        Value::Bytes(vec![]),
        Value::Bytes(big.clone()),
    ]));
    assert_eq!(sig_structure(&protected, &big), expected);
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // 100k nested arrays: ciborium's recursion limit turns it into an error.
    let mut doc = vec![0x81u8; 100_000];
    doc.push(0x00);
    assert!(CoseSign1::parse(&doc).is_err());
    let mut doc = [0xa1u8, 0x00].repeat(50_000);
    doc.push(0x00);
    assert!(Payload::parse(&doc).is_err());
    // Huge declared lengths do not allocate.
    let huge = [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(CoseSign1::parse(&huge).is_err());
    let huge_array = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(CoseSign1::parse(&huge_array).is_err());
    let huge_map = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(Payload::parse(&huge_map).is_err());
}

mod chain {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    use x509_cert::der::asn1::Null;
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
    use x509_cert::spki::ObjectIdentifier;

    use crate::dev::{build_cert, extension, name_der, CertSpec};
    use crate::error::{CertRole, VerifyError};
    use crate::x509::{validate_chain, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE};

    const NOW: u64 = 1_767_225_600;
    const NOW_MS: u64 = NOW * 1000;

    fn key() -> EcdsaKeyPair {
        EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap()
    }

    fn bc(ca: bool, path_len: Option<u8>) -> Vec<u8> {
        extension(
            OID_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca,
                path_len_constraint: path_len,
            },
        )
        .unwrap()
    }

    fn ku(flags: KeyUsages) -> Vec<u8> {
        extension(OID_KEY_USAGE, true, &KeyUsage(flags.into())).unwrap()
    }

    fn ca_exts(path_len: Option<u8>) -> Vec<Vec<u8>> {
        vec![bc(true, path_len), ku(KeyUsages::KeyCertSign)]
    }

    fn leaf_exts() -> Vec<Vec<u8>> {
        vec![bc(false, None), ku(KeyUsages::DigitalSignature)]
    }

    struct Names {
        root: Vec<u8>,
        inter: Vec<u8>,
        leaf: Vec<u8>,
    }

    fn names() -> Names {
        Names {
            root: name_der("CN=Test Root").unwrap(),
            inter: name_der("CN=Test Intermediate").unwrap(),
            leaf: name_der("CN=Test Leaf").unwrap(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn cert(
        issuer: &[u8],
        subject: &[u8],
        signer: &EcdsaKeyPair,
        public_key: &[u8],
        exts: &[Vec<u8>],
        window: (u64, u64),
    ) -> Vec<u8> {
        build_cert(
            &CertSpec {
                issuer_der: issuer,
                subject_der: subject,
                not_before: window.0,
                not_after: window.1,
                public_key,
                ca: false,
                extensions: Some(exts),
            },
            signer,
            &SystemRandom::new(),
        )
        .unwrap()
    }

    const VALID: (u64, u64) = (NOW - 3600, NOW + 3600);

    struct Chain {
        root: Vec<u8>,
        inter: Vec<u8>,
        leaf: Vec<u8>,
    }

    /// Build root → intermediate → leaf with per-certificate extensions.
    fn chain(root_exts: &[Vec<u8>], inter_exts: &[Vec<u8>], leaf_exts: &[Vec<u8>]) -> Chain {
        let n = names();
        let (rk, ik, lk) = (key(), key(), key());
        Chain {
            root: cert(
                &n.root,
                &n.root,
                &rk,
                rk.public_key().as_ref(),
                root_exts,
                VALID,
            ),
            inter: cert(
                &n.root,
                &n.inter,
                &rk,
                ik.public_key().as_ref(),
                inter_exts,
                VALID,
            ),
            leaf: cert(
                &n.inter,
                &n.leaf,
                &ik,
                lk.public_key().as_ref(),
                leaf_exts,
                VALID,
            ),
        }
    }

    fn check(c: &Chain) -> Result<(), VerifyError> {
        validate_chain(&c.leaf, &[c.root.clone(), c.inter.clone()], NOW_MS).map(|_| ())
    }

    #[test]
    fn good_chain_validates() {
        let c = chain(&ca_exts(None), &ca_exts(Some(0)), &leaf_exts());
        check(&c).unwrap();
        // Leaf without any extension is fine (no CA claim, no usage limit).
        let c = chain(&ca_exts(None), &ca_exts(Some(0)), &[]);
        check(&c).unwrap();
        // An unknown non-critical extension is ignored.
        let unknown = extension(ObjectIdentifier::new_unwrap("1.2.3.4"), false, &Null).unwrap();
        let c = chain(
            &ca_exts(None),
            &[bc(true, None), ku(KeyUsages::KeyCertSign), unknown],
            &leaf_exts(),
        );
        check(&c).unwrap();
    }

    #[test]
    fn ca_constraints_are_enforced() {
        let not_ca = |r: Result<(), VerifyError>, role: CertRole| match r {
            Err(VerifyError::NotACa { cert, .. }) => assert_eq!(cert, role),
            other => panic!("expected NotACa for {role}, got {other:?}"),
        };
        let inter = CertRole::Intermediate(1);
        not_ca(
            check(&chain(
                &ca_exts(None),
                &[ku(KeyUsages::KeyCertSign)],
                &leaf_exts(),
            )),
            inter,
        );
        not_ca(
            check(&chain(
                &ca_exts(None),
                &[bc(false, None), ku(KeyUsages::KeyCertSign)],
                &leaf_exts(),
            )),
            inter,
        );
        not_ca(
            check(&chain(
                &ca_exts(None),
                &[bc(true, None), ku(KeyUsages::DigitalSignature)],
                &leaf_exts(),
            )),
            inter,
        );
        not_ca(
            check(&chain(&ca_exts(None), &[bc(true, None)], &leaf_exts())),
            inter,
        );
        // Root with pathLen 0 cannot have an intermediate CA below it.
        not_ca(
            check(&chain(&ca_exts(Some(0)), &ca_exts(None), &leaf_exts())),
            CertRole::Root,
        );
        // Root without keyCertSign.
        not_ca(
            check(&chain(
                &[bc(true, None), ku(KeyUsages::CRLSign)],
                &ca_exts(None),
                &leaf_exts(),
            )),
            CertRole::Root,
        );
    }

    #[test]
    fn leaf_constraints_are_enforced() {
        for exts in [
            vec![bc(true, None)],
            vec![bc(false, None), ku(KeyUsages::KeyCertSign)],
        ] {
            let c = chain(&ca_exts(None), &ca_exts(Some(0)), &exts);
            assert!(
                matches!(
                    check(&c),
                    Err(VerifyError::BadCertificate {
                        cert: CertRole::Leaf,
                        ..
                    })
                ),
                "{:?}",
                check(&c)
            );
        }
    }

    #[test]
    fn extension_rules_are_enforced() {
        let critical_unknown =
            extension(ObjectIdentifier::new_unwrap("1.2.3.4"), true, &Null).unwrap();
        let cases = [
            vec![bc(true, None), ku(KeyUsages::KeyCertSign), critical_unknown],
            vec![bc(true, None), bc(true, None), ku(KeyUsages::KeyCertSign)],
        ];
        for exts in cases {
            let c = chain(&ca_exts(None), &exts, &leaf_exts());
            assert!(
                matches!(
                    check(&c),
                    Err(VerifyError::BadCertificate {
                        cert: CertRole::Intermediate(1),
                        ..
                    })
                ),
                "{:?}",
                check(&c)
            );
        }
    }

    #[test]
    fn names_signatures_and_validity_are_enforced() {
        let n = names();
        let (rk, ik, lk) = (key(), key(), key());
        let root = cert(
            &n.root,
            &n.root,
            &rk,
            rk.public_key().as_ref(),
            &ca_exts(None),
            VALID,
        );
        let inter = cert(
            &n.root,
            &n.inter,
            &rk,
            ik.public_key().as_ref(),
            &ca_exts(Some(0)),
            VALID,
        );
        let run = |leaf: &[u8], cab: &[Vec<u8>]| validate_chain(leaf, cab, NOW_MS).map(|_| ());
        let good_leaf = cert(
            &n.inter,
            &n.leaf,
            &ik,
            lk.public_key().as_ref(),
            &leaf_exts(),
            VALID,
        );
        run(&good_leaf, &[root.clone(), inter.clone()]).unwrap();

        // Issuer name is not the intermediate's subject.
        let other = name_der("CN=Someone Else").unwrap();
        let leaf = cert(
            &other,
            &n.leaf,
            &ik,
            lk.public_key().as_ref(),
            &leaf_exts(),
            VALID,
        );
        assert_eq!(
            run(&leaf, &[root.clone(), inter.clone()]),
            Err(VerifyError::ChainNameMismatch {
                cert: CertRole::Leaf
            })
        );
        // Right name, wrong key (signed by the root key).
        let leaf = cert(
            &n.inter,
            &n.leaf,
            &rk,
            lk.public_key().as_ref(),
            &leaf_exts(),
            VALID,
        );
        assert_eq!(
            run(&leaf, &[root.clone(), inter.clone()]),
            Err(VerifyError::CertificateSignature {
                cert: CertRole::Leaf
            })
        );
        // Intermediate expired / not yet valid.
        for window in [(NOW - 7200, NOW - 1), (NOW + 1, NOW + 7200)] {
            let inter = cert(
                &n.root,
                &n.inter,
                &rk,
                ik.public_key().as_ref(),
                &ca_exts(Some(0)),
                window,
            );
            assert!(matches!(
                run(&good_leaf, &[root.clone(), inter]),
                Err(VerifyError::CertificateExpiredOrNotYetValid {
                    cert: CertRole::Intermediate(1),
                    ..
                })
            ));
        }
        // Bounds are inclusive at one-second resolution.
        let inter_edge = cert(
            &n.root,
            &n.inter,
            &rk,
            ik.public_key().as_ref(),
            &ca_exts(Some(0)),
            (NOW, NOW),
        );
        run(&good_leaf, &[root.clone(), inter_edge.clone()]).unwrap();
        validate_chain(
            &good_leaf,
            &[root.clone(), inter_edge.clone()],
            NOW_MS + 999,
        )
        .unwrap();
        assert!(validate_chain(&good_leaf, &[root.clone(), inter_edge], NOW_MS + 1000).is_err());
        // A root that is not self-signed.
        let other_key = key();
        let fake_root = cert(
            &n.root,
            &n.root,
            &other_key,
            rk.public_key().as_ref(),
            &ca_exts(None),
            VALID,
        );
        assert_eq!(
            run(&good_leaf, &[fake_root, inter.clone()]),
            Err(VerifyError::CertificateSignature {
                cert: CertRole::Root
            })
        );
        // Order matters: [inter, root] is refused.
        assert!(run(&good_leaf, &[inter.clone(), root.clone()]).is_err());
        // Leaf directly under the root (intermediate skipped): name mismatch.
        assert!(run(&good_leaf, std::slice::from_ref(&root)).is_err());
    }

    #[test]
    fn algorithm_and_encoding_rules_are_enforced() {
        let n = names();
        let (rk, ik) = (key(), key());
        let root = cert(
            &n.root,
            &n.root,
            &rk,
            rk.public_key().as_ref(),
            &ca_exts(None),
            VALID,
        );
        let inter = cert(
            &n.root,
            &n.inter,
            &rk,
            ik.public_key().as_ref(),
            &ca_exts(Some(0)),
            VALID,
        );
        // A P-256 subject key.
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let leaf = cert(
            &n.inter,
            &n.leaf,
            &ik,
            p256.public_key().as_ref(),
            &leaf_exts(),
            VALID,
        );
        assert!(matches!(
            validate_chain(&leaf, &[root.clone(), inter.clone()], NOW_MS),
            Err(VerifyError::BadCertificate {
                cert: CertRole::Leaf,
                ..
            })
        ));
        // ecdsa-with-SHA256 instead of SHA384 (OID edited in both places).
        let lk = key();
        let leaf = cert(
            &n.inter,
            &n.leaf,
            &ik,
            lk.public_key().as_ref(),
            &leaf_exts(),
            VALID,
        );
        let sha384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let mut edited = leaf.clone();
        let mut count = 0;
        let mut i = 0;
        while i + sha384.len() <= edited.len() {
            if edited[i..i + sha384.len()] == sha384 {
                edited[i + sha384.len() - 1] = 0x02;
                count += 1;
            }
            i += 1;
        }
        assert_eq!(count, 2);
        assert_eq!(
            validate_chain(&edited, &[root.clone(), inter.clone()], NOW_MS).err(),
            Some(VerifyError::BadCertificate {
                cert: CertRole::Leaf,
                reason: "signature algorithm is not ecdsa-with-SHA384"
            })
        );
        // Non-minimal DER length on the outer SEQUENCE.
        assert_eq!(leaf[0], 0x30);
        assert_eq!(leaf[1], 0x82);
        let mut long = vec![0x30, 0x83, 0x00];
        long.extend_from_slice(&leaf[2..]);
        assert!(matches!(
            validate_chain(&long, &[root.clone(), inter.clone()], NOW_MS),
            Err(VerifyError::BadCertificate {
                cert: CertRole::Leaf,
                ..
            })
        ));
        // Trailing garbage after the certificate.
        let mut trailing = leaf.clone();
        trailing.push(0);
        assert!(validate_chain(&trailing, &[root, inter], NOW_MS).is_err());
    }
}
