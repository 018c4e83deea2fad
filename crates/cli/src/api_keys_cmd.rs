//! `zenalyze api-keys create|list|revoke`: API key administration directly
//! against the configured database (the same operations as the admin API,
//! audited with actor `cli`). Secrets are printed once, at creation.

use anyhow::Context;
use clap::Subcommand;
use zenalyze_gateway::admin;
use zenalyze_gateway::keys::KeyKind;
use zenalyze_store::{ApiKeyId, TenantId};

use crate::tenants_cmd::{cli_audit, problem_text, DbArgs};

/// API key verbs.
#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key for a tenant (the secret is shown once).
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// Tenant id (ten_…).
        #[arg(long)]
        tenant: String,
        /// live, test or publishable.
        #[arg(long)]
        kind: String,
        /// A scope (repeat for several); default: every non-admin scope for
        /// secret keys, ai:attestation and ai:analyze for publishable keys.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Tenant id (ten_…).
        #[arg(long)]
        tenant: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        /// Key id (key_…).
        key_id: String,
    },
}

/// Runs an API key verb.
pub async fn run(cmd: ApiKeysCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeysCommand::Create {
            db,
            tenant,
            kind,
            scopes,
            json,
        } => {
            let tenant =
                TenantId::parse(&tenant).context("--tenant must be a tenant id (ten_…)")?;
            let kind = KeyKind::parse(&kind)
                .ok_or_else(|| anyhow::anyhow!("--kind must be live, test or publishable"))?;
            let requested = (!scopes.is_empty()).then_some(scopes);
            let store = db.open(false).await?;
            let audit = cli_audit("api_keys.create").map(|d| d.tenant(tenant.clone()));
            let result = match audit {
                Ok(a) => admin::create_key(&store, &tenant, kind, requested, a).await,
                Err(p) => Err(p),
            };
            store.close().await;
            let (key, secret) = result
                .map_err(|p| anyhow::anyhow!("cannot create the key: {}", problem_text(&p)))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": key.id.as_str(),
                        "tenant_id": key.tenant_id.as_str(),
                        "kind": kind.as_str(),
                        "secret": secret.expose_secret(),
                        "scopes": key.scopes,
                    })
                );
            } else {
                println!("id:     {}", key.id);
                println!("secret: {}", secret.expose_secret());
                println!("scopes: {}", key.scopes.join(" "));
                println!("(the secret is shown only now; store it safely)");
            }
            Ok(())
        }
        ApiKeysCommand::List { db, tenant, json } => {
            let tenant =
                TenantId::parse(&tenant).context("--tenant must be a tenant id (ten_…)")?;
            let store = db.open(false).await?;
            let result = async {
                if store.get_tenant(&tenant).await?.is_none() {
                    return Ok(None);
                }
                store.list_api_keys(&tenant).await.map(Some)
            }
            .await;
            store.close().await;
            let keys = result
                .context("cannot list keys")?
                .ok_or_else(|| anyhow::anyhow!("no such tenant"))?;
            if json {
                let views: Vec<_> = keys.iter().map(admin::key_view).collect();
                println!("{}", serde_json::to_string(&views)?);
            } else {
                for k in keys.iter().map(admin::key_view) {
                    println!(
                        "{}\t{}\t{}…\t{}\t{}",
                        k.id,
                        k.kind,
                        k.prefix,
                        k.revoked_at
                            .map(|t| format!("revoked {t}"))
                            .unwrap_or_else(|| "active".to_owned()),
                        k.scopes.join(" ")
                    );
                }
            }
            Ok(())
        }
        ApiKeysCommand::Revoke { db, key_id } => {
            let id = ApiKeyId::parse(&key_id).context("KEY_ID must be a key id (key_…)")?;
            let store = db.open(false).await?;
            let result = match cli_audit("api_keys.revoke") {
                Ok(a) => admin::revoke_key(&store, &id, a).await,
                Err(p) => Err(p),
            };
            store.close().await;
            let key = result
                .map_err(|p| anyhow::anyhow!("cannot revoke the key: {}", problem_text(&p)))?;
            println!("revoked {} (tenant {})", key.id, key.tenant_id);
            Ok(())
        }
    }
}
