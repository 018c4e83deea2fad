//! Builds `CiphertextForRecipient` envelopes the way KMS does (feature
//! `test-util`): for tests and for the loopback fake KMS of the enclave's
//! tests. Never used by the enclave itself.

use aws_lc_rs::cipher::{PaddedBlockEncryptingKey, UnboundCipherKey, AES_256, AES_256_KEY_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use zeroize::Zeroizing;

use crate::oid;
use crate::RecipientError;

/// Length encoding of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// DER: definite lengths, primitive OCTET STRINGs.
    Der,
    /// BER as streaming encoders write it: indefinite lengths on every
    /// constructed element and the encrypted content as a constructed OCTET
    /// STRING of 16-byte segments.
    IndefiniteBer,
}

fn len_octets(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or(0)];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut out = vec![0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0)];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// A definite-length element.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(len_octets(content.len()));
    out.extend_from_slice(content);
    out
}

fn cons(form: Form, tag: u8, children: &[&[u8]]) -> Vec<u8> {
    let body = children.concat();
    match form {
        Form::Der => der(tag, &body),
        Form::IndefiniteBer => {
            let mut out = vec![tag, 0x80];
            out.extend(body);
            out.extend([0, 0]);
            out
        }
    }
}

/// Encrypts `plaintext` to the RSA public key `spki_der` (X.509
/// SubjectPublicKeyInfo) as a CMS EnvelopedData: RSAES-OAEP-SHA-256 key
/// transport, AES-256-CBC content encryption, random content key and IV.
pub fn seal_for_recipient(
    spki_der: &[u8],
    plaintext: &[u8],
    form: Form,
) -> Result<Vec<u8>, RecipientError> {
    let public =
        PublicEncryptingKey::from_der(spki_der).map_err(|_| RecipientError::KeyGeneration)?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| RecipientError::KeyGeneration)?;
    let mut content_key = Zeroizing::new([0u8; AES_256_KEY_LEN]);
    aws_lc_rs::rand::fill(content_key.as_mut()).map_err(|_| RecipientError::KeyGeneration)?;
    let mut encrypted_key = vec![0u8; oaep.ciphertext_size()];
    let ek_len = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            content_key.as_ref(),
            &mut encrypted_key,
            None,
        )
        .map_err(|_| RecipientError::KeyGeneration)?
        .len();
    encrypted_key.truncate(ek_len);
    let cipher = UnboundCipherKey::new(&AES_256, content_key.as_ref())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| RecipientError::ContentDecryption)?;
    let mut content = plaintext.to_vec();
    let ctx = cipher
        .encrypt(&mut content)
        .map_err(|_| RecipientError::ContentDecryption)?;
    let iv: &[u8] = (&ctx)
        .try_into()
        .map_err(|_| RecipientError::ContentDecryption)?;

    let sha256 = der(0x30, &der(0x06, oid::SHA256));
    let oaep_params = der(
        0x30,
        &[
            der(0xa0, &sha256),
            der(
                0xa1,
                &der(0x30, &[der(0x06, oid::MGF1), sha256.clone()].concat()),
            ),
        ]
        .concat(),
    );
    let kea = der(0x30, &[der(0x06, oid::RSAES_OAEP), oaep_params].concat());
    let spki_digest = digest(&SHA256, spki_der);
    let ski = &spki_digest.as_ref()[..20];
    let ktri = cons(
        form,
        0x30,
        &[
            &der(0x02, &[2]),
            &der(0x80, ski),
            &kea,
            &der(0x04, &encrypted_key),
        ],
    );
    let cea = der(0x30, &[der(0x06, oid::AES256_CBC), der(0x04, iv)].concat());
    let encrypted_content = match form {
        Form::Der => der(0x80, &content),
        Form::IndefiniteBer => {
            let segments: Vec<Vec<u8>> = content.chunks(16).map(|c| der(0x04, c)).collect();
            let refs: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            cons(form, 0xa0, &refs)
        }
    };
    let eci = cons(
        form,
        0x30,
        &[&der(0x06, oid::DATA), &cea, &encrypted_content],
    );
    let ed = cons(
        form,
        0x30,
        &[&der(0x02, &[2]), &cons(form, 0x31, &[&ktri]), &eci],
    );
    Ok(cons(
        form,
        0x30,
        &[&der(0x06, oid::ENVELOPED_DATA), &cons(form, 0xa0, &[&ed])],
    ))
}
