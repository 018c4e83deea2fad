//! `zenalyze keyrings create|list|rotate|set|delete`: platform keyrings of
//! the Key Management Service directly against the configured database (the
//! same operations as `/v1/admin/tenants/{id}/keyrings`, audited with actor
//! `cli`).
//!
//! Keys are wrapped by the root of trust of `ZENALYZE_KMS_*` (the same
//! settings as `zenalyze serve`); with `--data-dir` and no
//! `ZENALYZE_KMS_ROOT_KEY_FILE`, the data directory's `root.key` (that of
//! `zenalyze dev`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use zenalyze_gateway::kms_routes::keyring_view;
use zenalyze_kms::settings::KmsSettings;
use zenalyze_kms::Kms;
use zenalyze_store::{KeyringName, KeyringSettings, KeyringUpdate, Store, TenantId};

use crate::tenants_cmd::{cli_audit, DbArgs};

/// The keyring a verb applies to.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    db: DbArgs,
    /// Tenant id (`ten_…`).
    #[arg(long, value_name = "TENANT_ID")]
    tenant: String,
    /// Keyring name (`[a-z0-9][a-z0-9-]{0,63}`).
    #[arg(long)]
    name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Keyring verbs.
#[derive(Debug, Subcommand)]
pub enum KeyringsCommand {
    /// Create a keyring (version 1) for a tenant.
    Create {
        #[command(flatten)]
        target: Target,
        /// Automatic rotation period in seconds (at least 3600).
        #[arg(long, value_name = "SECONDS")]
        auto_rotate_period: Option<u64>,
        /// Allow deleting the keyring later.
        #[arg(long)]
        deletion_allowed: bool,
    },
    /// List a tenant's keyrings.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Tenant id (`ten_…`).
        #[arg(long, value_name = "TENANT_ID")]
        tenant: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add a new primary version.
    Rotate {
        #[command(flatten)]
        target: Target,
    },
    /// Change settings.
    Set {
        #[command(flatten)]
        target: Target,
        /// Versions below this stop decrypting.
        #[arg(long, value_name = "N")]
        min_decryption_version: Option<u32>,
        /// Rotation period in seconds (≥ 3600), or `off`.
        #[arg(long, value_name = "SECONDS|off")]
        auto_rotate_period: Option<String>,
        /// Allow (`true`) or refuse (`false`) deletion.
        #[arg(long, value_name = "true|false")]
        deletion_allowed: Option<bool>,
    },
    /// Delete a keyring (only when its deletion is allowed); its ciphertexts become undecryptable.
    Delete {
        #[command(flatten)]
        target: Target,
    },
}

fn default_key_file(db: &DbArgs) -> Option<PathBuf> {
    if db.database_url.is_some() {
        return None;
    }
    let dir = db
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(zenalyze_store::DEFAULT_DATA_DIR));
    Some(dir.join(zenalyze_kms::root::ROOT_KEY_FILE))
}

async fn open(db: &DbArgs) -> anyhow::Result<(Arc<dyn Store>, Kms)> {
    let settings =
        KmsSettings::from_env(default_key_file(db)).context("key management settings")?;
    let explicit = std::env::var_os("ZENALYZE_KMS_ROOT_KEY_FILE").is_some();
    let root: Arc<dyn zenalyze_kms::RootOfTrust> = match (&settings.provider, default_key_file(db))
    {
        // The data directory's own root key, created like `zenalyze dev`
        // does when it is missing (mode 0600; looser permissions refused).
        (zenalyze_kms::settings::Provider::Local { .. }, Some(file)) if !explicit => {
            let dir = file.parent().map(PathBuf::from).unwrap_or_default();
            Arc::new(
                zenalyze_kms::LocalRootKey::open_or_create(&dir)
                    .context("cannot open the root of trust")?,
            )
        }
        _ => settings
            .open_root()
            .await
            .context("cannot open the root of trust")?,
    };
    let store = db.open(false).await?;
    Ok((store.clone(), Kms::new(store, root)))
}

fn tenant(s: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(s).map_err(|_| anyhow::anyhow!("--tenant must be a tenant id (ten_…)"))
}

fn print(k: &zenalyze_store::Keyring, json: bool) -> anyhow::Result<()> {
    let v = keyring_view(k);
    if json {
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!(
            "{}\tprimary v{}\tmin_decryption v{}\tauto_rotate {}\tdeletion_allowed {}\t{}",
            v.name,
            v.primary_version,
            v.min_decryption_version,
            v.auto_rotate_period_seconds
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "off".into()),
            v.deletion_allowed,
            v.root
        );
    }
    Ok(())
}

fn audit(op: &str, t: &TenantId) -> anyhow::Result<zenalyze_store::AuditDraft> {
    Ok(cli_audit(op)
        .map_err(|_| anyhow::anyhow!("internal error building the audit event"))?
        .tenant(t.clone()))
}

/// Runs a keyring verb.
pub async fn run(cmd: KeyringsCommand) -> anyhow::Result<()> {
    match cmd {
        KeyringsCommand::Create {
            target,
            auto_rotate_period,
            deletion_allowed,
        } => {
            let t = tenant(&target.tenant)?;
            let (store, kms) = open(&target.db).await?;
            let r = kms
                .create_keyring(
                    &t,
                    &target.name,
                    KeyringSettings {
                        auto_rotate_period_s: auto_rotate_period,
                        deletion_allowed,
                    },
                    audit("kms.keyrings.create", &t)?,
                )
                .await;
            store.close().await;
            print(&r.context("cannot create the keyring")?, target.json)
        }
        KeyringsCommand::List {
            db,
            tenant: ten,
            json,
        } => {
            let t = tenant(&ten)?;
            let store = db.open(false).await?;
            let r = store.list_keyrings(&t).await;
            store.close().await;
            let list = r.context("cannot list keyrings")?;
            if json {
                let views: Vec<_> = list.iter().map(keyring_view).collect();
                println!("{}", serde_json::to_string(&views)?);
            } else {
                for k in &list {
                    print(k, false)?;
                }
            }
            Ok(())
        }
        KeyringsCommand::Rotate { target } => {
            let t = tenant(&target.tenant)?;
            let (store, kms) = open(&target.db).await?;
            let r = kms
                .rotate(&t, &target.name, audit("kms.keyrings.rotate", &t)?)
                .await;
            store.close().await;
            print(&r.context("cannot rotate the keyring")?, target.json)
        }
        KeyringsCommand::Set {
            target,
            min_decryption_version,
            auto_rotate_period,
            deletion_allowed,
        } => {
            let t = tenant(&target.tenant)?;
            let name = KeyringName::parse(&target.name)
                .map_err(|_| anyhow::anyhow!("--name must match [a-z0-9][a-z0-9-]{{0,63}}"))?;
            let period = match auto_rotate_period.as_deref() {
                None => None,
                Some("off") => Some(None),
                Some(s) => Some(Some(s.parse::<u64>().map_err(|_| {
                    anyhow::anyhow!("--auto-rotate-period must be a number of seconds or off")
                })?)),
            };
            if min_decryption_version.is_none() && period.is_none() && deletion_allowed.is_none() {
                bail!("nothing to change: give --min-decryption-version, --auto-rotate-period or --deletion-allowed");
            }
            let (store, kms) = open(&target.db).await?;
            let mut update = KeyringUpdate::of(t.clone(), name);
            update.min_decryption_version = min_decryption_version;
            update.auto_rotate_period_s = period;
            update.deletion_allowed = deletion_allowed;
            let r = kms
                .update_keyring(update, audit("kms.keyrings.update", &t)?)
                .await;
            store.close().await;
            print(&r.context("cannot change the keyring")?, target.json)
        }
        KeyringsCommand::Delete { target } => {
            let t = tenant(&target.tenant)?;
            let (store, kms) = open(&target.db).await?;
            let r = kms
                .delete_keyring(&t, &target.name, audit("kms.keyrings.delete", &t)?)
                .await;
            store.close().await;
            r.context("cannot delete the keyring")?;
            if target.json {
                println!("{}", serde_json::json!({"deleted": target.name}));
            } else {
                println!("deleted {}", target.name);
            }
            Ok(())
        }
    }
}
