//! A letter as a file: the signed content it carries as a PDF attachment, and the offline
//! check `corridor letter verify` runs with nothing but the public key.

use serde::{Deserialize, Serialize};

use super::{FORMAT, LetterContent};
use crate::audit::checkpoint::PublicKey;

/// Name of the attachment that carries the signed content.
pub const ATTACHMENT: &str = "corridor-letter.json";

/// A letter's content with its signature: the attachment of the PDF and the input of
/// [`super::render::render`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLetter {
    pub content: LetterContent,
    /// Ed25519 over [`LetterContent::canonical_json`], hex.
    pub signature: String,
    /// The key that signed, `ed25519:<hex>`.
    pub public_key: String,
}

impl SignedLetter {
    /// The attachment's text (keys sorted, so it is one text for one letter).
    pub fn attachment(&self) -> String {
        serde_json::to_value(self).map(|v| v.to_string()).unwrap_or_default()
    }

    /// Whether `key` signed this content.
    pub fn signed_by(&self, key: &PublicKey) -> Result<(), FileProblem> {
        let signer = PublicKey::parse(&self.public_key).map_err(|_| FileProblem::BadSignature)?;
        if signer != *key {
            return Err(FileProblem::OtherKey { fingerprint: signer.fingerprint() });
        }
        if key.verify_message(self.content.canonical_json().as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(FileProblem::BadSignature)
        }
    }
}

/// Why a file is not a genuine letter of this deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("this file is not a PDF that can be read")]
    NotAPdf,
    #[error("this PDF carries no signed Corridor letter content (no readable `corridor-letter.json` attachment)")]
    NoSignedContent,
    #[error("the letter was signed with another key (fingerprint {fingerprint}), not the one given")]
    OtherKey { fingerprint: String },
    #[error("the signature does not match the letter's content: the content was changed after signing")]
    BadSignature,
    #[error("the letter is laid out in format {found}, which this version (format {FORMAT}) does not render")]
    OtherFormat { found: u32 },
    #[error(
        "the file is not the letter its signed content renders to: it was changed after it was issued (the signed content is genuine; ask the issuer for a fresh copy or check the code online)"
    )]
    Altered,
    #[error("{0}")]
    Render(String),
}

/// The signed content attached to a PDF.
pub fn attachment_of(pdf: &[u8]) -> Result<SignedLetter, FileProblem> {
    if !pdf.starts_with(b"%PDF-") {
        return Err(FileProblem::NotAPdf);
    }
    let doc = lopdf::Document::load_mem(pdf).map_err(|_| FileProblem::NotAPdf)?;
    // Any embedded file stream that holds a signed letter; a letter has exactly one.
    for object in doc.objects.values() {
        let lopdf::Object::Stream(stream) = object else { continue };
        let is_file = matches!(stream.dict.get(b"Type"), Ok(lopdf::Object::Name(n)) if n.as_slice() == b"EmbeddedFile");
        if !is_file {
            continue;
        }
        let bytes = if stream.dict.has(b"Filter") {
            match stream.decompressed_content() {
                Ok(b) => b,
                Err(_) => continue,
            }
        } else {
            stream.content.clone()
        };
        if let Ok(letter) = serde_json::from_slice::<SignedLetter>(&bytes) {
            return Ok(letter);
        }
    }
    Err(FileProblem::NoSignedContent)
}

/// Check a letter file offline: its attachment is content signed by `key`, and the file is,
/// byte for byte, what that content renders to.
pub fn verify_file(pdf: &[u8], key: &PublicKey) -> Result<SignedLetter, FileProblem> {
    let letter = attachment_of(pdf)?;
    letter.signed_by(key)?;
    if letter.content.format != FORMAT {
        return Err(FileProblem::OtherFormat { found: letter.content.format });
    }
    let expected = super::render::render(&letter).map_err(|e| FileProblem::Render(e.to_string()))?;
    if expected != pdf {
        return Err(FileProblem::Altered);
    }
    Ok(letter)
}
