//! `metadata_key` against a real `zenalyze dev` (its development keyrings
//! `encrypt-email` and `encrypt-username`).

mod common;

use zenalyze_server::{MetadataKeyRequest, ZenalyzeServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_key_round_trips_through_the_gateway() {
    let dev = common::start_dev().await;
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let zen = ZenalyzeServer::builder(common::DEV_API_KEY)
            .base_url(&dev.base_url)
            .build()
            .unwrap();
        let email = zen
            .metadata_key(MetadataKeyRequest::purpose("encrypt-email"))
            .unwrap();
        let sealed = email
            .encrypt(b"jane@example.org", Some(b"usr_42"))
            .await
            .unwrap();
        assert!(sealed.ciphertext.starts_with("zen:v1:"));
        let plain = email
            .decrypt(&sealed.ciphertext, Some(b"usr_42"))
            .await
            .unwrap();
        assert_eq!(plain.as_slice(), b"jane@example.org");
        // Wrong context: a typed API error, no plaintext.
        let e = email
            .decrypt(&sealed.ciphertext, Some(b"usr_43"))
            .await
            .unwrap_err();
        assert_eq!(e.api().unwrap().status, 422);
        // Blind index: deterministic, differs per keyring.
        let a = email.blind_index(b"jane@example.org").await.unwrap();
        assert_eq!(a, email.blind_index(b"jane@example.org").await.unwrap());
        assert_eq!(a.len(), 32);
        let user = zen
            .metadata_key(MetadataKeyRequest::purpose("encrypt-username"))
            .unwrap();
        assert_ne!(a, user.blind_index(b"jane@example.org").await.unwrap());
        // Batches with per-item results.
        let out = email
            .encrypt_batch(&[(b"a", None), (b"b", Some(b"ctx"))])
            .await
            .unwrap();
        let cts: Vec<String> = out.into_iter().map(|r| r.unwrap().ciphertext).collect();
        let back = email
            .decrypt_batch(&[(&cts[0], None), (&cts[1], None), (&cts[1], Some(b"ctx"))])
            .await
            .unwrap();
        assert_eq!(back[0].as_ref().unwrap().as_slice(), b"a");
        assert_eq!(back[1].as_ref().unwrap_err().status, 422);
        assert_eq!(back[2].as_ref().unwrap().as_slice(), b"b");
        let rewrapped = email.rewrap(&cts[0], None).await.unwrap();
        assert_eq!(rewrapped.key_version, 1);
        // A version floor above the primary is refused locally.
        let strict = zen
            .metadata_key(MetadataKeyRequest::purpose("encrypt-email").version(2))
            .unwrap();
        assert!(strict.encrypt(b"x", None).await.is_err());
        assert!(strict.decrypt(&cts[0], None).await.is_err());
        assert!(zen
            .metadata_key(MetadataKeyRequest::purpose("Bad Name"))
            .is_err());
        let missing = zen
            .metadata_key(MetadataKeyRequest::purpose("nope"))
            .unwrap();
        assert_eq!(
            missing
                .encrypt(b"x", None)
                .await
                .unwrap_err()
                .api()
                .unwrap()
                .status,
            404
        );
    })
    .await
    .expect("timed out");
}
