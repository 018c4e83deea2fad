//! The AWS KMS root of trust against a local KMS-compatible server (moto,
//! `pip install 'moto[server]'`): real SDK calls with SigV4 signatures
//! (dummy credentials), encryption contexts, the full service on top, and
//! the failure paths (KMS unreachable, another KMS key).
//!
//! Needs `moto_server` on PATH (or `ZENALYZE_TEST_MOTO_SERVER`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zenalyze_kms::aws::{AwsKmsRoot, AwsKmsSettings};
use zenalyze_kms::format::WrapContext;
use zenalyze_kms::{Caller, CiphertextItem, EncryptItem, Kms, KmsError, RootError, RootOfTrust};
use zenalyze_store::{
    Actor, AuditDraft, AuditResult, KeyringSettings, Mutation, NewTenant, OpaqueId, Operation,
    StoreOptions, Tier, WriteUnit,
};
use zeroize::Zeroizing;

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_moto() -> Moto {
    let bin = std::env::var("ZENALYZE_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (pip install 'moto[server]'): {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn dummy_credentials() {
    // Dummy credentials: the SDK signs every request with SigV4.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAZENALYZETESTKEY1");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "zenalyze-test-secret-not-real");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

async fn root(endpoint: &str, key_id: &str) -> AwsKmsRoot {
    AwsKmsRoot::new(&AwsKmsSettings {
        key_id: key_id.to_owned(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.to_owned()),
        timeout: Duration::from_secs(3),
    })
    .await
}

async fn create_key(endpoint: &str) -> String {
    let r = root(endpoint, "unused").await;
    let out = r
        .client()
        .create_key()
        .description("zenalyze test")
        .send()
        .await
        .expect("CreateKey");
    out.key_metadata().expect("metadata").key_id().to_owned()
}

fn ctx(t: &str, k: &str, v: u32) -> WrapContext {
    WrapContext {
        tenant: t.into(),
        keyring: k.into(),
        version: v,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_and_unwrap_with_encryption_context() {
    dummy_credentials();
    let moto = start_moto();
    tokio::time::timeout(Duration::from_secs(60), async {
        let key_id = create_key(&moto.url).await;
        let r = root(&moto.url, &key_id).await;
        assert_eq!(r.id(), format!("aws-kms:{key_id}"));
        r.check().await.expect("DescribeKey");
        let c = ctx("ten_a", "encrypt-email", 1);
        let (k, blob) = r.generate(&c).await.expect("GenerateDataKey");
        assert!(blob.len() > 32, "a KMS ciphertext blob, not the key");
        assert!(
            !blob.windows(32).any(|w| w == k.expose()),
            "the blob does not contain the key"
        );
        let back = r.unwrap(&c, &blob).await.expect("Decrypt");
        assert_eq!(back.expose(), k.expose());
        // Another context (tenant, keyring or version) does not open it.
        for other in [
            ctx("ten_b", "encrypt-email", 1),
            ctx("ten_a", "encrypt-username", 1),
            ctx("ten_a", "encrypt-email", 2),
        ] {
            assert!(
                matches!(r.unwrap(&other, &blob).await, Err(RootError::UnwrapFailed)),
                "{other:?}"
            );
        }
        // Garbage is refused.
        assert!(r.unwrap(&c, b"not a blob").await.is_err());
        // Another KMS key does not open it either.
        let key2 = create_key(&moto.url).await;
        let r2 = root(&moto.url, &key2).await;
        assert!(r2.unwrap(&c, &blob).await.is_err());
    })
    .await
    .expect("timed out");
}

fn caller(t: &zenalyze_store::TenantId) -> Caller {
    Caller {
        tenant: t.clone(),
        actor: Actor::System,
        request_id: OpaqueId::parse("req-aws-test").unwrap(),
    }
}

fn draft(op: &str) -> AuditDraft {
    AuditDraft::new(
        Actor::Admin,
        Operation::parse(op).unwrap(),
        AuditResult::Success,
        OpaqueId::parse("req-aws-test").unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_on_aws_kms_and_failures() {
    dummy_credentials();
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(Duration::from_secs(90), async {
        let key_id = create_key(&moto.url).await;
        let store = zenalyze_store::open_data_dir(dir.path(), &StoreOptions::default())
            .await
            .unwrap();
        let nt = NewTenant::new("AWS", Tier::Pro).unwrap();
        let t = nt.id.clone();
        store
            .apply(WriteUnit::new(
                Mutation::CreateTenant(nt),
                draft("tenants.create"),
            ))
            .await
            .unwrap();
        let kms = Kms::new(store.clone(), Arc::new(root(&moto.url, &key_id).await))
            .with_cache_ttl(Duration::ZERO);
        let k = kms
            .create_keyring(
                &t,
                "encrypt-email",
                KeyringSettings::default(),
                draft("kms.keyrings.create"),
            )
            .await
            .expect("create keyring on AWS KMS");
        assert_eq!(k.root_id, format!("aws-kms:{key_id}"));
        let enc = kms
            .encrypt(
                &caller(&t),
                "encrypt-email",
                vec![EncryptItem {
                    plaintext: Zeroizing::new(b"a@b.c".to_vec()),
                    context: None,
                }],
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        kms.rotate(&t, "encrypt-email", draft("kms.keyrings.rotate"))
            .await
            .unwrap();
        let item = CiphertextItem {
            ciphertext: enc.ciphertext.clone(),
            context: None,
        };
        let out = kms
            .decrypt(&caller(&t), "encrypt-email", std::slice::from_ref(&item))
            .await
            .unwrap();
        assert_eq!(out[0].as_ref().unwrap().as_slice(), b"a@b.c");

        // Another KMS key configured: refused before any use (wrong root).
        let key2 = create_key(&moto.url).await;
        let wrong = Kms::new(store.clone(), Arc::new(root(&moto.url, &key2).await));
        let e = wrong
            .decrypt(&caller(&t), "encrypt-email", std::slice::from_ref(&item))
            .await
            .unwrap_err();
        assert!(matches!(e, KmsError::Root(RootError::WrongRoot)), "{e:?}");

        // KMS unreachable (no cache): a clear error, no plaintext.
        let dead = format!("http://127.0.0.1:{}", free_port());
        let down = Kms::new(store.clone(), Arc::new(root(&dead, &key_id).await))
            .with_cache_ttl(Duration::ZERO);
        let started = Instant::now();
        let e = down
            .decrypt(&caller(&t), "encrypt-email", std::slice::from_ref(&item))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KmsError::Root(RootError::Unavailable(_))),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(!e.to_string().contains("zenalyze-test-secret"));
        let e = down
            .create_keyring(
                &t,
                "other",
                KeyringSettings::default(),
                draft("kms.keyrings.create"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, KmsError::Root(RootError::Unavailable(_))),
            "{e:?}"
        );
        assert!(down.root().check().await.is_err());
        // Nothing was stored by the failed creation.
        assert_eq!(store.list_keyrings(&t).await.unwrap().len(), 1);

        // The server goes away while the service runs: fail closed.
        drop(moto);
        let e = kms
            .decrypt(&caller(&t), "encrypt-email", std::slice::from_ref(&item))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KmsError::Root(RootError::Unavailable(_))),
            "{e:?}"
        );
        store.close().await;
    })
    .await
    .expect("timed out");
}
