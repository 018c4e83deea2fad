//! RFC 9180 Appendix A test vectors for the EHBP suite (mode 0, KEM 0x0020,
//! KDF 0x0001, AEAD 0x0002), driven through the `hpke` crate exactly as
//! `zenalyze-ehbp` configures it: key derivation, sender setup with the
//! vector's ephemeral key, every encryption (sender seal and receiver open)
//! and every exporter value.

use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::Deserialize;
use zenalyze_ehbp::{HpkeAead, HpkeKdf, HpkeKem, ServerKey, AEAD_ID, KDF_ID, KEM_ID};

#[derive(Deserialize)]
struct File {
    source: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: String,
    #[serde(rename = "ikmR")]
    ikm_r: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    enc: String,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

#[derive(Deserialize)]
struct Encryption {
    aad: String,
    ct: String,
    pt: String,
}

#[derive(Deserialize)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

/// An RNG that yields fixed bytes once: makes `setup_sender_with_rng` use the
/// vector's `ikmE` (the crate derives the ephemeral key as DeriveKeyPair(random(Nsk))).
struct FixedRng(Vec<u8>);

impl TryRng for FixedRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("only fill_bytes is used")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("only fill_bytes is used")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), self.0.len(), "ikmE length");
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}
impl TryCryptoRng for FixedRng {}

fn load() -> File {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/hpke-rfc9180-x25519-sha256-aes256gcm.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

#[test]
fn rfc9180_base_x25519_sha256_aes256gcm() {
    let file = load();
    assert!(file.source.contains("RFC 9180"));
    assert!(!file.vectors.is_empty());
    for v in &file.vectors {
        assert_eq!(
            (v.mode, v.kem_id, v.kdf_id, v.aead_id),
            (0, KEM_ID, KDF_ID, AEAD_ID)
        );
        // DeriveKeyPair(ikmR) gives skRm/pkRm.
        let (sk, pk) = HpkeKem::derive_keypair(&h(&v.ikm_r));
        // The crate serialises X25519 scalars clamped (RFC 7748 §5); the
        // vector's skRm is unclamped. Both denote the same private key.
        let mut clamped = h(&v.sk_rm);
        clamped[0] &= 248;
        clamped[31] &= 127;
        clamped[31] |= 64;
        assert_eq!(sk.to_bytes().as_slice(), clamped.as_slice());
        assert_eq!(pk.to_bytes().as_slice(), h(&v.pk_rm).as_slice());
        let server = ServerKey::derive(7, &h(&v.ikm_r));
        assert_eq!(
            server.key_config().public_key().as_slice(),
            h(&v.pk_rm).as_slice()
        );
        assert_eq!(server.secret_bytes().as_slice(), clamped.as_slice());
        let reloaded = ServerKey::from_secret_bytes(7, &h(&v.sk_rm)).unwrap();
        assert_eq!(reloaded.key_config(), server.key_config());

        // Sender with the vector's ephemeral key.
        let mut rng = FixedRng(h(&v.ikm_e));
        let (enc, mut sender) = hpke::setup_sender_with_rng::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeS::Base,
            &pk,
            &h(&v.info),
            &mut rng,
        )
        .unwrap();
        assert_eq!(enc.to_bytes().as_slice(), h(&v.enc).as_slice());

        // Receiver.
        let enc_r = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(&h(&v.enc)).unwrap();
        let sk_r = <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
        let mut receiver = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeR::Base,
            &sk_r,
            &enc_r,
            &h(&v.info),
        )
        .unwrap();

        for e in &v.encryptions {
            let ct = sender.seal(&h(&e.pt), &h(&e.aad)).unwrap();
            assert_eq!(ct, h(&e.ct));
            let pt = receiver.open(&h(&e.ct), &h(&e.aad)).unwrap();
            assert_eq!(pt, h(&e.pt));
        }
        assert!(!v.exports.is_empty());
        for x in &v.exports {
            let mut a = vec![0u8; x.len];
            let mut b = vec![0u8; x.len];
            sender.export(&h(&x.exporter_context), &mut a).unwrap();
            receiver.export(&h(&x.exporter_context), &mut b).unwrap();
            assert_eq!(a, h(&x.exported_value));
            assert_eq!(b, h(&x.exported_value));
        }
        // A flipped ciphertext bit is refused.
        let mut bad = h(&v.encryptions[0].ct);
        bad[0] ^= 1;
        let mut receiver2 = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeR::Base,
            &sk_r,
            &enc_r,
            &h(&v.info),
        )
        .unwrap();
        assert!(receiver2.open(&bad, &h(&v.encryptions[0].aad)).is_err());
    }
}
