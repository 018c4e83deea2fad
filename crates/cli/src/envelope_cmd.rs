//! `zenalyze envelope encrypt|decrypt|inspect`: client-side envelope tools
//! for scripting and migrations. The interface is fixed (other tools call
//! it): passwords come only from `ZENALYZE_PASSWORD` or `--password-file`,
//! output is written only after the whole operation succeeded, and any
//! failure is one line on stderr with nothing on stdout.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use zenalyze_client::ZenalyzeEncryption;
use zenalyze_crypto::envelope::{self, EnvelopeRef, HEADER_LEN, IV_LEN, TAG_LEN};
use zeroize::Zeroizing;

/// Environment variable holding the password.
pub const PASSWORD_ENV: &str = "ZENALYZE_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum EnvelopeCommand {
    /// Encrypt a file or stdin into a v1 envelope (base64 line, or raw with --binary).
    Encrypt {
        #[command(flatten)]
        creds: Credentials,
        #[command(flatten)]
        io: InOut,
        /// Write the raw binary envelope instead of a base64 line.
        #[arg(long)]
        binary: bool,
    },
    /// Decrypt a v1 envelope (base64 text or raw binary) and write the plaintext bytes.
    Decrypt {
        #[command(flatten)]
        creds: Credentials,
        #[command(flatten)]
        io: InOut,
    },
    /// Print an envelope's version and sizes without decrypting it.
    Inspect {
        /// Read the envelope from this file instead of stdin.
        #[arg(long = "in", value_name = "PATH")]
        input: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Credentials {
    /// The user's email (normalized as key derivation profile v1 says).
    #[arg(long)]
    email: String,
    /// Associated data the envelope is bound to (its UTF-8 bytes).
    #[arg(long)]
    context: Option<String>,
    /// Read the password from this file (one trailing newline is ignored);
    /// otherwise it comes from the ZENALYZE_PASSWORD environment variable.
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InOut {
    /// Read from this file instead of stdin.
    #[arg(long = "in", value_name = "PATH")]
    input: Option<PathBuf>,
    /// Write to this file instead of stdout (written atomically).
    #[arg(long = "out", value_name = "PATH")]
    output: Option<PathBuf>,
}

pub fn run(cmd: EnvelopeCommand) -> Result<()> {
    match cmd {
        EnvelopeCommand::Encrypt { creds, io, binary } => {
            let enc = derive(&creds)?;
            let plaintext = Zeroizing::new(read_input(io.input.as_deref())?);
            let sealed = enc
                .seal(&plaintext, creds.context.as_deref().map(str::as_bytes))
                .context("encryption failed")?;
            let out = if binary {
                sealed
            } else {
                let mut line = envelope::encode_base64(&sealed).into_bytes();
                line.push(b'\n');
                line
            };
            write_output(io.output.as_deref(), &out)
        }
        EnvelopeCommand::Decrypt { creds, io } => {
            let input = read_input(io.input.as_deref())?;
            // Refuse non-envelopes before spending 100k PBKDF2 iterations.
            let bytes = envelope::decode_any(&input).map_err(|e| anyhow!("{e}"))?;
            let enc = derive(&creds)?;
            let plaintext = envelope::open_v1(
                enc.key(),
                &bytes,
                creds.context.as_deref().map(str::as_bytes),
            )
            .map_err(|e| anyhow!("{e}"))?;
            write_output(io.output.as_deref(), &plaintext)
        }
        EnvelopeCommand::Inspect { input } => {
            let raw = read_input(input.as_deref())?;
            let encoding = if raw.first() == Some(&envelope::VERSION_V1) {
                "binary"
            } else {
                "base64"
            };
            let bytes = envelope::decode_any(&raw).map_err(|e| anyhow!("{e}"))?;
            let parsed = EnvelopeRef::parse(&bytes).map_err(|e| anyhow!("{e}"))?;
            let report = format!(
                "version: {}\nencoding: {encoding}\nenvelope_bytes: {}\nheader_bytes: {HEADER_LEN}\niv_bytes: {IV_LEN}\ntag_bytes: {TAG_LEN}\nciphertext_bytes: {}\nplaintext_bytes: {}\n",
                parsed.version(),
                parsed.len(),
                parsed.ciphertext().len(),
                parsed.ciphertext().len(),
            );
            write_output(None, report.as_bytes())
        }
    }
}

fn derive(creds: &Credentials) -> Result<ZenalyzeEncryption> {
    let password = read_password(creds.password_file.as_deref())?;
    ZenalyzeEncryption::new(&creds.email, &password).map_err(|e| anyhow!("{e}"))
}

fn read_password(file: Option<&Path>) -> Result<Zeroizing<String>> {
    let raw = match file {
        Some(path) => {
            let bytes = Zeroizing::new(
                fs::read(path)
                    .with_context(|| format!("cannot read password file {}", path.display()))?,
            );
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| anyhow!("password file {} is not UTF-8", path.display()))?;
            Zeroizing::new(text.to_owned())
        }
        None => match std::env::var(PASSWORD_ENV) {
            Ok(v) => Zeroizing::new(v),
            Err(std::env::VarError::NotPresent) => bail!(
                "no password: set {PASSWORD_ENV} or pass --password-file PATH (never on the command line)"
            ),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{PASSWORD_ENV} is not UTF-8"),
        },
    };
    let trimmed = raw
        .strip_suffix("\r\n")
        .or_else(|| raw.strip_suffix('\n'))
        .unwrap_or(&raw);
    if trimmed.is_empty() {
        bail!("password is empty");
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(p) => fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        None => {
            let mut buf = Vec::new();
            io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
            Ok(buf)
        }
    }
}

/// Writes all of `data` or nothing: files go through a temporary file in the
/// same directory that is renamed into place.
fn write_output(path: Option<&Path>, data: &[u8]) -> Result<()> {
    match path {
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = p
                .file_name()
                .ok_or_else(|| anyhow!("--out {} is not a file path", p.display()))?;
            let tmp = dir.join(format!(
                ".{}.zenalyze-tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let result = (|| -> Result<()> {
                let mut f = fs::File::create(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?;
                f.write_all(data)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                f.sync_all().ok();
                fs::rename(&tmp, p).with_context(|| format!("cannot write {}", p.display()))
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(data)
                .and_then(|()| out.flush())
                .context("cannot write stdout")
        }
    }
}
