//! `corridor audit verify` and `corridor audit checkpoint`: every application's row against
//! its chain, every chain against the newest signed checkpoint, and the checkpoints against
//! the witness file. Every problem is reported, naming its application or checkpoint.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use super::checkpoint::{self, AuditFiles, AuditKey, PublicKey};
use super::proof::{ExportedProof, ProofCheckpoint, ProofLeaf};
use super::{check_application, merkle};
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::model::{ApplicationHead, ApplicationId, Checkpoint, CheckpointHead, Reference};
use crate::service::Engine;

/// What is checked: one application or all, with which public key and witness file.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this application (its row, chain and checkpointed head), and the checkpoints.
    /// As typed: a reference that does not check is looked up as it is (tools such as the
    /// scheduler bench store such references).
    pub reference: Option<String>,
    /// Verify signatures with this key instead of the configured key file's.
    pub public_key: Option<PublicKey>,
    /// Compare with this copy of the witness file (e.g. the published one) instead of the
    /// configured file.
    pub witness: Option<PathBuf>,
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The reference when the application's row (or the checkpoint) still names it.
    Application {
        id: ApplicationId,
        reference: Option<Reference>,
    },
    Checkpoint {
        seq: i64,
    },
    /// The checkpoints as a whole: their key, their witness file.
    Checkpoints,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Application { reference: Some(r), .. } => write!(f, "application {r}"),
            Subject::Application { id, reference: None } => write!(f, "application #{id}"),
            Subject::Checkpoint { seq } => write!(f, "checkpoint {seq}"),
            Subject::Checkpoints => f.write_str("checkpoints"),
        }
    }
}

/// One thing wrong, with its parameters; `Display` words it in English for the CLI and the
/// log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An event does not link or does not match its hash (its seq, and why).
    ChainBroken {
        seq: i64,
        why: String,
    },
    NoEvents,
    AllEventsMissing {
        head_seq: i64,
    },
    EventsMissingAtEnd {
        last_seq: i64,
        head_seq: i64,
    },
    HeadBehind {
        head_seq: i64,
        last_seq: i64,
    },
    HeadHashMismatch {
        seq: i64,
    },
    StateMismatch {
        state: String,
        event_seq: i64,
        event_state: String,
    },
    VersionMismatch {
        version: i64,
        expected: i64,
    },
    /// Events whose application row is gone.
    EventsWithoutApplication,
    /// In the newest checkpoint, but no row any more.
    DeletedSinceCheckpoint {
        checkpoint: i64,
    },
    ShorterThanCheckpoint {
        checkpoint: i64,
        signed_seq: i64,
        last_seq: i64,
    },
    RewrittenSinceCheckpoint {
        checkpoint: i64,
        seq: i64,
    },
    BadSignature {
        why: checkpoint::SignatureProblem,
    },
    /// The leaves kept for the newest checkpoint do not give its signed root.
    LeavesDoNotMatchRoot,
    /// Numbers missing between stored checkpoints (deleted).
    Missing {
        from: i64,
        to: i64,
    },
    /// In the witness file but not in the database (deleted or rolled back).
    OnlyInWitness,
    /// The database's copy differs from the witness file's.
    DiffersFromWitness,
    /// In the database but not (yet) in the witness file.
    NotInWitness,
    WitnessMissing {
        path: String,
    },
    WitnessUnreadable {
        why: String,
    },
    WitnessLine {
        line: usize,
        why: String,
    },
    /// The witness file's line of a checkpoint is not signed by the key.
    WitnessSignature {
        why: checkpoint::SignatureProblem,
    },
    /// Checkpoints exist but no public key to verify them with.
    NoPublicKey {
        path: String,
    },
    /// The configured key file cannot be read (its reason).
    KeyUnreadable {
        why: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ChainBroken { seq, why } => write!(f, "event {seq}: {why}"),
            Problem::NoEvents => f.write_str("it has no audit events at all, not even its creation"),
            Problem::AllEventsMissing { head_seq } => {
                write!(f, "all its events are missing (its row says its chain ends at event {head_seq})")
            }
            Problem::EventsMissingAtEnd { last_seq, head_seq } => write!(
                f,
                "events {}..={head_seq} are missing at the end (the last event is {last_seq}, its row says \
                 {head_seq})",
                last_seq + 1
            ),
            Problem::HeadBehind { head_seq, last_seq } => write!(
                f,
                "its row says its chain ends at event {head_seq}, but there are events up to {last_seq} (written \
                 without the row, or the row was rolled back)"
            ),
            Problem::HeadHashMismatch { seq } => {
                write!(f, "event {seq} is not the one its row recorded as its last (the event was replaced)")
            }
            Problem::StateMismatch { state, event_seq, event_state } => write!(
                f,
                "its state is `{state}`, but its last event that set a state (event {event_seq}) left it in \
                 `{event_state}` (the row was changed without an event)"
            ),
            Problem::VersionMismatch { version, expected } => write!(
                f,
                "its version is {version}, but its events account for version {expected} (the row was changed \
                 without an event, or events are missing)"
            ),
            Problem::EventsWithoutApplication => f.write_str("it has audit events but its row is gone (deleted)"),
            Problem::DeletedSinceCheckpoint { checkpoint } => {
                write!(f, "it was in checkpoint {checkpoint} but is gone from the database (deleted)")
            }
            Problem::ShorterThanCheckpoint { checkpoint, signed_seq, last_seq } => write!(
                f,
                "checkpoint {checkpoint} signed its chain up to event {signed_seq}, but it now ends at event \
                 {last_seq} (events were deleted)"
            ),
            Problem::RewrittenSinceCheckpoint { checkpoint, seq } => write!(
                f,
                "event {seq} no longer has the hash checkpoint {checkpoint} signed (the chain was rewritten after \
                 the checkpoint)"
            ),
            Problem::BadSignature { why } => write!(f, "{why}"),
            Problem::LeavesDoNotMatchRoot => f.write_str(
                "the application heads kept for it do not give its signed root (they were changed in the database)",
            ),
            Problem::Missing { from, to } if from == to => {
                write!(f, "checkpoint {from} is missing from the database (deleted)")
            }
            Problem::Missing { from, to } => {
                write!(f, "checkpoints {from}..={to} are missing from the database (deleted)")
            }
            Problem::OnlyInWitness => {
                f.write_str("it is in the witness file but not in the database (deleted or rolled back)")
            }
            Problem::DiffersFromWitness => f.write_str("the database's copy differs from the witness file's"),
            Problem::NotInWitness => f.write_str(
                "it is in the database but not in the witness file (not published; `corridor audit checkpoint` \
                 appends what the witness misses)",
            ),
            Problem::WitnessMissing { path } => write!(f, "the witness file {path} does not exist"),
            Problem::WitnessUnreadable { why } => write!(f, "the witness file cannot be read: {why}"),
            Problem::WitnessLine { line, why } => write!(f, "witness file line {line}: {why}"),
            Problem::WitnessSignature { why } => write!(f, "its line in the witness file: {why}"),
            Problem::KeyUnreadable { why } => write!(f, "the signing key cannot be read: {why}"),
            Problem::NoPublicKey { path } => {
                write!(f, "there is no public key to verify them with (no key file at {path}; give --public-key)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: Subject,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// The newest checkpoint and whether it holds (signature, leaves, witness).
#[derive(Debug, Clone)]
pub struct CheckpointStatus {
    pub checkpoint: Checkpoint,
    pub verified: bool,
}

/// The result of a verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub applications: usize,
    pub events: usize,
    pub checkpoints: usize,
    pub latest: Option<CheckpointStatus>,
    /// Applications made after the newest checkpoint (their chains are checked, not yet
    /// signed).
    pub not_yet_checkpointed: usize,
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// The applications with a problem, each once, in the order found.
    pub fn broken_applications(&self) -> Vec<&Subject> {
        let mut seen = Vec::new();
        for f in &self.findings {
            if matches!(f.subject, Subject::Application { .. }) && !seen.contains(&&f.subject) {
                seen.push(&f.subject);
            }
        }
        seen
    }
}

/// Applications read per page in a full verification.
const PAGE: i64 = 500;

impl Engine {
    /// Use these key, witness and schedule for checkpoints (start-up).
    pub fn with_audit_files(mut self, files: AuditFiles) -> Engine {
        self.audit_files = Some(files);
        self
    }

    pub fn audit_files(&self) -> Option<&AuditFiles> {
        self.audit_files.as_ref()
    }

    fn files(&self) -> EngineResult<&AuditFiles> {
        self.audit_files.as_ref().ok_or_else(|| EngineError::Internal("no [audit] key file is configured".into()))
    }

    /// The signing key, made (mode 0600) when its file does not exist yet. True when made now.
    pub fn audit_key(&self) -> EngineResult<(AuditKey, bool)> {
        let files = self.files()?;
        AuditKey::load_or_create(&files.signing_key).map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// The public key of the configured key file, if the file exists.
    pub fn audit_public_key(&self) -> EngineResult<Option<PublicKey>> {
        let files = self.files()?;
        Ok(AuditKey::load(&files.signing_key).map_err(|e| EngineError::Internal(e.to_string()))?.map(|k| k.public()))
    }

    /// The configured key file's public key; a key file that cannot be read is a finding (the
    /// signatures then go unverified and say so), not a failure of the whole verification.
    fn configured_public_key(&self, findings: &mut Vec<Finding>) -> Option<PublicKey> {
        let files = self.audit_files.as_ref()?;
        match AuditKey::load(&files.signing_key) {
            Ok(key) => key.map(|k| k.public()),
            Err(e) => {
                let problem = Problem::KeyUnreadable { why: e.to_string() };
                findings.push(Finding { subject: Subject::Checkpoints, problem });
                None
            }
        }
    }

    /// Sign a checkpoint over every application's chain head now, store it, and append it
    /// (with any earlier checkpoint the witness file misses, e.g. one made by another
    /// instance) to the witness file.
    pub async fn create_checkpoint(&self) -> EngineResult<Checkpoint> {
        let files = self.files()?.clone();
        let (key, _) = self.audit_key()?;
        let open = self.store.begin_checkpoint().await?;
        let checkpoint = key.sign(open.seq(), open.heads(), self.now());
        open.commit(&checkpoint).await?;
        let witnessed = checkpoint::read_witness(&files.witness)
            .map_err(|e| EngineError::Internal(e.to_string()))?
            .and_then(|w| w.checkpoints.iter().map(|c| c.seq).max())
            .unwrap_or(0);
        let public = key.public();
        let missing: Vec<Checkpoint> = self
            .store
            .checkpoints()
            .await?
            .into_iter()
            .filter(|c| c.seq > witnessed && public.verify(c).is_ok())
            .collect();
        checkpoint::append_witness(&files.witness, &missing).map_err(|e| EngineError::Internal(e.to_string()))?;
        tracing::info!(
            seq = checkpoint.seq,
            tree_size = checkpoint.tree_size,
            root = %checkpoint.root_hash,
            "audit checkpoint signed"
        );
        Ok(checkpoint)
    }

    /// Check every application (or one) against its chain and the newest checkpoint, and the
    /// checkpoints against their signatures and the witness file. Reports every problem.
    pub async fn verify_records(&self, options: &VerifyOptions) -> EngineResult<VerifyReport> {
        let mut report = VerifyReport::default();
        let public = match &options.public_key {
            Some(k) => Some(k.clone()),
            None => self.configured_public_key(&mut report.findings),
        };
        let signed = self.verify_checkpoints(options, public.as_ref(), &mut report).await?;
        let (checkpoint_seq, mut leaves): (i64, BTreeMap<ApplicationId, CheckpointHead>) = match &signed {
            Some((seq, heads)) => (*seq, heads.iter().map(|h| (h.application_id, h.clone())).collect()),
            None => (0, BTreeMap::new()),
        };

        let heads: Vec<ApplicationHead> = match &options.reference {
            Some(r) => {
                let r: Reference = r.parse().unwrap_or_else(|_| Reference::stored(r.to_string()));
                let app = self
                    .store
                    .application_by_reference(&r)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("application {r}")))?;
                leaves.retain(|id, _| *id == app.id);
                vec![ApplicationHead {
                    id: app.id,
                    reference: app.reference,
                    state: app.state,
                    version: app.version,
                    audit_seq: app.audit_seq,
                    audit_hash: app.audit_hash,
                }]
            }
            None => Vec::new(),
        };
        let mut single = options.reference.is_some().then_some(heads);
        let mut seen = HashSet::new();
        let mut after = ApplicationId::new(0);
        loop {
            let page = match single.take() {
                Some(heads) => heads,
                None if options.reference.is_some() => break,
                None => {
                    let page = self.store.application_heads(after, PAGE).await?;
                    match page.last() {
                        Some(last) => after = last.id,
                        None => break,
                    }
                    page
                }
            };
            for head in page {
                let events = self.store.history(head.id).await?;
                let signed_head = leaves.remove(&head.id);
                if signed.is_some() && signed_head.is_none() {
                    report.not_yet_checkpointed += 1;
                }
                let subject = Subject::Application { id: head.id, reference: Some(head.reference.clone()) };
                for problem in check_application(&head, &events, signed_head.as_ref().map(|h| (checkpoint_seq, h))) {
                    report.findings.push(Finding { subject: subject.clone(), problem });
                }
                report.applications += 1;
                report.events += events.len();
                seen.insert(head.id);
            }
        }
        for (id, head) in leaves {
            report.findings.push(Finding {
                subject: Subject::Application { id, reference: Some(head.reference) },
                problem: Problem::DeletedSinceCheckpoint { checkpoint: checkpoint_seq },
            });
            seen.insert(id);
        }
        if options.reference.is_none() {
            for id in self.store.audited_applications().await? {
                if !seen.contains(&id) {
                    report.findings.push(Finding {
                        subject: Subject::Application { id, reference: None },
                        problem: Problem::EventsWithoutApplication,
                    });
                }
            }
        }
        Ok(report)
    }

    /// The checkpoints' numbering, signatures and witness; returns the newest checkpoint's
    /// number and leaves when its signature and leaves hold, for checking the chains.
    async fn verify_checkpoints(
        &self,
        options: &VerifyOptions,
        public: Option<&PublicKey>,
        report: &mut VerifyReport,
    ) -> EngineResult<Option<(i64, Vec<CheckpointHead>)>> {
        let stored = self.store.checkpoints().await?;
        report.checkpoints = stored.len();
        let mut push = |subject: Subject, problem: Problem| report.findings.push(Finding { subject, problem });
        let mut expected = 1;
        for c in &stored {
            if c.seq > expected {
                push(Subject::Checkpoints, Problem::Missing { from: expected, to: c.seq - 1 });
            }
            expected = c.seq + 1;
        }
        let witness_path = options.witness.clone().or_else(|| self.audit_files.as_ref().map(|f| f.witness.clone()));
        if let Some(path) = witness_path {
            match checkpoint::read_witness(&path) {
                Ok(Some(witness)) => {
                    for (line, why) in &witness.bad_lines {
                        push(Subject::Checkpoints, Problem::WitnessLine { line: *line, why: why.clone() });
                    }
                    let in_db: BTreeMap<i64, &Checkpoint> = stored.iter().map(|c| (c.seq, c)).collect();
                    let mut witnessed = HashSet::new();
                    for w in &witness.checkpoints {
                        witnessed.insert(w.seq);
                        if let Some(why) = public.and_then(|k| k.verify(w).err()) {
                            push(Subject::Checkpoint { seq: w.seq }, Problem::WitnessSignature { why });
                        }
                        match in_db.get(&w.seq) {
                            None => push(Subject::Checkpoint { seq: w.seq }, Problem::OnlyInWitness),
                            Some(c) if *c != w => push(Subject::Checkpoint { seq: w.seq }, Problem::DiffersFromWitness),
                            Some(_) => {}
                        }
                    }
                    for c in &stored {
                        if !witnessed.contains(&c.seq) {
                            push(Subject::Checkpoint { seq: c.seq }, Problem::NotInWitness);
                        }
                    }
                }
                Ok(None) if !stored.is_empty() => {
                    push(Subject::Checkpoints, Problem::WitnessMissing { path: path.display().to_string() })
                }
                Ok(None) => {}
                Err(e) => push(Subject::Checkpoints, Problem::WitnessUnreadable { why: e.to_string() }),
            }
        }
        let Some(latest) = stored.last().cloned() else {
            return Ok(None);
        };
        let Some(public) = public else {
            let path = self.audit_files.as_ref().map(|f| f.signing_key.display().to_string()).unwrap_or_default();
            push(Subject::Checkpoints, Problem::NoPublicKey { path });
            report.latest = Some(CheckpointStatus { checkpoint: latest, verified: false });
            return Ok(None);
        };
        let mut latest_holds = true;
        for c in &stored {
            if let Err(why) = public.verify(c) {
                latest_holds &= c.seq != latest.seq;
                push(Subject::Checkpoint { seq: c.seq }, Problem::BadSignature { why });
            }
        }
        let heads = self.store.checkpoint_heads(latest.seq).await?;
        let root = hex::encode(checkpoint::tree_root(&heads));
        if latest_holds && (root != latest.root_hash || heads.len() as i64 != latest.tree_size) {
            latest_holds = false;
            push(Subject::Checkpoint { seq: latest.seq }, Problem::LeavesDoNotMatchRoot);
        }
        let witness_ok = !report.findings.iter().any(|f| match &f.subject {
            Subject::Checkpoint { seq } => *seq == latest.seq,
            Subject::Checkpoints => true,
            _ => false,
        });
        report.latest = Some(CheckpointStatus { checkpoint: latest.clone(), verified: latest_holds && witness_ok });
        Ok(latest_holds.then_some((latest.seq, heads)))
    }

    /// The newest checkpoint and what is wrong with the checkpoints (signatures, leaves,
    /// witness file), worded, for the administrator's audit page.
    pub async fn admin_checkpoint(&self, actor: &Actor) -> EngineResult<(Option<CheckpointStatus>, Vec<String>)> {
        self.require_admin(actor)?;
        let mut report = VerifyReport::default();
        let public = self.configured_public_key(&mut report.findings);
        self.verify_checkpoints(&VerifyOptions::default(), public.as_ref(), &mut report).await?;
        Ok((report.latest, report.findings.iter().map(Finding::to_string).collect()))
    }

    /// A self-contained proof of one application's record: its events, its leaf in the newest
    /// checkpoint with the inclusion proof, and the signed checkpoint.
    pub async fn export_proof(&self, reference: &Reference) -> EngineResult<ExportedProof> {
        let app = self
            .store
            .application_by_reference(reference)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("application {reference}")))?;
        let latest = self.store.latest_checkpoint().await?.ok_or_else(|| {
            EngineError::BadRequest("there is no checkpoint yet; run `corridor audit checkpoint` first".into())
        })?;
        let heads = self.store.checkpoint_heads(latest.seq).await?;
        let index = heads.iter().position(|h| h.application_id == app.id).ok_or_else(|| {
            EngineError::BadRequest(format!(
                "application {reference} is newer than checkpoint {}; run `corridor audit checkpoint` first",
                latest.seq
            ))
        })?;
        let hashes: Vec<merkle::Hash> = heads.iter().map(checkpoint::leaf_hash).collect();
        let path = merkle::inclusion_proof(&hashes, index).unwrap_or_default();
        let leaf = &heads[index];
        Ok(ExportedProof {
            format: super::proof::FORMAT.into(),
            reference: app.reference.to_string(),
            events: self.store.history(app.id).await?,
            leaf: ProofLeaf {
                application_id: leaf.application_id.get(),
                reference: leaf.reference.to_string(),
                seq: leaf.seq,
                hash: leaf.hash.clone(),
                index: index as u64,
            },
            inclusion_proof: path.iter().map(hex::encode).collect(),
            checkpoint: ProofCheckpoint::of(&latest),
            public_key_fingerprint: latest.key_fingerprint.clone(),
        })
    }
}
