//! `zenalyze`: one binary for the whole platform.
//!
//! Each verb lives in its own `*_cmd` module; this file only parses the
//! command line, runs the verb and turns any failure into one clear line on
//! stderr and a non-zero exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the gateway allocates and
/// frees many small buffers per request (JSON, base64, headers), and glibc's
/// malloc spent about a fifth of the server's CPU in the encrypt benchmark
/// (`perf`, docs/benchmarks-kms.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api_keys_cmd;
mod attestation_cmd;
mod audit_cmd;
mod dev_cmd;
mod egress_proxy_cmd;
mod enclave_cmd;
mod envelope_cmd;
mod keyrings_cmd;
mod serve_cmd;
mod tenants_cmd;

/// Zenalyze Encryption Platform.
#[derive(Debug, Parser)]
#[command(name = "zenalyze", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encrypt, decrypt and inspect v1 envelopes on this machine (client side).
    Envelope {
        #[command(subcommand)]
        cmd: envelope_cmd::EnvelopeCommand,
    },
    // Verbs added by other modules go below this line, one variant each.
    /// Run the whole platform locally on embedded defaults (SQLite, local root key).
    Dev(dev_cmd::DevArgs),
    /// Run the production gateway (PostgreSQL; config file + ZENALYZE_* environment).
    Serve(serve_cmd::ServeArgs),
    /// Create and list tenants directly in the database.
    Tenants {
        #[command(subcommand)]
        cmd: tenants_cmd::TenantsCommand,
    },
    /// Create, list and revoke API keys directly in the database.
    ApiKeys {
        #[command(subcommand)]
        cmd: api_keys_cmd::ApiKeysCommand,
    },
    /// Create, list, rotate, configure and delete platform keyrings (Key Management Service).
    Keyrings {
        #[command(subcommand)]
        cmd: keyrings_cmd::KeyringsCommand,
    },
    /// Verify and export the hash-chained audit log.
    Audit {
        #[command(subcommand)]
        cmd: audit_cmd::AuditCommand,
    },
    /// Run the AI Privacy Service (enclave runtime; a local process in development).
    Enclave(enclave_cmd::EnclaveArgs),
    /// Run the parent-side egress proxy (allowlisted CONNECT tunnels for the enclave).
    EgressProxy(egress_proxy_cmd::EgressProxyArgs),
    /// Verify an AWS Nitro (or development) attestation document offline.
    Attestation {
        #[command(subcommand)]
        cmd: attestation_cmd::AttestationCommand,
    },
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Envelope { cmd } => envelope_cmd::run(cmd),
        // Match arms of other verbs go below this line.
        Command::Dev(args) => dev_cmd::run(args).await,
        Command::Serve(args) => serve_cmd::run(args).await,
        Command::Tenants { cmd } => tenants_cmd::run(cmd).await,
        Command::ApiKeys { cmd } => api_keys_cmd::run(cmd).await,
        Command::Audit { cmd } => audit_cmd::run(cmd).await,
        Command::Keyrings { cmd } => keyrings_cmd::run(cmd).await,
        Command::Attestation { cmd } => attestation_cmd::run(cmd),
        Command::Enclave(args) => enclave_cmd::run(args).await,
        Command::EgressProxy(args) => egress_proxy_cmd::run(args).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zenalyze: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, joined.
            let mut line = e.to_string();
            for cause in e.chain().skip(1) {
                line.push_str(": ");
                line.push_str(&cause.to_string());
            }
            eprintln!("zenalyze: error: {}", line.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
