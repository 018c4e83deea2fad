//! `zenalyze attestation verify`: check an AWS Nitro (or development)
//! attestation document offline, with the same verifier the client SDK uses
//! (`zenalyze-attestation`).
//!
//! Fixed interface (scripts call it):
//!
//! ```text
//! zenalyze attestation verify FILE --at TIME
//!     [--pcr0 HEX --pcr1 HEX --pcr2 HEX --pcr8 HEX] [--policy FILE]
//!     [--allow-debug] [--nonce HEX] [--root PEM] [--max-age SECONDS]
//! ```
//!
//! `TIME` is RFC 3339 (`2022-10-13T09:00:00Z`) or Unix seconds. Without
//! `--root` the pinned AWS Nitro root G1 is trusted. `--policy` reads a JSON
//! policy (schema in `docs/attestation.md`); the command-line flags add to
//! it (`--pcr*` adds one measurement set, `--allow-debug` allows debug,
//! `--max-age` and `--root` override). Exit status 0 and a summary on stdout
//! only when the document is valid; otherwise one line on stderr and a
//! non-zero status.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use clap::Subcommand;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zenalyze_attestation::{
    verify, MeasurementSet, Measurements, Policy, TrustedRoot, VerifiedDocument,
    AWS_NITRO_ROOT_G1_SHA256, MAX_DOCUMENT_LEN,
};

/// `zenalyze attestation …`
#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Verify an attestation document (COSE_Sign1, raw or base64) at a given time.
    Verify {
        /// The attestation document: raw COSE_Sign1 bytes, or their base64.
        file: PathBuf,
        /// Verification time: RFC 3339 (2022-10-13T09:00:00Z) or Unix seconds.
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Allowed PCR0 (96 hex digits); with --pcr1, --pcr2 and --pcr8 forms one measurement set.
        #[arg(long, value_name = "HEX", requires_all = ["pcr1", "pcr2", "pcr8"])]
        pcr0: Option<String>,
        /// Allowed PCR1 (96 hex digits).
        #[arg(long, value_name = "HEX", requires_all = ["pcr0", "pcr2", "pcr8"])]
        pcr1: Option<String>,
        /// Allowed PCR2 (96 hex digits).
        #[arg(long, value_name = "HEX", requires_all = ["pcr0", "pcr1", "pcr8"])]
        pcr2: Option<String>,
        /// Allowed PCR8 (96 hex digits).
        #[arg(long, value_name = "HEX", requires_all = ["pcr0", "pcr1", "pcr2"])]
        pcr8: Option<String>,
        /// JSON policy file: {"measurements": [{"pcr0","pcr1","pcr2","pcr8"}], "allow_debug", "max_age", ...}.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Accept debug-mode documents (PCR0/1/2/8 all zero). Never for production.
        #[arg(long)]
        allow_debug: bool,
        /// The expected nonce (challenge), hex. Without it the nonce is NOT checked.
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// Trust this root certificate (PEM file; its CERTIFICATE block) instead of the AWS Nitro root.
        #[arg(long, value_name = "PEM")]
        root: Option<PathBuf>,
        /// Maximum document age in seconds at --at (default 300, or the policy file's max_age).
        #[arg(long, value_name = "SECONDS")]
        max_age: Option<u64>,
    },
}

/// The `--policy` JSON file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    /// Allowed measurement sets.
    #[serde(default)]
    measurements: Vec<MeasurementFile>,
    /// Accept debug-mode documents.
    #[serde(default)]
    allow_debug: bool,
    /// Maximum document age, seconds.
    max_age: Option<u64>,
    /// Tolerated clock skew for timestamps in the future, seconds.
    max_future_skew: Option<u64>,
    /// SHA-256 fingerprint (hex) of the trusted root; default AWS Nitro root G1.
    root_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasurementFile {
    pcr0: String,
    pcr1: String,
    pcr2: String,
    pcr8: String,
}

/// Run an attestation verb.
pub fn run(cmd: AttestationCommand) -> Result<()> {
    match cmd {
        AttestationCommand::Verify {
            file,
            at,
            pcr0,
            pcr1,
            pcr2,
            pcr8,
            policy,
            allow_debug,
            nonce,
            root,
            max_age,
        } => {
            let now_ms = parse_time(&at)?;
            let mut pol = match &policy {
                Some(path) => read_policy(path)?,
                None => Policy::production(Vec::new()),
            };
            if let (Some(p0), Some(p1), Some(p2), Some(p8)) = (&pcr0, &pcr1, &pcr2, &pcr8) {
                let set = MeasurementSet::from_hex(p0, p1, p2, p8)
                    .map_err(|e| anyhow!("--pcr0/--pcr1/--pcr2/--pcr8: {e}"))?;
                pol.measurements.push(set);
            }
            pol.allow_debug |= allow_debug;
            if let Some(secs) = max_age {
                pol.max_age_ms = secs
                    .checked_mul(1000)
                    .ok_or_else(|| anyhow!("--max-age is too large"))?;
            }
            if let Some(path) = &root {
                pol.trusted_root = read_root(path)?;
            }
            let nonce = nonce
                .as_deref()
                .map(|h| hex::decode(h.trim()).map_err(|_| anyhow!("--nonce must be hex")))
                .transpose()?;
            let document = read_document(&file)?;
            let verified = verify(&document, &pol, nonce.as_deref(), now_ms)
                .map_err(|e| anyhow!("attestation document refused: {e}"))?;
            print!("{}", summary(&verified, &pol, now_ms, root.is_some()));
            Ok(())
        }
    }
}

/// RFC 3339 or Unix seconds → Unix milliseconds.
fn parse_time(s: &str) -> Result<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s
            .parse()
            .map_err(|_| anyhow!("--at: Unix seconds out of range"))?;
        return secs
            .checked_mul(1000)
            .ok_or_else(|| anyhow!("--at: Unix seconds out of range"));
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        anyhow!("--at must be RFC 3339 (e.g. 2022-10-13T09:00:00Z) or Unix seconds")
    })?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map_err(|_| anyhow!("--at is before 1970"))
}

fn format_ms(ms: u64) -> String {
    i128::from(ms)
        .checked_mul(1_000_000)
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn read_limited(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>> {
    let f =
        fs::File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))?;
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if buf.len() > limit {
        bail!("{what} {} is larger than {limit} bytes", path.display());
    }
    Ok(buf)
}

/// Raw COSE_Sign1 (starts with a CBOR array or tag 18), or base64 of it.
fn read_document(path: &Path) -> Result<Vec<u8>> {
    // base64 of the largest document is 4/3 of it, plus line breaks.
    let bytes = read_limited(path, MAX_DOCUMENT_LEN * 2, "document")?;
    match bytes.first() {
        Some(0x84) | Some(0xd2) => Ok(bytes),
        _ => {
            let text: String = String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .or_else(|_| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.as_bytes())
                })
                .map_err(|_| {
                    anyhow!(
                        "document {} is neither a COSE_Sign1 nor base64 of one",
                        path.display()
                    )
                })
        }
    }
}

fn read_policy(path: &Path) -> Result<Policy> {
    let bytes = read_limited(path, 1 << 20, "policy file")?;
    let file: PolicyFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("policy file {} is not a valid policy", path.display()))?;
    let mut policy = Policy::production(Vec::new());
    for (i, m) in file.measurements.iter().enumerate() {
        policy.measurements.push(
            MeasurementSet::from_hex(&m.pcr0, &m.pcr1, &m.pcr2, &m.pcr8)
                .map_err(|e| anyhow!("policy file {}: measurements[{i}]: {e}", path.display()))?,
        );
    }
    policy.allow_debug = file.allow_debug;
    if let Some(secs) = file.max_age {
        policy.max_age_ms = secs
            .checked_mul(1000)
            .ok_or_else(|| anyhow!("policy file: max_age is too large"))?;
    }
    if let Some(secs) = file.max_future_skew {
        policy.max_future_skew_ms = secs
            .checked_mul(1000)
            .ok_or_else(|| anyhow!("policy file: max_future_skew is too large"))?;
    }
    if let Some(fp) = &file.root_sha256 {
        policy.trusted_root = TrustedRoot::from_sha256_hex(fp)
            .map_err(|e| anyhow!("policy file {}: root_sha256: {e}", path.display()))?;
    }
    Ok(policy)
}

/// The single CERTIFICATE block of a PEM file (other blocks, such as the
/// private key of a development root bundle, are ignored and never echoed).
fn read_root(path: &Path) -> Result<TrustedRoot> {
    let bytes = read_limited(path, 1 << 20, "root certificate")?;
    // The file may be a development root bundle that also holds the private
    // key: keep the text in a zeroizing buffer and never echo it.
    let bytes = zeroize::Zeroizing::new(bytes);
    let text =
        std::str::from_utf8(&bytes).map_err(|_| anyhow!("--root {} is not PEM", path.display()))?;
    let mut certs = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line == "-----END CERTIFICATE-----" {
                certs.extend(current.take());
            }
        }
    }
    match certs.as_slice() {
        [one] => TrustedRoot::from_pem(one).map_err(|e| anyhow!("--root {}: {e}", path.display())),
        [] => bail!("--root {} holds no CERTIFICATE block", path.display()),
        _ => bail!(
            "--root {} holds more than one CERTIFICATE block",
            path.display()
        ),
    }
}

fn summary(v: &VerifiedDocument, policy: &Policy, now_ms: u64, custom_root: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let root_name = if *policy.trusted_root.sha256() == AWS_NITRO_ROOT_G1_SHA256 {
        "AWS Nitro Enclaves root G1"
    } else if custom_root {
        "root from --root"
    } else {
        "root from the policy file"
    };
    let _ = writeln!(s, "attestation document: VALID");
    let _ = writeln!(s, "module_id:   {}", v.module_id);
    let _ = writeln!(
        s,
        "timestamp:   {} ({} ms)",
        format_ms(v.timestamp_ms),
        v.timestamp_ms
    );
    let _ = writeln!(s, "verified at: {}", format_ms(now_ms));
    match v.measurements {
        Measurements::Matched { set } => {
            let _ = writeln!(
                s,
                "mode:        production (matches allowed measurement set {set})"
            );
        }
        Measurements::Debug => {
            let _ = writeln!(
                s,
                "mode:        DEBUG (PCR0/1/2/8 all zero; accepted only because debug is allowed; never send real data)"
            );
        }
    }
    let _ = writeln!(
        s,
        "root:        sha256:{} ({root_name})",
        hex::encode(v.root_sha256)
    );
    let _ = writeln!(s, "leaf:        {}", v.leaf.subject);
    let _ = writeln!(
        s,
        "leaf valid:  {} .. {}",
        format_ms(v.leaf.not_before.saturating_mul(1000)),
        format_ms(v.leaf.not_after.saturating_mul(1000))
    );
    let _ = writeln!(s, "cabundle:    {} certificates", v.cabundle_len);
    for (index, value) in &v.pcrs {
        let _ = writeln!(s, "PCR{index:<2}        {}", hex::encode(value));
    }
    let field = |f: &Option<Vec<u8>>| match f {
        Some(b) => format!("{} bytes", b.len()),
        None => "absent".to_string(),
    };
    let _ = writeln!(s, "public_key:  {}", field(&v.public_key));
    let _ = writeln!(s, "user_data:   {}", field(&v.user_data));
    let nonce_line = if v.nonce_checked {
        "checked: equals --nonce".to_string()
    } else {
        format!(
            "NOT checked (no --nonce given; document nonce {}): the document may be a replay",
            field(&v.nonce)
        )
    };
    let _ = writeln!(s, "nonce:       {nonce_line}");
    let freshness = format!(
        "timestamp fresh (max age {} s, max skew {} s)",
        policy.max_age_ms / 1000,
        policy.max_future_skew_ms / 1000
    );
    let pcr_check = match v.measurements {
        Measurements::Matched { .. } => "PCR0/1/2/8 match an allowed set",
        Measurements::Debug => "PCR0/1/2/8 all zero with debug allowed",
    };
    let _ = writeln!(
        s,
        "checks passed: COSE_Sign1 ES384 signature by the leaf key; certificate chain valid at the verification time up to the pinned root; {freshness}; {}{pcr_check}",
        if v.nonce_checked { "nonce; " } else { "" }
    );
    s
}
