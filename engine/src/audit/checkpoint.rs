//! Signed checkpoints, in the manner of RFC 9162's signed tree heads.
//!
//! A checkpoint is the Merkle tree hash ([`super::merkle`]) over every application's chain
//! head, (id, reference, head seq, head hash) in application id order, signed with an Ed25519
//! key that lives in a file named in the configuration, never in the database. Someone who
//! can write to the database but does not hold the key can recompute every hash of a chain
//! after editing an event, but cannot sign a new root: the chain no longer extends the head
//! the last checkpoint signed. Each checkpoint is also appended, one JSON line, to a witness
//! file that the ministry copies somewhere the database's writers cannot reach (README), so
//! that deleting or rolling back checkpoints in the database is found too.
//!
//! The key file holds the 32-byte secret as hex (comment lines start with `#`), created with
//! mode 0600 when it is missing; a file that others may read is refused. The public key is
//! printed as `ed25519:<hex>`, its fingerprint is the hex SHA-256 of its 32 bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::{self, Hash};
use crate::model::{Checkpoint, CheckpointHead, canonical_time};

/// Where the audit's files are, and when checkpoints are made (from `[audit]` of the
/// configuration).
#[derive(Debug, Clone)]
pub struct AuditFiles {
    pub signing_key: PathBuf,
    pub witness: PathBuf,
    /// 5-field cron expression (UTC) of the scheduled checkpoint; none: only on demand.
    pub checkpoint_cron: Option<String>,
}

/// Why the key or the witness file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not an audit signing key (expected one line of 64 hex digits)")]
    Malformed { path: String },
    #[error("{path}: others may read this signing key (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("`{0}` is not an Ed25519 public key (expected ed25519:<64 hex digits>, or a file holding it)")]
    PublicKey(String),
}

fn io_error(path: &Path, error: std::io::Error) -> KeyFileError {
    KeyFileError::Io { path: path.display().to_string(), error }
}

/// The checkpoint signer: the secret key, read from its file.
pub struct AuditKey {
    key: SigningKey,
}

impl AuditKey {
    /// The key in `path`; none when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<AuditKey>, KeyFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| io_error(path, e))?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::TooOpen { path: path.display().to_string(), mode });
            }
        }
        let malformed = || KeyFileError::Malformed { path: path.display().to_string() };
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).ok_or_else(malformed)?;
        let bytes: [u8; 32] = hex::decode(line).ok().and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        Ok(Some(AuditKey { key: SigningKey::from_bytes(&bytes) }))
    }

    /// The key in `path`, made (mode 0600, its folder created) when the file does not exist.
    /// True when it was made now.
    pub fn load_or_create(path: &Path) -> Result<(AuditKey, bool), KeyFileError> {
        if let Some(key) = Self::load(path)? {
            return Ok((key, false));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let text = format!(
            "# Corridor audit signing key (Ed25519 secret). Keep it outside the database and its backups.\n{}\n",
            hex::encode(secret)
        );
        let mut options = std::fs::OpenOptions::new();
        // create_new: two instances starting at once must not overwrite each other's key.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io_error(path, e))?;
                Ok((AuditKey { key: SigningKey::from_bytes(&secret) }, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((
                Self::load(path)?.ok_or_else(|| KeyFileError::Malformed { path: path.display().to_string() })?,
                false,
            )),
            Err(e) => Err(io_error(path, e)),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// An Ed25519 signature of `message`, hex (decision letters sign their content with it).
    pub fn sign_message(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    /// Sign the tree over `heads` as checkpoint `seq`.
    pub fn sign(&self, seq: i64, heads: &[CheckpointHead], at: DateTime<Utc>) -> Checkpoint {
        let root = hex::encode(tree_root(heads));
        let mut checkpoint = Checkpoint {
            seq,
            tree_size: heads.len() as i64,
            root_hash: root,
            created_at: crate::model::storable_time(at),
            key_fingerprint: self.public().fingerprint(),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(self.key.sign(signed_text(&checkpoint).as_bytes()).to_bytes());
        checkpoint
    }
}

/// An Ed25519 public key, the only thing verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// `ed25519:<hex>` or bare hex, or the path of a file holding that.
    pub fn parse(given: &str) -> Result<PublicKey, KeyFileError> {
        let bad = || KeyFileError::PublicKey(given.to_string());
        let from_text = |t: &str| -> Option<PublicKey> {
            let t = t.trim();
            let t = t.strip_prefix("ed25519:").unwrap_or(t);
            let bytes: [u8; 32] = hex::decode(t).ok()?.try_into().ok()?;
            VerifyingKey::from_bytes(&bytes).ok().map(PublicKey)
        };
        if let Some(k) = from_text(given) {
            return Ok(k);
        }
        let text = std::fs::read_to_string(given).map_err(|_| bad())?;
        text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).and_then(from_text).ok_or_else(bad)
    }

    pub fn to_text(&self) -> String {
        format!("ed25519:{}", hex::encode(self.0.as_bytes()))
    }

    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether `signature` (hex) is this key's signature of `message`.
    pub fn verify_message(&self, message: &[u8], signature: &str) -> bool {
        let Some(bytes) = hex::decode(signature).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
            return false;
        };
        self.0.verify_strict(message, &Signature::from_bytes(&bytes)).is_ok()
    }

    /// Whether this key signed `checkpoint` (as it is now).
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), SignatureProblem> {
        if checkpoint.key_fingerprint != self.fingerprint() {
            return Err(SignatureProblem::OtherKey { fingerprint: checkpoint.key_fingerprint.clone() });
        }
        let bytes: [u8; 64] = hex::decode(&checkpoint.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignatureProblem::Malformed)?;
        self.0
            .verify_strict(signed_text(checkpoint).as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| SignatureProblem::Invalid)
    }
}

/// Why a checkpoint's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// It names another key than the one verifying.
    OtherKey {
        fingerprint: String,
    },
    Malformed,
    Invalid,
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureProblem::OtherKey { fingerprint } => {
                write!(f, "it was signed by another key (fingerprint {fingerprint})")
            }
            SignatureProblem::Malformed => f.write_str("its signature is not a signature"),
            SignatureProblem::Invalid => f.write_str("its signature does not verify (the checkpoint was changed)"),
        }
    }
}

/// The exact text a checkpoint's signature covers: every field but the signature.
pub fn signed_text(c: &Checkpoint) -> String {
    format!(
        "corridor audit checkpoint v1\nseq {}\ntree_size {}\nroot {}\ncreated_at {}\nkey {}\n",
        c.seq,
        c.tree_size,
        c.root_hash,
        canonical_time(c.created_at),
        c.key_fingerprint
    )
}

/// A leaf's bytes: one line per part, so that no two heads share an encoding.
pub fn leaf_bytes(application_id: i64, reference: &str, seq: i64, hash: &str) -> Vec<u8> {
    format!("corridor audit head v1\n{application_id}\n{reference}\n{seq}\n{hash}\n").into_bytes()
}

pub fn leaf_hash(head: &CheckpointHead) -> Hash {
    merkle::leaf_hash(&leaf_bytes(head.application_id.get(), head.reference.as_str(), head.seq, &head.hash))
}

/// The tree hash over heads in the order given (the store gives them by application id).
pub fn tree_root(heads: &[CheckpointHead]) -> Hash {
    merkle::root_of_hashes(&heads.iter().map(leaf_hash).collect::<Vec<_>>())
}

/// One line of the witness file: the checkpoint as signed, with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessLine {
    pub seq: i64,
    pub tree_size: i64,
    pub root_hash: String,
    pub created_at: String,
    pub key_fingerprint: String,
    pub signature: String,
}

impl WitnessLine {
    pub fn of(c: &Checkpoint) -> WitnessLine {
        WitnessLine {
            seq: c.seq,
            tree_size: c.tree_size,
            root_hash: c.root_hash.clone(),
            created_at: canonical_time(c.created_at),
            key_fingerprint: c.key_fingerprint.clone(),
            signature: c.signature.clone(),
        }
    }

    /// The checkpoint this line records; none when its time is not a time.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let at = DateTime::parse_from_rfc3339(&self.created_at).ok()?.with_timezone(&Utc);
        Some(Checkpoint {
            seq: self.seq,
            tree_size: self.tree_size,
            root_hash: self.root_hash.clone(),
            created_at: at,
            key_fingerprint: self.key_fingerprint.clone(),
            signature: self.signature.clone(),
        })
    }
}

/// What a witness file holds: its checkpoints, and the lines that are not one (line number,
/// why).
#[derive(Debug, Clone, Default)]
pub struct Witness {
    pub checkpoints: Vec<Checkpoint>,
    pub bad_lines: Vec<(usize, String)>,
}

/// Read a witness file; `None` when it does not exist.
pub fn read_witness(path: &Path) -> Result<Option<Witness>, KeyFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut witness = Witness::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<WitnessLine>(line).ok().and_then(|w| w.checkpoint()) {
            Some(c) => witness.checkpoints.push(c),
            None => witness.bad_lines.push((i + 1, "not a checkpoint".into())),
        }
    }
    Ok(Some(witness))
}

/// Append checkpoints to the witness file (created when missing), one line each, and flush
/// them to disk.
pub fn append_witness(path: &Path, checkpoints: &[Checkpoint]) -> Result<(), KeyFileError> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let mut text = String::new();
    for c in checkpoints {
        // A struct of strings and numbers always serialises.
        text.push_str(&serde_json::to_string(&WitnessLine::of(c)).unwrap_or_default());
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|e| io_error(path, e))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApplicationId, Reference};

    fn heads(n: i64) -> Vec<CheckpointHead> {
        (1..=n)
            .map(|i| CheckpointHead {
                application_id: ApplicationId::new(i),
                reference: Reference::format("QA-BV", 2026, i),
                seq: i + 2,
                hash: format!("{i:064x}"),
            })
            .collect()
    }

    #[test]
    fn a_checkpoint_verifies_with_its_public_key_only_as_signed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let (key, created) = AuditKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (again, created) = AuditKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public(), key.public(), "the same key is read back");
        let public = PublicKey::parse(&key.public().to_text()).unwrap();
        let c = key.sign(1, &heads(5), Utc::now());
        assert_eq!(c.tree_size, 5);
        public.verify(&c).unwrap();
        for changed in [
            Checkpoint { seq: 2, ..c.clone() },
            Checkpoint { tree_size: 4, ..c.clone() },
            Checkpoint { root_hash: hex::encode(tree_root(&heads(4))), ..c.clone() },
            Checkpoint { created_at: c.created_at + chrono::Duration::seconds(1), ..c.clone() },
        ] {
            assert_eq!(public.verify(&changed), Err(SignatureProblem::Invalid));
        }
        let mut sig = c.signature.clone().into_bytes();
        sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
        let forged = Checkpoint { signature: String::from_utf8(sig).unwrap(), ..c.clone() };
        assert!(public.verify(&forged).is_err());
        let (other, _) = AuditKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(matches!(other.public().verify(&c), Err(SignatureProblem::OtherKey { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        AuditKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(AuditKey::load(&path), Err(KeyFileError::TooOpen { .. })));
    }

    #[test]
    fn the_witness_reads_back_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = AuditKey::load_or_create(&dir.path().join("k")).unwrap();
        let path = dir.path().join("w/witness.log");
        assert!(read_witness(&path).unwrap().is_none());
        let a = key.sign(1, &heads(2), Utc::now());
        let b = key.sign(2, &heads(3), Utc::now());
        append_witness(&path, std::slice::from_ref(&a)).unwrap();
        append_witness(&path, std::slice::from_ref(&b)).unwrap();
        let w = read_witness(&path).unwrap().unwrap();
        assert_eq!(w.checkpoints, vec![a, b]);
        assert!(w.bad_lines.is_empty());
    }
}
