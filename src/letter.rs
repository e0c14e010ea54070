//! `corridor letter ...`: print a decision letter for an operator, and check a letter file
//! offline. The work is the engine's (`corridor_engine::letter`); this words it for a terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use corridor::config::Config;
use corridor::startup;
use corridor_engine::audit::checkpoint::{AuditKey, PublicKey};
use corridor_engine::clock::SystemClock;
use corridor_engine::model::Reference;

#[derive(Subcommand)]
pub enum LetterCommand {
    /// Write an application's decision letter (PDF), made now if it was not yet.
    Print {
        reference: String,
        /// The PDF file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Check a letter file offline: its content signed by the key, and the file, byte for
    /// byte, what that content renders to. Exit 0 when genuine, 1 otherwise.
    Verify {
        file: PathBuf,
        /// ed25519:HEX, or a file holding it (published at /.well-known/corridor-letter-key);
        /// default: the configured `[audit] signing_key`'s public key.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// `verify` with a key given: no configuration and no database.
pub fn is_offline(command: &LetterCommand) -> bool {
    matches!(command, LetterCommand::Verify { public_key: Some(_), .. })
}

pub async fn run(config: Option<&Config>, command: LetterCommand) -> anyhow::Result<ExitCode> {
    match command {
        LetterCommand::Verify { file, public_key } => {
            let key = match public_key {
                Some(k) => PublicKey::parse(&k)?,
                None => {
                    let config = config.context("no configuration to read the public key from; give --public-key")?;
                    AuditKey::load(&config.audit.signing_key)?
                        .with_context(|| {
                            format!("{}: no signing key here; give --public-key", config.audit.signing_key.display())
                        })?
                        .public()
                }
            };
            verify(&file, &key)
        }
        LetterCommand::Print { reference, output } => {
            let config = config.context("a configuration is needed")?;
            let reference: Reference =
                reference.parse().map_err(|_| anyhow::anyhow!("`{reference}` is not an application reference"))?;
            let engine = startup::build_engine(config, Arc::new(SystemClock)).await?;
            let letter = engine.letter_for_operator(&reference).await.map_err(|e| match e {
                corridor_engine::error::EngineError::NotFound(_) => {
                    anyhow::anyhow!("{reference}: no such application, or no decision has ended it yet")
                }
                other => other.into(),
            })?;
            std::fs::write(&output, &letter.pdf).with_context(|| format!("{}: cannot write", output.display()))?;
            println!(
                "{}: letter {} (code {}) written to {}, SHA-256 {}",
                reference,
                letter.record.number,
                letter.letter.content.code.grouped(),
                output.display(),
                letter.record.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(file: &Path, key: &PublicKey) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    match corridor_engine::letter::verify_file(&bytes, key) {
        Ok(letter) => {
            let c = &letter.content;
            println!("{}: genuine letter {} ({}), {}", file.display(), c.number, c.reference, c.decision.en);
            println!("  holder: {}; decided {}; signed by {}", c.holder.full_name, c.date.iso, key.fingerprint());
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            eprintln!("{}: not a genuine letter: {problem}", file.display());
            Ok(ExitCode::from(1))
        }
    }
}
