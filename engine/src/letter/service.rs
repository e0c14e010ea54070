//! The engine's letter operations: a decision's letter (made once, then re-rendered from its
//! record), the public check of a verification code, and the key that signs letters.

use crate::lang::Lang;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::file::SignedLetter;
use super::{Bilingual, Entries, FORMAT, Holder, LetterContent, LetterDate, Outcome, Refusal, Signatory, Terms};
use super::{VerificationCode, country, render};
use crate::access::{Client, Disclosure};
use crate::actor::Actor;
use crate::audit::checkpoint::PublicKey;
use crate::error::{EngineError, EngineResult};
use crate::model::{LetterRecord, NewAuditEvent, NewLetter, Reference, canonical_time};
use crate::queue::Decision;
use crate::service::Engine;

/// A letter as served: its record, its signed content and the PDF.
#[derive(Debug, Clone)]
pub struct IssuedLetter {
    pub record: LetterRecord,
    pub letter: SignedLetter,
    pub pdf: Vec<u8>,
}

/// Whether a genuine letter still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterValidity {
    /// A grant within its validity (or one without an end date).
    Valid,
    /// A grant whose `valid_until` has passed.
    Expired,
    /// Withdrawn by the issuer after it was issued.
    Revoked,
    /// A refusal: genuine, and it grants nothing.
    Refusal,
}

/// What `/verify/{code}` may tell anyone who holds the code: the key facts, the holder's name
/// partly masked, no passport number or date of birth.
#[derive(Debug, Clone, Serialize)]
pub struct LetterCheck {
    pub number: String,
    pub reference: String,
    pub validity: LetterValidity,
    pub outcome: Outcome,
    pub authority: Bilingual,
    pub subject: Bilingual,
    pub holder: String,
    pub date: LetterDate,
    pub valid_from: Option<LetterDate>,
    pub valid_until: Option<LetterDate>,
    pub entries: Option<Entries>,
    pub permitted_stay_days: Option<u32>,
    pub sha256: String,
}

/// `Ayesha Khan` → `A***** K***`: enough to match a letter in hand, not to learn a name.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(values: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    values.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn date(values: &serde_json::Map<String, Value>, name: &str) -> Option<LetterDate> {
    text(values, name).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()).map(LetterDate::of)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Engine {
    /// Use this letterhead and these signatory titles (start-up).
    pub fn with_letters(mut self, settings: super::LetterSettings) -> Engine {
        self.letters = settings;
        self
    }

    /// The key letters are signed with (the audit key, made on first use).
    pub fn letter_public_key(&self) -> EngineResult<PublicKey> {
        Ok(self.audit_key()?.0.public())
    }

    /// The decision letter of an application the actor may read, made on its first request.
    /// Before a decision: "decision not found", and nothing is written. Staff whose role does
    /// not see every personal field in full are refused (the letter states them all); their
    /// full view is written to the access log like any other.
    pub async fn letter(&self, actor: &Actor, reference: &Reference, client: &Client) -> EngineResult<IssuedLetter> {
        let decision = self.decision(actor, reference).await?;
        let shown = self.shown(actor, &decision.view, Disclosure::Full, client).await?;
        if !shown.masked.is_empty() {
            return Err(EngineError::Forbidden(
                "the decision letter states personal data your role does not see in full".into(),
            ));
        }
        self.letter_of(&decision).await
    }

    /// The letter of an application, for an operator's command line (`corridor letter print`).
    pub async fn letter_for_operator(&self, reference: &Reference) -> EngineResult<IssuedLetter> {
        let decision = self.decision(&Actor::system(), reference).await?;
        self.letter_of(&decision).await
    }

    /// Make the letter of a decision just taken, so that it exists from the decision on. A
    /// failure here leaves the decision as it is; the letter is then made at its first request.
    pub(crate) async fn letter_on_decision(&self, reference: &Reference) {
        match self.decision(&Actor::system(), reference).await {
            Ok(decision) => {
                if let Err(e) = self.letter_of(&decision).await {
                    tracing::warn!(%reference, error = %e, "the decision letter was not made now; it will be at its first request");
                }
            }
            Err(EngineError::NotFound(_)) => {}
            Err(e) => tracing::warn!(%reference, error = %e, "the decision letter was not made now"),
        }
    }

    async fn letter_of(&self, decision: &Decision) -> EngineResult<IssuedLetter> {
        let application_id = decision.view.record.id;
        if let Some(record) = self.store.letter(application_id).await? {
            return reissue(record).await;
        }
        let content = self.letter_content(decision).await?;
        let key = self.audit_key()?.0;
        let letter = SignedLetter {
            signature: key.sign_message(content.canonical_json().as_bytes()),
            public_key: key.public().to_text(),
            content,
        };
        let pdf = render_off_thread(&letter).await?;
        let digest = sha256(&pdf);
        let now = self.now();
        let state = decision.view.record.state.clone();
        let system = Actor::system();
        let audit = NewAuditEvent {
            actor_id: None,
            actor_name: system.name.clone(),
            role: system.role.clone(),
            organisation_id: None,
            action: super::LETTER_ISSUED.into(),
            from_state: Some(state.clone()),
            to_state: Some(state),
            comment: None,
            reason: None,
            data: json!({
                "letter_number": letter.content.number,
                "sha256": digest,
                "format": FORMAT,
                "decision_seq": decision.event.seq,
            }),
            at: now,
        };
        let record = self
            .store
            .issue_letter(
                NewLetter {
                    application_id,
                    number: letter.content.number.clone(),
                    code: letter.content.code.as_str().to_string(),
                    sha256: digest,
                    signed: letter.attachment(),
                    issued_at: now,
                },
                audit,
            )
            .await?;
        if record.code != letter.content.code.as_str() {
            // Another instance made it first: theirs is the letter.
            return reissue(record).await;
        }
        Ok(IssuedLetter { record, letter, pdf })
    }

    /// Every fact of the letter, from the application, its decision event and the settings.
    async fn letter_content(&self, decision: &Decision) -> EngineResult<LetterContent> {
        let view = &decision.view;
        let (r, wf) = (&view.record, &view.workflow);
        let values = r.fields.as_object().cloned().unwrap_or_default();
        let event = &decision.event;
        let outcome = match decision.outcome.as_str() {
            "granted" => Outcome::Granted,
            _ => Outcome::Refused,
        };
        let settings = &self.letters;
        let code = VerificationCode::random();
        let decided_local = event.at.with_timezone(&settings_zone()).date_naive();
        let state = wf.state(&r.state);
        // The officer's entries with the decision (the transition's `fields:`).
        let given = event.data.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
        let terms = (outcome == Outcome::Granted).then(|| Terms {
            licence_number: text(&given, "licence_number"),
            valid_from: date(&given, "valid_from"),
            valid_until: date(&given, "valid_until"),
            entries: text(&given, "entries").as_deref().and_then(Entries::parse),
            permitted_stay_days: text(&given, "permitted_stay_days").and_then(|n| n.parse().ok()),
            conditions: text(&given, "conditions"),
        });
        let bilingual = |t: &crate::text::Text| Bilingual::new(t.get(Lang::En), t.get(Lang::Ar));
        // The refusing transition says what the applicant may do next; else the state does.
        let refusal = (outcome == Outcome::Refused).then(|| Refusal {
            reason: event.reason.clone(),
            reason_wording: decision.reason_code.as_ref().map(|r| bilingual(&r.label)),
            next_steps: decision.next_steps.as_ref().or(state.and_then(|s| s.next_steps.as_ref())).map(bilingual),
        });
        let sponsor = self.store.organisation(r.organisation_id).await.ok().map(|o| o.name);
        // The outcome as the public reads it ("Visa issued"), not the officer's button.
        let public = wf.state_public(&r.state);
        let base = settings.public_url.trim_end_matches('/');
        let (authority, address) = settings.letterhead(&wf.id);
        Ok(LetterContent {
            format: FORMAT,
            number: format!("{}/{}", settings.number_prefix, r.reference),
            verify_url: format!("{base}/verify/{}", code.grouped()),
            code,
            reference: r.reference.to_string(),
            workflow: wf.id.clone(),
            outcome,
            decided_at: canonical_time(event.at),
            date: LetterDate::of(decided_local),
            authority,
            address,
            subject: bilingual(&wf.title),
            decision: bilingual(&public),
            holder: Holder {
                full_name: crate::fields::applicant_name(wf, &values),
                passport_number: crate::fields::passport_number(wf, &values),
                nationality: text(&values, "nationality").map(|c| country(&c)),
                date_of_birth: date(&values, "date_of_birth"),
            },
            sponsor,
            host_organisation: text(&values, "host_organisation"),
            terms,
            refusal,
            signatory: Signatory { name: event.actor_name.clone(), title: settings.title(&event.role) },
        })
    }

    /// What the public may learn from a verification code; "letter not found" for a code no
    /// letter carries.
    pub async fn check_letter(&self, code: &VerificationCode) -> EngineResult<LetterCheck> {
        let record = self.store.letter_by_code(code.as_str()).await?.ok_or(EngineError::NotFound("letter".into()))?;
        let letter: SignedLetter = serde_json::from_str(&record.signed)
            .map_err(|e| EngineError::Internal(format!("letter {} is not readable: {e}", record.number)))?;
        let c = letter.content;
        let today = self.now().with_timezone(&settings_zone()).date_naive();
        let terms = c.terms.clone().unwrap_or_default();
        let ended = terms
            .valid_until
            .as_ref()
            .and_then(|d| NaiveDate::parse_from_str(&d.iso, "%Y-%m-%d").ok())
            .is_some_and(|until| until < today);
        let validity = if record.revoked_at.is_some() {
            LetterValidity::Revoked
        } else if c.outcome == Outcome::Refused {
            LetterValidity::Refusal
        } else if ended {
            LetterValidity::Expired
        } else {
            LetterValidity::Valid
        };
        Ok(LetterCheck {
            number: c.number,
            reference: c.reference,
            validity,
            outcome: c.outcome,
            authority: c.authority,
            subject: c.subject,
            holder: mask_name(&c.holder.full_name),
            date: c.date,
            valid_from: terms.valid_from,
            valid_until: terms.valid_until,
            entries: terms.entries,
            permitted_stay_days: terms.permitted_stay_days,
            sha256: record.sha256,
        })
    }
}

/// The letters' time zone: the day a decision is dated is the day in Doha.
fn settings_zone() -> chrono_tz::Tz {
    chrono_tz::Asia::Qatar
}

/// A kept letter rendered again from its signed content: the same bytes as when it was made,
/// or an error that says the layout changed (never a different letter served silently).
async fn reissue(record: LetterRecord) -> EngineResult<IssuedLetter> {
    let letter: SignedLetter = serde_json::from_str(&record.signed)
        .map_err(|e| EngineError::Internal(format!("letter {} is not readable: {e}", record.number)))?;
    let pdf = render_off_thread(&letter).await?;
    if sha256(&pdf) != record.sha256 {
        return Err(EngineError::Internal(format!(
            "letter {} no longer renders to the file issued (SHA-256 {}): the letter layout changed",
            record.number, record.sha256
        )));
    }
    Ok(IssuedLetter { record, letter, pdf })
}

/// Laying out is CPU work of a good part of a second: off the async threads.
async fn render_off_thread(letter: &SignedLetter) -> EngineResult<Vec<u8>> {
    let letter = letter.clone();
    tokio::task::spawn_blocking(move || render::render(&letter))
        .await
        .map_err(|e| EngineError::Internal(format!("letter layout stopped: {e}")))?
        .map_err(|e| EngineError::Internal(e.to_string()))
}
