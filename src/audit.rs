//! `corridor audit ...`: verify the record, sign checkpoints, export and check proofs. The
//! work is the engine's (`corridor_engine::audit`); this words it for a terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use corridor::config::Config;
use corridor::startup;
use corridor_engine::audit::checkpoint::PublicKey;
use corridor_engine::audit::{VerifyOptions, proof};
use corridor_engine::clock::SystemClock;
use corridor_engine::model::Reference;
use corridor_engine::service::Engine;

use crate::AuditCommand;

pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let startup::Built { engine, store } = startup::build(config, Arc::new(SystemClock)).await?;
    match command {
        AuditCommand::Verify { reference, public_key, witness } => {
            verify(&engine, reference.as_deref(), public_key.as_deref(), witness).await
        }
        AuditCommand::Checkpoint => {
            let (_, created) = engine.audit_key()?;
            if created {
                announce_key(&engine)?;
            }
            let c = engine.create_checkpoint().await?;
            println!(
                "checkpoint {} signed: {} applications, root {}, at {}",
                c.seq,
                c.tree_size,
                c.root_hash,
                corridor_engine::audit::canonical_time(c.created_at)
            );
            if let Some(files) = engine.audit_files() {
                println!("appended to the witness file {}", files.witness.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { reference, output } => {
            let reference = parse_reference(&reference)?;
            let exported = engine.export_proof(&reference).await?;
            let text = serde_json::to_string_pretty(&exported)? + "\n";
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "proof of {} ({} events, checkpoint {}) written to {}",
                        exported.reference,
                        exported.events.len(),
                        exported.checkpoint.seq,
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::PublicKey => {
            announce_key(&engine)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifyProof { file, public_key } => verify_proof(&file, &public_key),
        AuditCommand::AccessLog { reference, limit } => {
            let reference = reference.as_deref().map(parse_reference).transpose()?;
            access_log(store.as_ref(), reference, limit).await
        }
    }
}

/// The access log for the operator, page by page (keyset on the line id), as TSV.
async fn access_log(
    store: &dyn corridor_engine::store::Store,
    reference: Option<Reference>,
    limit: Option<usize>,
) -> anyhow::Result<ExitCode> {
    use corridor_engine::model::AccessQuery;
    // A tab or line break in a name would shift the columns.
    let cell = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    println!("id\tat\twho\trole\tkind\treference\titem\tdocument\tclient");
    let mut left = limit.unwrap_or(usize::MAX);
    let mut before = None;
    while left > 0 {
        let page_size = left.min(corridor_engine::access::MAX_ACCESS_PAGE as usize) as i64;
        let query = AccessQuery { reference: reference.clone(), user_id: None, before, limit: page_size };
        let lines = store.access_log(&query).await?;
        for l in &lines {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                l.id,
                corridor_engine::audit::canonical_time(l.at),
                cell(&l.actor_name),
                l.role,
                l.kind.as_str(),
                l.reference,
                cell(&l.item),
                l.document_id.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                l.client.as_deref().map(cell).unwrap_or_else(|| "-".into()),
            );
        }
        left -= lines.len();
        match lines.last() {
            Some(last) if lines.len() as i64 == page_size => before = Some(last.id),
            _ => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_reference(given: &str) -> anyhow::Result<Reference> {
    given.parse().map_err(|_| anyhow::anyhow!("--reference: `{given}` is not an application reference"))
}

/// Make the signing key when it is missing, and say which key signs (stdout and the log).
pub fn announce_key(engine: &Engine) -> anyhow::Result<()> {
    let (key, created) = engine.audit_key()?;
    let public = key.public();
    let path = engine.audit_files().map(|f| f.signing_key.display().to_string()).unwrap_or_default();
    if created {
        tracing::warn!(path = %path, "a new audit signing key was made; keep it outside the database and its backups");
    }
    tracing::info!(public_key = %public.to_text(), fingerprint = %public.fingerprint(), "audit checkpoints are signed with this key");
    println!("audit public key: {}", public.to_text());
    println!("audit key fingerprint: {}", public.fingerprint());
    Ok(())
}

async fn verify(
    engine: &Engine,
    reference: Option<&str>,
    public_key: Option<&str>,
    witness: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions {
        reference: reference.map(str::to_string),
        public_key: public_key.map(PublicKey::parse).transpose()?,
        witness,
    };
    let report = engine.verify_records(&options).await?;
    for finding in &report.findings {
        println!("{finding}");
    }
    let checkpoint = match &report.latest {
        Some(s) => format!(
            "checkpoint {} (tree size {}, root {}, {}) {}",
            s.checkpoint.seq,
            s.checkpoint.tree_size,
            s.checkpoint.root_hash,
            corridor_engine::audit::canonical_time(s.checkpoint.created_at),
            if s.verified { "verified" } else { "does NOT verify" }
        ),
        None => "no checkpoint yet (`corridor audit checkpoint` signs one)".to_string(),
    };
    if report.is_intact() {
        println!(
            "audit record intact: {} applications, {} events verified; {checkpoint}{}",
            report.applications,
            report.events,
            if report.not_yet_checkpointed > 0 {
                format!("; {} applications are newer than it", report.not_yet_checkpointed)
            } else {
                String::new()
            }
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "audit record BROKEN: {} problems, {} applications affected; {checkpoint}",
            report.findings.len(),
            report.broken_applications().len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `corridor audit verify-proof FILE --public-key KEY`: no configuration, no database.
pub fn verify_proof(file: &Path, public_key: &str) -> anyhow::Result<ExitCode> {
    let public = PublicKey::parse(public_key)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read", file.display()))?;
    match proof::verify_proof(&text, &public) {
        Ok(p) => {
            println!(
                "proof holds: {} has {} events; events 1..={} are signed by checkpoint {} of {} ({} applications){}",
                p.reference,
                p.events,
                p.signed_seq,
                p.checkpoint_seq,
                p.checkpoint_at,
                p.tree_size,
                if p.events as i64 > p.signed_seq { "; the later events are chained, not yet signed" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("proof REFUSED: {}: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
