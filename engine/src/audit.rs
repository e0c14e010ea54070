//! The hash chain of audit events. Each event's hash covers the previous event's hash and
//! every field of its own, in a fixed canonical form, so that editing or deleting a row breaks
//! the chain from that point on.
//!
//! Around the chains: each application row carries its chain head (last seq and hash,
//! written with every event), so that events removed at the end, or a row changed without
//! an event, are found ([`check_application`]); signed checkpoints over every head
//! ([`checkpoint`], [`merkle`]) find a chain recomputed by someone without the key; and an
//! exported proof ([`proof`]) lets anyone check one application offline.

pub mod checkpoint;
pub mod merkle;
pub mod proof;
mod verify;

pub use verify::{Finding, Problem, Subject, VerifyOptions, VerifyReport};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{ApplicationHead, ApplicationId, AuditEvent, CheckpointHead, NewAuditEvent, OrganisationId, UserId};
pub use crate::model::{canonical_time, storable_time};

/// The `prev_hash` of an application's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
fn digest(
    prev_hash: &str,
    application_id: ApplicationId,
    seq: i64,
    actor_id: Option<UserId>,
    actor_name: &str,
    role: &str,
    organisation_id: Option<OrganisationId>,
    action: &str,
    from_state: Option<&str>,
    to_state: Option<&str>,
    comment: Option<&str>,
    reason: Option<&str>,
    data: &Value,
    at: DateTime<Utc>,
) -> String {
    // Ids serialise as their plain numbers, so typing them changed no hash.
    // serde_json keeps object keys sorted (no preserve_order feature), so this is canonical.
    let body = json!({
        "application_id": application_id,
        "seq": seq,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "role": role,
        "organisation_id": organisation_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "comment": comment,
        "reason": reason,
        "data": data,
        "at": canonical_time(at),
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// The hash a new event gets when appended after `prev_hash` as number `seq`.
pub fn hash_new(prev_hash: &str, application_id: ApplicationId, seq: i64, e: &NewAuditEvent) -> String {
    digest(
        prev_hash,
        application_id,
        seq,
        e.actor_id,
        &e.actor_name,
        &e.role,
        e.organisation_id,
        &e.action,
        e.from_state.as_deref(),
        e.to_state.as_deref(),
        e.comment.as_deref(),
        e.reason.as_deref(),
        &e.data,
        e.at,
    )
}

/// Recompute a stored event's hash from its fields.
pub fn hash_stored(e: &AuditEvent) -> String {
    digest(
        &e.prev_hash,
        e.application_id,
        e.seq,
        e.actor_id,
        &e.actor_name,
        &e.role,
        e.organisation_id,
        &e.action,
        e.from_state.as_deref(),
        e.to_state.as_deref(),
        e.comment.as_deref(),
        e.reason.as_deref(),
        &e.data,
        e.at,
    )
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub application_id: ApplicationId,
    /// Sequence number of the first event that does not match (or that is missing).
    pub seq: i64,
    pub event_id: Option<i64>,
    pub problem: String,
}

/// Check one application's events, oldest first.
pub fn verify_chain(application_id: ApplicationId, events: &[AuditEvent]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (i, e) in events.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let broken = |problem: String| ChainBreak { application_id, seq: expected_seq, event_id: Some(e.id), problem };
        if e.seq != expected_seq {
            return Err(broken(format!("it is missing (found event {} in its place)", e.seq)));
        }
        if e.prev_hash != prev {
            return Err(broken(
                "its link to the previous event does not match (an event before it was changed or removed)".into(),
            ));
        }
        if hash_stored(e) != e.hash {
            return Err(broken("its content does not match its hash (the row was edited)".into()));
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// Events that mark the application row without changing what it holds (an escalation,
/// a deadline moved by a calendar change): its version stays. Every other event is written
/// with a version step (creation sets version 1).
pub const KEEPS_VERSION: &[&str] =
    &["escalate", "deadline_recomputed", crate::timeline::PURGE_DOCUMENT, crate::letter::LETTER_ISSUED];

/// The version an application's row must have after these events.
pub fn expected_version(events: &[AuditEvent]) -> i64 {
    events.iter().filter(|e| !KEEPS_VERSION.contains(&e.action.as_str())).count() as i64
}

/// Everything wrong between an application's row and its events (oldest first), and with
/// the head the newest checkpoint signed for it (`checkpointed`, from checkpoint number
/// `checkpoint`). Empty when they agree.
pub fn check_application(
    head: &ApplicationHead,
    events: &[AuditEvent],
    checkpointed: Option<(i64, &CheckpointHead)>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(b) = verify_chain(head.id, events) {
        problems.push(Problem::ChainBroken { seq: b.seq, why: b.problem });
    }
    match events.last() {
        None if head.audit_seq == 0 => problems.push(Problem::NoEvents),
        None => problems.push(Problem::AllEventsMissing { head_seq: head.audit_seq }),
        Some(last) => {
            if head.audit_seq > last.seq {
                problems.push(Problem::EventsMissingAtEnd { last_seq: last.seq, head_seq: head.audit_seq });
            } else if head.audit_seq < last.seq {
                problems.push(Problem::HeadBehind { head_seq: head.audit_seq, last_seq: last.seq });
            } else if head.audit_hash != last.hash {
                problems.push(Problem::HeadHashMismatch { seq: last.seq });
            }
            if let Some(e) = events.iter().rev().find(|e| e.to_state.is_some()) {
                let left_in = e.to_state.clone().unwrap_or_default();
                if left_in != head.state {
                    problems.push(Problem::StateMismatch {
                        state: head.state.clone(),
                        event_seq: e.seq,
                        event_state: left_in,
                    });
                }
            }
            let expected = expected_version(events);
            if expected != head.version {
                problems.push(Problem::VersionMismatch { version: head.version, expected });
            }
        }
    }
    if let Some((checkpoint, signed)) = checkpointed.filter(|(_, h)| h.seq > 0) {
        match events.iter().find(|e| e.seq == signed.seq) {
            None => problems.push(Problem::ShorterThanCheckpoint {
                checkpoint,
                signed_seq: signed.seq,
                last_seq: events.last().map(|e| e.seq).unwrap_or(0),
            }),
            Some(e) if e.hash != signed.hash => {
                problems.push(Problem::RewrittenSinceCheckpoint { checkpoint, seq: signed.seq })
            }
            Some(_) => {}
        }
    }
    problems
}
