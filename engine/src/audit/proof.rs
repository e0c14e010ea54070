//! An application's record as a self-contained proof (`corridor audit export`), checked
//! offline with the public key alone (`corridor audit verify-proof`): the events chain from
//! the genesis hash and each matches its hash; the head the checkpoint signed is one of
//! them; the inclusion proof leads from that head's leaf to the signed root; the signature
//! over the root holds.

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, PublicKey};
use super::merkle::{self, Hash};
use crate::model::{AuditEvent, Checkpoint, canonical_time};

pub const FORMAT: &str = "corridor-audit-proof/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedProof {
    pub format: String,
    pub reference: String,
    /// Oldest first.
    pub events: Vec<AuditEvent>,
    /// The application's head in the checkpoint.
    pub leaf: ProofLeaf,
    /// RFC 9162 audit path, nearest sibling first, hex.
    pub inclusion_proof: Vec<String>,
    pub checkpoint: ProofCheckpoint,
    pub public_key_fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofLeaf {
    pub application_id: i64,
    pub reference: String,
    pub seq: i64,
    pub hash: String,
    /// Its position in the checkpoint's tree (applications by id).
    pub index: u64,
}

/// The signed checkpoint, as in the witness file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofCheckpoint {
    pub seq: i64,
    pub tree_size: i64,
    pub root_hash: String,
    pub created_at: String,
    pub key_fingerprint: String,
    pub signature: String,
}

impl ProofCheckpoint {
    pub fn of(c: &Checkpoint) -> ProofCheckpoint {
        ProofCheckpoint {
            seq: c.seq,
            tree_size: c.tree_size,
            root_hash: c.root_hash.clone(),
            created_at: canonical_time(c.created_at),
            key_fingerprint: c.key_fingerprint.clone(),
            signature: c.signature.clone(),
        }
    }
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a Corridor audit proof: {0}")]
    Unreadable(String),
    #[error("the proof has no events")]
    NoEvents,
    #[error("event {seq}: {why}")]
    Event { seq: i64, why: String },
    #[error("the events belong to more than one application, or not to the proof's leaf")]
    OtherApplication,
    #[error("the checkpoint signed event {seq} of the chain, which the proof does not hold")]
    HeadMissing { seq: i64 },
    #[error("event {seq} is not the one the checkpoint signed (its hash differs)")]
    HeadDiffers { seq: i64 },
    #[error("the inclusion proof does not lead from the application's leaf to the checkpoint's root")]
    NotIncluded,
    #[error("checkpoint {seq}: {why}")]
    Signature { seq: i64, why: String },
}

/// What a proof that holds shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRecord {
    pub reference: String,
    pub events: usize,
    /// The seq of the last event the checkpoint signed; later events are chained but not
    /// yet signed.
    pub signed_seq: i64,
    pub checkpoint_seq: i64,
    pub checkpoint_at: String,
    pub tree_size: i64,
}

fn hex32(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Check a proof's text with a public key, without any database.
pub fn verify_proof(text: &str, public: &PublicKey) -> Result<ProvenRecord, ProofError> {
    let proof: ExportedProof = serde_json::from_str(text).map_err(|e| ProofError::Unreadable(e.to_string()))?;
    if proof.format != FORMAT {
        return Err(ProofError::Unreadable(format!("format `{}`, expected `{FORMAT}`", proof.format)));
    }
    let first = proof.events.first().ok_or(ProofError::NoEvents)?;
    let application_id = first.application_id;
    if proof.events.iter().any(|e| e.application_id != application_id)
        || application_id.get() != proof.leaf.application_id
    {
        return Err(ProofError::OtherApplication);
    }
    super::verify_chain(application_id, &proof.events).map_err(|b| ProofError::Event { seq: b.seq, why: b.problem })?;
    let signed =
        proof.events.iter().find(|e| e.seq == proof.leaf.seq).ok_or(ProofError::HeadMissing { seq: proof.leaf.seq })?;
    if signed.hash != proof.leaf.hash {
        return Err(ProofError::HeadDiffers { seq: proof.leaf.seq });
    }
    let c = &proof.checkpoint;
    let signature_error = |why: String| ProofError::Signature { seq: c.seq, why };
    let at = chrono::DateTime::parse_from_rfc3339(&c.created_at)
        .map_err(|_| signature_error("its time is not a time".into()))?
        .with_timezone(&chrono::Utc);
    let checkpoint = Checkpoint {
        seq: c.seq,
        tree_size: c.tree_size,
        root_hash: c.root_hash.clone(),
        created_at: at,
        key_fingerprint: c.key_fingerprint.clone(),
        signature: c.signature.clone(),
    };
    public.verify(&checkpoint).map_err(|why| signature_error(why.to_string()))?;
    let leaf = merkle::leaf_hash(&checkpoint::leaf_bytes(
        proof.leaf.application_id,
        &proof.leaf.reference,
        proof.leaf.seq,
        &proof.leaf.hash,
    ));
    let path: Vec<Hash> =
        proof.inclusion_proof.iter().map(|h| hex32(h)).collect::<Option<_>>().ok_or(ProofError::NotIncluded)?;
    let root = hex32(&c.root_hash).ok_or(ProofError::NotIncluded)?;
    if c.tree_size < 1 || !merkle::verify_inclusion(&leaf, proof.leaf.index, c.tree_size as u64, &path, &root) {
        return Err(ProofError::NotIncluded);
    }
    Ok(ProvenRecord {
        reference: proof.leaf.reference.clone(),
        events: proof.events.len(),
        signed_seq: proof.leaf.seq,
        checkpoint_seq: c.seq,
        checkpoint_at: c.created_at.clone(),
        tree_size: c.tree_size,
    })
}
