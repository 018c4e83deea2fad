//! `zenalyze audit`: verify and export the hash-chained audit log
//! (SPEC §7; `docs/audit.md`).
//!
//! * `zenalyze audit verify [--data-dir DIR | --database-url URL]` walks the
//!   whole chain; it prints a one-line summary and exits 0 when intact, and
//!   fails naming the first bad sequence number otherwise.
//! * `zenalyze audit export [--data-dir DIR | --database-url URL]
//!   [--out FILE] [--from SEQ]` writes the events as JSONL (one event per
//!   line, with `prev_hash` and `hash`) for long-term retention.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zenalyze_store::{Store, StoreOptions};

/// Audit-log verbs.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit chain; exit 0 when intact, non-zero naming the first
    /// bad sequence number otherwise.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Export audit events as JSONL (one event per line, with hashes).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Write to this file (created with mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// First sequence number to export (default: 1, the whole log).
        #[arg(long, value_name = "SEQ", default_value_t = 1)]
        from: u64,
    },
}

/// Where the store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory of an embedded (SQLite) store: DIR/zenalyze.db.
    /// Default `./.zenalyze` when no database URL is given.
    #[arg(long, value_name = "DIR", conflicts_with = "database_url")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`postgres://…` or `sqlite://…`).
    #[arg(long, value_name = "URL", env = "ZENALYZE_DATABASE_URL")]
    pub database_url: Option<String>,
}

async fn open_store(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let options = StoreOptions {
        max_connections: 2,
        ..StoreOptions::default()
    };
    if let Some(url) = &args.database_url {
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            bail!("--database-url must start with postgres://, postgresql:// or sqlite:");
        }
        return zenalyze_store::open_with(url, &options)
            .await
            .context("cannot open the store");
    }
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(zenalyze_store::DEFAULT_DATA_DIR));
    let file = zenalyze_store::sqlite_path_for_data_dir(&dir);
    // Never create an empty store just to verify or export it.
    if !file.is_file() {
        bail!(
            "no store at {} (use --data-dir or --database-url)",
            file.display()
        );
    }
    zenalyze_store::open_data_dir(&dir, &options)
        .await
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Runs an audit verb.
pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { store } => {
            let store = open_store(&store).await?;
            let result = verify(store.as_ref()).await;
            store.close().await;
            let line = result?;
            println!("{line}");
            Ok(())
        }
        AuditCommand::Export { store, out, from } => {
            let store = open_store(&store).await?;
            let result = export(store.as_ref(), out.as_deref(), from).await;
            store.close().await;
            let line = result?;
            eprintln!("{line}");
            Ok(())
        }
    }
}

async fn verify(store: &dyn Store) -> anyhow::Result<String> {
    let report = store
        .verify_audit()
        .await
        .context("cannot read the audit log")?;
    match report.first_break {
        None => Ok(format!(
            "audit log intact: {} events, head seq {} hash {} ({})",
            report.verified,
            report.last_good.seq,
            hex_hash(&report.last_good.hash),
            store.backend()
        )),
        Some(b) => bail!(
            "audit log BROKEN: first bad sequence number {} ({}); {} events verified before it",
            b.seq,
            b.reason.describe(),
            report.verified
        ),
    }
}

fn hex_hash(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

async fn export(store: &dyn Store, out: Option<&Path>, from: u64) -> anyhow::Result<String> {
    let after = from.saturating_sub(1);
    let (count, target) = match out {
        Some(path) => {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut file = options
                .open(path)
                .await
                .with_context(|| format!("cannot create {}", path.display()))?;
            let n = store
                .export_audit(after, &mut file)
                .await
                .context("export failed")?;
            file.sync_all()
                .await
                .with_context(|| format!("cannot sync {}", path.display()))?;
            (n, path.display().to_string())
        }
        None => {
            let mut stdout = tokio::io::stdout();
            let n = store
                .export_audit(after, &mut stdout)
                .await
                .context("export failed")?;
            (n, "stdout".to_owned())
        }
    };
    let head = store
        .audit_head()
        .await
        .context("cannot read the chain head")?;
    Ok(format!(
        "exported {count} audit events (seq >= {from}) to {target}; chain head seq {} hash {}",
        head.seq,
        hex_hash(&head.hash)
    ))
}
