//! `zenalyze keyrings …` against a data directory: create, list, rotate,
//! set, delete (refused until allowed), the root key permission check, and
//! an intact audit chain afterwards.

use std::process::Command;

fn zenalyze(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zenalyze"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("ZENALYZE_DATABASE_URL")
        .env_remove("ZENALYZE_KMS_PROVIDER")
        .env_remove("ZENALYZE_KMS_ROOT_KEY_FILE")
        .output()
        .expect("run zenalyze");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keyring_verbs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let (ok, out, err) = zenalyze(
        &d,
        &[
            "tenants", "create", "--name", "Acme", "--tier", "pro", "--json",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = v["tenant_id"].as_str().unwrap().to_owned();

    let (ok, out, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "create",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["primary_version"], 1);
    assert!(v["root"].as_str().unwrap().starts_with("local:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("root.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (ok, _, _) = zenalyze(
        &d,
        &["keyrings", "create", "--tenant", &t, "--name", "Bad Name"],
    );
    assert!(!ok);
    let (ok, _, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "create",
            "--tenant",
            &t,
            "--name",
            "notes",
            "--auto-rotate-period",
            "60",
        ],
    );
    assert!(!ok && err.contains("auto_rotate_period"), "{err}");

    let (ok, out, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "rotate",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"primary_version\":2"));
    let (ok, _, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "set",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
            "--min-decryption-version",
            "3",
        ],
    );
    assert!(!ok && err.contains("min_decryption_version"), "{err}");
    let (ok, _, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "set",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
            "--min-decryption-version",
            "2",
            "--auto-rotate-period",
            "7200",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = zenalyze(&d, &["keyrings", "list", "--tenant", &t, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["min_decryption_version"], 2);
    assert_eq!(v[0]["auto_rotate_period_seconds"], 7200);

    let (ok, _, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "delete",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
        ],
    );
    assert!(!ok && err.contains("deletion is not allowed"), "{err}");
    let (ok, _, _) = zenalyze(
        &d,
        &[
            "keyrings",
            "set",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
            "--deletion-allowed",
            "true",
        ],
    );
    assert!(ok);
    let (ok, _, err) = zenalyze(
        &d,
        &[
            "keyrings",
            "delete",
            "--tenant",
            &t,
            "--name",
            "encrypt-email",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = zenalyze(&d, &["keyrings", "list", "--tenant", &t, "--json"]);
    assert!(ok && out.trim() == "[]", "{out}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("root.key"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let (ok, _, err) = zenalyze(&d, &["keyrings", "create", "--tenant", &t, "--name", "x"]);
        assert!(!ok && err.contains("group or others"), "{err}");
    }
    let (ok, out, err) = zenalyze(&d, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}{err}");
}
