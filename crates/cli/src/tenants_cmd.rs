//! `zenalyze tenants create|update|list`: tenant administration directly against
//! the configured database (the same operations as `/v1/admin/tenants`,
//! audited with actor `cli`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use zenalyze_gateway::admin;
use zenalyze_gateway::auth::audit_draft;
use zenalyze_gateway::keys::KeyKind;
use zenalyze_store::{Actor, Store, StoreOptions, TenantId};

/// Where the database is.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Data directory of the embedded (SQLite) store, `DIR/zenalyze.db`
    /// (default `./.zenalyze` when no database URL is given).
    #[arg(long, value_name = "DIR", conflicts_with = "database_url")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`postgres://…` or `sqlite://…`).
    #[arg(
        long,
        value_name = "URL",
        env = "ZENALYZE_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// Opens the store; an absent SQLite store is created only when
    /// `create` is set (never just to read it).
    pub async fn open(&self, create: bool) -> anyhow::Result<Arc<dyn Store>> {
        let options = StoreOptions {
            max_connections: 2,
            ..StoreOptions::default()
        };
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                bail!("--database-url must start with postgres://, postgresql:// or sqlite:");
            }
            return zenalyze_store::open_with(url, &options)
                .await
                .context("cannot open the database");
        }
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(zenalyze_store::DEFAULT_DATA_DIR));
        if !create && !zenalyze_store::sqlite_path_for_data_dir(&dir).is_file() {
            bail!(
                "no store in {} (run `zenalyze dev` first, or pass --database-url)",
                dir.display()
            );
        }
        zenalyze_store::open_data_dir(&dir, &options)
            .await
            .context("cannot open the database")
    }
}

/// Tenant verbs.
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant with a secret and a publishable key (shown once).
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// Display name of the customer organisation.
        #[arg(long)]
        name: String,
        /// Tier: free, starter, pro or enterprise.
        #[arg(long, default_value = "free")]
        tier: String,
        /// Create a zk_test_ secret key instead of zk_live_.
        #[arg(long)]
        test: bool,
        /// Quota override: metered requests per quota window (the tier's
        /// UTC day or month), replacing the tier's default.
        #[arg(long, value_name = "N")]
        quota_override: Option<u64>,
        /// Burst override: requests per second (1 to 1000000), replacing
        /// the tier's default.
        #[arg(long, value_name = "N")]
        burst_override: Option<u32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's tier and limit overrides (options not given are
    /// kept).
    Update {
        #[command(flatten)]
        db: DbArgs,
        /// The tenant (`ten_…`).
        #[arg(long)]
        id: String,
        /// New tier: free, starter, pro or enterprise.
        #[arg(long)]
        tier: Option<String>,
        /// New quota override (metered requests per quota window).
        #[arg(long, value_name = "N", conflicts_with = "clear_quota_override")]
        quota_override: Option<u64>,
        /// Remove the quota override (back to the tier's default).
        #[arg(long)]
        clear_quota_override: bool,
        /// New burst override (requests per second, 1 to 1000000).
        #[arg(long, value_name = "N", conflicts_with = "clear_burst_override")]
        burst_override: Option<u32>,
        /// Remove the burst override (back to the tier's default).
        #[arg(long)]
        clear_burst_override: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Audit draft builder for CLI operations.
pub fn cli_audit(
    op: &str,
) -> Result<zenalyze_store::AuditDraft, zenalyze_gateway::problem::Problem> {
    audit_draft(Actor::Cli, op, &zenalyze_gateway::request_id::generate())
}

/// Runs a tenant verb.
pub async fn run(cmd: TenantsCommand) -> anyhow::Result<()> {
    match cmd {
        TenantsCommand::Create {
            db,
            name,
            tier,
            test,
            quota_override,
            burst_override,
            json,
        } => {
            let tier = admin::parse_tier(&tier)
                .map_err(|_| anyhow::anyhow!("--tier must be free, starter, pro or enterprise"))?;
            let store = db.open(true).await?;
            let kind = if test { KeyKind::Test } else { KeyKind::Live };
            let result = admin::create_tenant_with_keys_and_overrides(
                &store,
                &name,
                tier,
                (quota_override, burst_override),
                kind,
                &cli_audit,
            )
            .await;
            store.close().await;
            let (tenant, secret, publishable) = result
                .map_err(|p| anyhow::anyhow!("cannot create the tenant: {}", problem_text(&p)))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "tenant_id": tenant.id.as_str(),
                        "secret_key": secret.expose_secret(),
                        "publishable_key": publishable.expose_secret(),
                    })
                );
            } else {
                println!("tenant_id:       {}", tenant.id);
                println!("secret_key:      {}", secret.expose_secret());
                println!("publishable_key: {}", publishable.expose_secret());
                println!("(the keys are shown only now; store them safely)");
            }
            Ok(())
        }
        TenantsCommand::Update {
            db,
            id,
            tier,
            quota_override,
            clear_quota_override,
            burst_override,
            clear_burst_override,
            json,
        } => {
            let id = TenantId::parse(&id)
                .map_err(|_| anyhow::anyhow!("--id must be a tenant id (ten_…)"))?;
            let req = admin::UpdateTenantRequest {
                tier,
                quota_override: if clear_quota_override {
                    Some(None)
                } else {
                    quota_override.map(Some)
                },
                burst_override: if clear_burst_override {
                    Some(None)
                } else {
                    burst_override.map(Some)
                },
            };
            let store = db.open(false).await?;
            let audit =
                cli_audit("tenants.update").map_err(|p| anyhow::anyhow!("{}", problem_text(&p)))?;
            let result = admin::update_tenant(&store, &id, &req, audit).await;
            store.close().await;
            let t = result
                .map_err(|p| anyhow::anyhow!("cannot update the tenant: {}", problem_text(&p)))?;
            if json {
                println!("{}", serde_json::to_string(&admin::tenant_view(&t))?);
            } else {
                println!(
                    "{}\t{}\tquota_override={}\tburst_override={}",
                    t.id,
                    t.tier,
                    t.quota_override
                        .map_or("none".to_owned(), |q| q.to_string()),
                    t.burst_override
                        .map_or("none".to_owned(), |b| b.to_string()),
                );
                println!("(running gateways apply it within 5 seconds)");
            }
            Ok(())
        }
        TenantsCommand::List { db, json } => {
            let store = db.open(false).await?;
            let result = list_all(&store).await;
            store.close().await;
            let tenants = result?;
            if json {
                let views: Vec<_> = tenants.iter().map(admin::tenant_view).collect();
                println!("{}", serde_json::to_string(&views)?);
            } else {
                for t in &tenants {
                    println!(
                        "{}\t{}\t{}\t{}",
                        t.id,
                        t.tier,
                        zenalyze_gateway::records::rfc3339(t.created_at),
                        t.name
                    );
                }
            }
            Ok(())
        }
    }
}

async fn list_all(store: &Arc<dyn Store>) -> anyhow::Result<Vec<zenalyze_store::Tenant>> {
    let mut out = Vec::new();
    let mut after: Option<TenantId> = None;
    loop {
        let page = store
            .list_tenants(1000, after.as_ref())
            .await
            .context("cannot list tenants")?;
        let done = page.len() < 1000;
        after = page.last().map(|t| t.id.clone());
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// One line describing a gateway problem.
pub fn problem_text(p: &zenalyze_gateway::problem::Problem) -> String {
    let doc = p.document();
    match doc.detail {
        Some(d) => format!("{} ({d})", doc.title),
        None => doc.title,
    }
}
