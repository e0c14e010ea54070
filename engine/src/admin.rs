//! Administration: organisations and user accounts, the loaded workflows, the audit chain of
//! any application, and the jobs queue with its dead letters.
//!
//! Every method here takes the acting user and refuses anyone but an administrator, so that
//! no caller (page, CLI, future API) can reach these powers by forgetting a check.
//!
//! Input problems are returned as data (`Ok(Err(problems))`), each naming its field and its
//! kind, so that a page words them in the visitor's language; `EngineError` is kept for
//! authorisation and storage failures.
//!
//! Administrative changes to accounts are not application events (the hash chain belongs to
//! applications), so they are written to the log under the `corridor::admin` target, with
//! the administrator, the action and the account it touched.

use crate::role::Role;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::actor::Actor;
use crate::audit::{self, ChainBreak};
use crate::auth;
use crate::error::{EngineError, EngineResult};
use crate::model::{AuditEvent, Job, JobId, JobStatus, NewUser, Organisation, OrganisationId, Reference, User, UserId};
use crate::organisation::OrganisationKind;
use crate::service::{ApplicationView, Engine};
use crate::store::StoreError;
use crate::workflow::Workflow;

/// Shortest password an administrator may set by hand (generated ones are 20 characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;

/// What is wrong with one input of an administration form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Missing,
    TooLong,
    TooShort,
    Invalid,
    /// Not one of the values offered (role, kind, language, organisation, country).
    Unknown,
    /// Another record already has it (e-mail address, organisation name).
    Taken,
    /// A password that is too easy to guess ([`crate::auth::is_guessable_password`]).
    TooCommon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The form input: `name`, `email`, `role`, `organisation`, `language`, `password`,
    /// `kind`, `country`.
    pub field: &'static str,
    pub kind: ProblemKind,
}

impl Problem {
    fn new(field: &'static str, kind: ProblemKind) -> Self {
        Problem { field, kind }
    }
}

/// English wording, for logs and command-line callers; pages use their catalogue.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ProblemKind::Missing => "is missing",
            ProblemKind::TooLong => "is too long",
            ProblemKind::TooShort => "is too short",
            ProblemKind::Invalid => "is not in the right format",
            ProblemKind::Unknown => "is not one of the values offered",
            ProblemKind::Taken => "is already in use",
            ProblemKind::TooCommon => "is too easy to guess (a common or breached password, or a simple pattern)",
        };
        write!(f, "{} {what}", self.field)
    }
}

/// A new organisation as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct OrganisationInput {
    pub name: String,
    pub kind: String,
    /// ISO 3166-1 alpha-2; empty for none.
    pub country: String,
}

/// A new account as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub email: String,
    pub name: String,
    pub role: String,
    pub organisation_id: Option<OrganisationId>,
    pub language: String,
    /// Empty: generate one and show it once.
    pub password: String,
}

/// A new account, and the password to hand over when Corridor chose it.
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user: User,
    pub generated_password: Option<String>,
}

/// A job with the reference of the application it belongs to, if any.
#[derive(Debug, Clone)]
pub struct JobView {
    pub job: Job,
    pub reference: Option<Reference>,
}

/// One application's audit trail and whether its hash chain holds.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub application: ApplicationView,
    pub events: Vec<AuditEvent>,
    /// `Ok(events checked)` or the first event that does not match.
    pub verification: Result<usize, ChainBreak>,
    /// Where the application's row (state, version, chain head) does not match its events,
    /// worded.
    pub row_problems: Vec<String>,
}

/// The result of checking every application's record (`corridor audit verify`).
#[derive(Debug, Clone, Serialize)]
pub struct ChainSummary {
    pub applications: usize,
    pub events: usize,
    /// Every application with a problem, in id order.
    pub broken: Vec<BrokenChain>,
    /// Problems of the checkpoints and the witness file, worded.
    pub checkpoint_problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokenChain {
    /// The reference, or `#id` when the row is gone.
    pub reference: String,
    /// Whether the row still exists (the page links to it).
    pub exists: bool,
    /// Each problem, worded.
    pub problems: Vec<String>,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A plausible address: one `@`, something either side, a dot in the domain, no spaces.
/// Deliverability is the mail server's business.
pub fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Check a new organisation; returns the values as they will be stored.
pub fn check_organisation(input: &OrganisationInput) -> Result<OrganisationInput, Vec<Problem>> {
    let mut problems = Vec::new();
    let name = input.name.trim().to_string();
    if name.is_empty() {
        problems.push(Problem::new("name", ProblemKind::Missing));
    } else if chars(&name) > MAX_NAME_CHARS {
        problems.push(Problem::new("name", ProblemKind::TooLong));
    } else if crate::fields::has_control(&name) {
        problems.push(Problem::new("name", ProblemKind::Invalid));
    }
    let kind = input.kind.trim().to_string();
    if kind.is_empty() {
        problems.push(Problem::new("kind", ProblemKind::Missing));
    } else if kind.parse::<crate::organisation::OrganisationKind>().is_err() {
        problems.push(Problem::new("kind", ProblemKind::Unknown));
    }
    let country = input.country.trim().to_uppercase();
    if !country.is_empty() && crate::countries::name(&country).is_none() {
        problems.push(Problem::new("country", ProblemKind::Unknown));
    }
    if problems.is_empty() { Ok(OrganisationInput { name, kind, country }) } else { Err(problems) }
}

/// Check a new account against the roles and organisations that exist.
pub fn check_user(
    input: &UserInput,
    roles: &[Role],
    organisations: &[Organisation],
) -> Result<UserInput, Vec<Problem>> {
    let mut problems = Vec::new();
    let email = input.email.trim().to_string();
    if email.is_empty() {
        problems.push(Problem::new("email", ProblemKind::Missing));
    } else if chars(&email) > MAX_EMAIL_CHARS {
        problems.push(Problem::new("email", ProblemKind::TooLong));
    } else if !plausible_email(&email) {
        problems.push(Problem::new("email", ProblemKind::Invalid));
    }
    let name = input.name.trim().to_string();
    if name.is_empty() {
        problems.push(Problem::new("name", ProblemKind::Missing));
    } else if chars(&name) > MAX_NAME_CHARS {
        problems.push(Problem::new("name", ProblemKind::TooLong));
    } else if crate::fields::has_control(&name) {
        problems.push(Problem::new("name", ProblemKind::Invalid));
    }
    let role = input.role.trim().to_string();
    if role.is_empty() {
        problems.push(Problem::new("role", ProblemKind::Missing));
    } else if !roles.iter().any(|r| *r == role) {
        problems.push(Problem::new("role", ProblemKind::Unknown));
    }
    match input.organisation_id {
        None => problems.push(Problem::new("organisation", ProblemKind::Missing)),
        Some(id) if !organisations.iter().any(|o| o.id == id) => {
            problems.push(Problem::new("organisation", ProblemKind::Unknown))
        }
        Some(_) => {}
    }
    let language = input.language.trim().to_string();
    if language.parse::<crate::lang::Lang>().is_err() {
        problems.push(Problem::new("language", ProblemKind::Unknown));
    }
    // A password is kept exactly as typed: spaces are allowed and count.
    let password = input.password.clone();
    if !password.is_empty()
        && let Some(kind) = password_problem(&password)
    {
        problems.push(Problem::new("password", kind));
    }
    if problems.is_empty() {
        Ok(UserInput { email, name, role, organisation_id: input.organisation_id, language, password })
    } else {
        Err(problems)
    }
}

/// What is wrong with a password someone chose (too short, too long or too easy to guess);
/// the same rules wherever a password is set.
pub(crate) fn password_problem(password: &str) -> Option<ProblemKind> {
    if chars(password) < MIN_PASSWORD_CHARS {
        Some(ProblemKind::TooShort)
    } else if chars(password) > MAX_PASSWORD_CHARS {
        Some(ProblemKind::TooLong)
    } else if auth::is_guessable_password(password) {
        Some(ProblemKind::TooCommon)
    } else {
        None
    }
}

/// Argon2 takes tens of milliseconds of CPU on purpose: keep it off the async workers.
pub(crate) async fn hash_password(password: String) -> EngineResult<String> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| EngineError::Internal(format!("password hashing task: {e}")))?
        .map_err(|e| EngineError::Internal(e.to_string()))
}

fn log_admin_action(admin: &Actor, action: &str, user: &User) {
    tracing::info!(
        target: "corridor::admin",
        admin_id = admin.user_id.map(UserId::get),
        admin = %admin.name,
        action,
        user_id = user.id.get(),
        user = %user.email,
        "administrative change"
    );
}

impl Engine {
    /// Only administrators pass.
    pub fn require_admin(&self, actor: &Actor) -> EngineResult<()> {
        if actor.is_admin() { Ok(()) } else { Err(EngineError::Forbidden("only an administrator may do this".into())) }
    }

    /// Every role a user can hold: the roles the loaded workflows name, and `admin`. The
    /// scheduler's `system` role is never a person's.
    pub fn assignable_roles(&self) -> Vec<Role> {
        let mut roles: BTreeSet<Role> = BTreeSet::new();
        for wf in self.workflows.all_versions() {
            roles.extend(wf.roles.iter().filter(|r| *r != Role::SYSTEM).cloned());
        }
        roles.insert(Role::ADMIN);
        roles.into_iter().collect()
    }

    /// The kind of organisation whose people hold `role`, as the newest workflow that declares
    /// it says; administrators belong to the operator.
    pub fn organisation_kind_of_role(&self, role: &str) -> Option<OrganisationKind> {
        if role == Role::ADMIN {
            return Some(OrganisationKind::Operator);
        }
        let mut workflows: Vec<_> = self.workflows.all_versions().collect();
        workflows.sort_by_key(|w| std::cmp::Reverse(w.version));
        workflows.iter().find_map(|w| w.role_organisations.iter().find(|(r, _)| r == role).map(|(_, kind)| *kind))
    }

    pub async fn admin_organisations(&self, actor: &Actor) -> EngineResult<Vec<Organisation>> {
        self.require_admin(actor)?;
        Ok(self.store.organisations().await?)
    }

    pub async fn admin_users(&self, actor: &Actor) -> EngineResult<Vec<User>> {
        self.require_admin(actor)?;
        Ok(self.store.users().await?)
    }

    pub async fn admin_user(&self, actor: &Actor, user_id: UserId) -> EngineResult<User> {
        self.require_admin(actor)?;
        Ok(self.store.user(user_id).await?)
    }

    pub async fn admin_create_organisation(
        &self,
        actor: &Actor,
        input: &OrganisationInput,
    ) -> EngineResult<Result<Organisation, Vec<Problem>>> {
        self.require_admin(actor)?;
        let checked = match check_organisation(input) {
            Ok(c) => c,
            Err(problems) => return Ok(Err(problems)),
        };
        // The store compares names exactly; a look-up first catches the common case with a
        // field-level answer, and the unique index still decides a race.
        if self.store.organisation_by_name(&checked.name).await?.is_some() {
            return Ok(Err(vec![Problem::new("name", ProblemKind::Taken)]));
        }
        let country = (!checked.country.is_empty()).then_some(checked.country.as_str());
        match self.store.create_organisation(&checked.name, &checked.kind, country).await {
            Ok(org) => {
                tracing::info!(target: "corridor::admin", admin_id = actor.user_id.map(UserId::get), organisation = org.id.get(), name = %org.name, "organisation created");
                Ok(Ok(org))
            }
            Err(StoreError::Duplicate(_)) => Ok(Err(vec![Problem::new("name", ProblemKind::Taken)])),
            Err(e) => Err(e.into()),
        }
    }

    /// Create an account. With no password given, one is generated and returned once; only
    /// its argon2id hash is stored.
    pub async fn admin_create_user(
        &self,
        actor: &Actor,
        input: &UserInput,
    ) -> EngineResult<Result<CreatedUser, Vec<Problem>>> {
        self.require_admin(actor)?;
        let organisations = self.store.organisations().await?;
        let checked = match check_user(input, &self.assignable_roles(), &organisations) {
            Ok(c) => c,
            Err(problems) => return Ok(Err(problems)),
        };
        if self.store.user_by_email(&checked.email).await?.is_some() {
            return Ok(Err(vec![Problem::new("email", ProblemKind::Taken)]));
        }
        let generated = checked.password.is_empty().then(auth::generate_password);
        let password = generated.clone().unwrap_or_else(|| checked.password.clone());
        let password_hash = hash_password(password).await?;
        let Some(organisation_id) = checked.organisation_id else {
            return Ok(Err(vec![Problem::new("organisation", ProblemKind::Missing)]));
        };
        let new_user = NewUser {
            email: checked.email,
            name: checked.name,
            role: checked.role.into(),
            organisation_id,
            password_hash: Some(password_hash),
            language: checked.language,
        };
        match self.store.create_user(new_user).await {
            Ok(user) => {
                log_admin_action(actor, "create_user", &user);
                Ok(Ok(CreatedUser { user, generated_password: generated }))
            }
            Err(StoreError::Duplicate(_)) => Ok(Err(vec![Problem::new("email", ProblemKind::Taken)])),
            Err(StoreError::NotFound(_)) => Ok(Err(vec![Problem::new("organisation", ProblemKind::Unknown)])),
            Err(e) => Err(e.into()),
        }
    }

    /// An administrator may not lock themselves out (disable or demote their own account):
    /// another administrator must do it.
    fn refuse_self(actor: &Actor, user: &User, what: &str) -> EngineResult<()> {
        if actor.user_id == Some(user.id) {
            return Err(EngineError::Forbidden(format!("an administrator cannot {what} their own account")));
        }
        Ok(())
    }

    /// Disable or enable an account. Disabling ends every session of that user and revokes
    /// every API token, in the same transaction.
    pub async fn admin_set_disabled(&self, actor: &Actor, user_id: UserId, disabled: bool) -> EngineResult<User> {
        self.require_admin(actor)?;
        let user = self.store.user(user_id).await?;
        Self::refuse_self(actor, &user, "disable")?;
        self.store.set_user_disabled(user_id, disabled, self.now()).await?;
        log_admin_action(actor, if disabled { "disable_user" } else { "enable_user" }, &user);
        Ok(self.store.user(user_id).await?)
    }

    /// Give the account a new generated password (returned once), end its sessions and revoke
    /// its API tokens in the same transaction, so that whoever held the old password (or a
    /// token made with it) is shut out everywhere.
    pub async fn admin_reset_password(&self, actor: &Actor, user_id: UserId) -> EngineResult<(User, String)> {
        self.require_admin(actor)?;
        let user = self.store.user(user_id).await?;
        let password = auth::generate_password();
        let hash = hash_password(password.clone()).await?;
        self.store.set_user_password(user_id, &hash, self.now()).await?;
        log_admin_action(actor, "reset_password", &user);
        Ok((user, password))
    }

    pub async fn admin_set_role(
        &self,
        actor: &Actor,
        user_id: UserId,
        role: &str,
    ) -> EngineResult<Result<User, Vec<Problem>>> {
        self.require_admin(actor)?;
        let user = self.store.user(user_id).await?;
        let role = role.trim();
        if role.is_empty() {
            return Ok(Err(vec![Problem::new("role", ProblemKind::Missing)]));
        }
        if !self.assignable_roles().iter().any(|r| r == role) {
            return Ok(Err(vec![Problem::new("role", ProblemKind::Unknown)]));
        }
        Self::refuse_self(actor, &user, "change the role of")?;
        self.store.set_user_role(user_id, &Role::from(role)).await?;
        log_admin_action(actor, &format!("set_role:{}->{role}", user.role), &user);
        Ok(Ok(self.store.user(user_id).await?))
    }

    /// Every loaded workflow version, by id then version.
    pub fn admin_workflows(&self, actor: &Actor) -> EngineResult<Vec<Arc<Workflow>>> {
        self.require_admin(actor)?;
        Ok(self.workflows.all_versions().cloned().collect())
    }

    pub fn admin_workflow(&self, actor: &Actor, id: &str, version: u32) -> EngineResult<Arc<Workflow>> {
        self.require_admin(actor)?;
        self.workflows.get(id, version).ok_or_else(|| EngineError::NotFound(format!("workflow {id} version {version}")))
    }

    /// An application's events, oldest first, with the verification of their chain.
    pub async fn admin_audit(&self, actor: &Actor, reference: &Reference) -> EngineResult<AuditReport> {
        self.require_admin(actor)?;
        let application = self.application(actor, reference).await?;
        let events = self.store.history(application.record.id).await?;
        let verification = audit::verify_chain(application.record.id, &events).map(|()| events.len());
        let r = &application.record;
        let head = crate::model::ApplicationHead {
            id: r.id,
            reference: r.reference.clone(),
            state: r.state.clone(),
            version: r.version,
            audit_seq: r.audit_seq,
            audit_hash: r.audit_hash.clone(),
        };
        let row_problems = audit::check_application(&head, &events, None)
            .into_iter()
            .filter(|p| !matches!(p, audit::Problem::ChainBroken { .. }))
            .map(|p| p.to_string())
            .collect();
        Ok(AuditReport { application, events, verification, row_problems })
    }

    /// Verify every application's record as `corridor audit verify` does, naming every
    /// broken application by reference.
    pub async fn admin_verify_all(&self, actor: &Actor) -> EngineResult<ChainSummary> {
        self.require_admin(actor)?;
        let report = self.verify_records(&audit::VerifyOptions::default()).await?;
        let mut broken: Vec<BrokenChain> = Vec::new();
        let mut checkpoint_problems = Vec::new();
        for f in &report.findings {
            match &f.subject {
                audit::Subject::Application { id, reference } => {
                    let name = reference.as_ref().map(|r| r.to_string()).unwrap_or_else(|| format!("#{id}"));
                    let exists = !matches!(
                        f.problem,
                        audit::Problem::DeletedSinceCheckpoint { .. } | audit::Problem::EventsWithoutApplication
                    );
                    match broken.iter_mut().find(|b| b.reference == name) {
                        Some(b) => b.problems.push(f.problem.to_string()),
                        None => {
                            broken.push(BrokenChain { reference: name, exists, problems: vec![f.problem.to_string()] })
                        }
                    }
                }
                _ => checkpoint_problems.push(f.to_string()),
            }
        }
        Ok(ChainSummary { applications: report.applications, events: report.events, broken, checkpoint_problems })
    }

    /// A calendar's holidays as deadlines see them now (changing them is
    /// [`Engine::add_holiday`] and [`Engine::remove_holiday`], which check the role
    /// themselves).
    pub async fn admin_holidays(
        &self,
        actor: &Actor,
        calendar: &str,
    ) -> EngineResult<Vec<crate::holidays::HolidayEntry>> {
        self.require_admin(actor)?;
        self.holidays(calendar).await
    }

    /// Jobs in one status (newest first), or of every status when `status` is None, each with
    /// the reference of its application (looked up once per application).
    pub async fn admin_jobs(&self, actor: &Actor, status: Option<JobStatus>, limit: i64) -> EngineResult<Vec<JobView>> {
        self.require_admin(actor)?;
        let jobs = self.store.jobs(status, limit.clamp(1, 500)).await?;
        let mut references: std::collections::HashMap<crate::model::ApplicationId, Option<Reference>> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let reference = match job.application_id {
                Some(id) => match references.get(&id) {
                    Some(known) => known.clone(),
                    None => {
                        let r = match self.store.application(id).await {
                            Ok(a) => Some(a.reference),
                            Err(StoreError::NotFound(_)) => None,
                            Err(e) => return Err(e.into()),
                        };
                        references.insert(id, r.clone());
                        r
                    }
                },
                None => None,
            };
            out.push(JobView { job, reference });
        }
        Ok(out)
    }

    /// Put a dead letter back in the queue, to run now with a fresh set of attempts.
    /// `NotFound` when there is no such dead job (e.g. someone retried it already).
    pub async fn admin_retry_job(&self, actor: &Actor, job_id: JobId) -> EngineResult<()> {
        self.require_admin(actor)?;
        self.store.retry_job(job_id, self.now()).await?;
        tracing::info!(target: "corridor::admin", admin_id = actor.user_id.map(UserId::get), job = job_id.get(), "dead letter retried");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn org(id: i64) -> Organisation {
        Organisation {
            id: OrganisationId::new(id),
            name: "Ministry".into(),
            kind: "ministry".into(),
            country: Some("QA".into()),
            created_at: Utc::now(),
        }
    }

    fn roles() -> Vec<Role> {
        vec![Role::ADMIN, Role::APPLICANT, "ministry_reviewer".into()]
    }

    fn good_user() -> UserInput {
        UserInput {
            email: " sara@ministry.example ".into(),
            name: "Sara Al-Kuwari".into(),
            role: "ministry_reviewer".into(),
            organisation_id: Some(OrganisationId::new(7)),
            language: "ar".into(),
            password: String::new(),
        }
    }

    #[test]
    fn a_good_user_is_trimmed_and_accepted() {
        let checked = check_user(&good_user(), &roles(), &[org(7)]).expect("valid");
        assert_eq!(checked.email, "sara@ministry.example");
    }

    #[test]
    fn every_problem_of_a_user_is_named_at_once() {
        let input = UserInput {
            email: "not an address".into(),
            name: " ".into(),
            role: Role::SYSTEM.to_string(),
            organisation_id: Some(OrganisationId::new(99)),
            language: "fr".into(),
            password: "short".into(),
        };
        let problems = check_user(&input, &roles(), &[org(7)]).expect_err("invalid");
        let fields: Vec<(&str, ProblemKind)> = problems.iter().map(|p| (p.field, p.kind)).collect();
        assert_eq!(
            fields,
            [
                ("email", ProblemKind::Invalid),
                ("name", ProblemKind::Missing),
                ("role", ProblemKind::Unknown),
                ("organisation", ProblemKind::Unknown),
                ("language", ProblemKind::Unknown),
                ("password", ProblemKind::TooShort),
            ]
        );
        let missing_org = UserInput { organisation_id: None, ..good_user() };
        assert_eq!(
            check_user(&missing_org, &roles(), &[org(7)]).expect_err("no org"),
            [Problem::new("organisation", ProblemKind::Missing)]
        );
    }

    #[test]
    fn organisations_need_a_name_a_known_kind_and_a_real_country() {
        let ok = check_organisation(&OrganisationInput {
            name: " Lahore Soft ".into(),
            kind: "firm".into(),
            country: "pk".into(),
        })
        .expect("valid");
        assert_eq!((ok.name.as_str(), ok.country.as_str()), ("Lahore Soft", "PK"));
        let bad = check_organisation(&OrganisationInput { name: "".into(), kind: "club".into(), country: "XX".into() })
            .expect_err("invalid");
        assert_eq!(
            bad,
            [
                Problem::new("name", ProblemKind::Missing),
                Problem::new("kind", ProblemKind::Unknown),
                Problem::new("country", ProblemKind::Unknown)
            ]
        );
        assert!(
            check_organisation(&OrganisationInput { name: "x".into(), kind: "firm".into(), country: "".into() })
                .is_ok()
        );
    }

    #[test]
    fn email_addresses_must_look_like_addresses() {
        for ok in ["a@b.qa", "first.last+tag@ministry.gov.qa"] {
            assert!(plausible_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.qa", "a@.qa", "a@b.qa.", "a b@c.qa", "a@b@c.qa"] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}
