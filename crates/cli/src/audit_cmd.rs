//! `zenalyze audit`: verify and export the hash-chained audit log
//! (SPEC §7; `docs/audit.md`).
//!
//! * `zenalyze audit verify [--data-dir DIR | --database-url URL]` walks the
//!   whole chain; it prints a one-line summary and exits 0 when intact, and
//!   fails naming the first bad sequence number otherwise. With
//!   `--jsonl FILE [--after SEQ:HASH]` it checks an export file instead
//!   (offline verification of retained exports).
//! * `zenalyze audit export [--data-dir DIR | --database-url URL]
//!   [--out FILE] [--from SEQ]` writes the events as JSONL (one event per
//!   line, with `prev_hash` and `hash`) for long-term retention.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zenalyze_store::{AuditHead, ChainVerifier, Store, StoreOptions};

/// Audit-log verbs.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit chain; exit 0 when intact, non-zero naming the first
    /// bad sequence number otherwise.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Verify a JSONL export file instead of a store (offline check of
        /// retained exports).
        #[arg(long, value_name = "FILE")]
        jsonl: Option<PathBuf>,
        /// With --jsonl: the trusted anchor `SEQ:HASH` (hex) the file must
        /// continue from. Default: genesis for a file starting at seq 1,
        /// else the first event's own `prev_hash` (reported as unanchored).
        #[arg(long, value_name = "SEQ:HASH", requires = "jsonl")]
        after: Option<String>,
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
        AuditCommand::Verify {
            jsonl: Some(path),
            after,
            ..
        } => {
            let line = verify_jsonl(&path, after.as_deref()).await?;
            println!("{line}");
            Ok(())
        }
        AuditCommand::Verify { store, .. } => {
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

fn parse_anchor(text: &str) -> anyhow::Result<AuditHead> {
    let (seq, hash) = text.split_once(':').context("--after must be SEQ:HASH")?;
    let seq: u64 = seq.parse().context("--after: SEQ must be a number")?;
    let bytes = hash.as_bytes();
    if bytes.len() != 64 {
        bail!("--after: HASH must be 64 hex digits");
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).context("--after: HASH must be hex")?;
        out[i] = u8::from_str_radix(text, 16).context("--after: HASH must be hex")?;
    }
    Ok(AuditHead { seq, hash: out })
}

/// Verifies a JSONL export: every line must parse and extend the chain.
async fn verify_jsonl(path: &Path, after: Option<&str>) -> anyhow::Result<String> {
    use tokio::io::AsyncBufReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut lines = tokio::io::BufReader::new(file).lines();
    let anchor = after.map(parse_anchor).transpose()?;
    let mut verifier: Option<ChainVerifier> = anchor.map(ChainVerifier::starting_after);
    let mut anchored = anchor.is_some();
    let mut first_seq = None;
    while let Some(line) = lines
        .next_line()
        .await
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = zenalyze_store::audit::parse_json_line(&line);
        let v = verifier.get_or_insert_with(|| match &parsed {
            Ok(e) if e.seq > 1 => ChainVerifier::starting_after(AuditHead {
                seq: e.seq - 1,
                hash: e.prev_hash,
            }),
            _ => {
                anchored = true;
                ChainVerifier::new()
            }
        });
        first_seq.get_or_insert(match &parsed {
            Ok(e) => e.seq,
            Err(_) => v.next_seq(),
        });
        let next = v.next_seq();
        if !v.push(parsed.as_ref().map_err(|_| next)) {
            break;
        }
    }
    let Some(verifier) = verifier else {
        bail!("{} contains no events", path.display());
    };
    let report = verifier.finish(None);
    match report.first_break {
        None => Ok(format!(
            "export intact: {} events, seq {}..={}, last hash {}{}",
            report.verified,
            first_seq.unwrap_or(0),
            report.last_good.seq,
            hex_hash(&report.last_good.hash),
            if anchored {
                ""
            } else {
                " (unanchored: compare the first event's prev_hash with your recorded anchor, or pass --after)"
            }
        )),
        Some(b) => bail!(
            "export BROKEN: first bad sequence number {} ({}); {} events verified before it",
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
