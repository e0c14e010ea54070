//! Passwords (argon2id, checked against a list of common and breached ones), API tokens
//! (random, stored as a SHA-256 digest), the second factor (TOTP, RFC 6238, with one-time
//! recovery codes), and sign-in: the password check, the code check and the throttle.
//!
//! The throttle cannot be turned against a user:
//! * per (account, client address) pair: the first [`FREE_FAILURES`] failures cost nothing,
//!   then each attempt waits 1 s, 2 s, 4 s ... after the last failure, at most
//!   [`MAX_DELAY`]; a right password after the wait works, and clears the pair;
//! * per client address: after [`ADDRESS_FAILURES`] failures in [`ADDRESS_WINDOW`], the
//!   address may try only the accounts that have signed in from it before.
//!
//! So someone who knows a reviewer's address can slow down guesses from their own address but
//! never stops the reviewer signing in from theirs, and an office behind one address keeps the
//! accounts it uses. Every key is hashed and every map capped ([`crate::ratelimit`]).

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{EngineError, EngineResult};
use crate::ratelimit::{self, BoundedMap, Key};
use crate::role::Role;
use crate::service::Engine;
use crate::store::User;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("could not hash the password: {0}")]
    Hash(String),
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// False for a wrong password and for a malformed stored hash alike.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A new API token as given to the user once; only its digest is stored.
pub fn new_token() -> String {
    format!("cor_{}", random_hex(32))
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A password for a new account: 20 characters from an alphabet without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut buf = [0u8; 20];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

pub fn random_id() -> String {
    random_hex(24)
}

// ---- passwords people choose ----

/// Common and breached passwords (config/passwords/common.txt, see the README for its
/// source), lower case.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../../config/passwords/common.txt")
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether a password someone chose is too easy to guess: on the list of common and breached
/// passwords (also once the digits and symbols at its end are taken off, so `Summer2026!`
/// goes the way of `summer`), one character repeated, a short run repeated (`abcabcabcabc`),
/// or a straight sequence (`123456789012`, `abcdefghijkl`). Length is checked apart.
pub fn is_guessable_password(password: &str) -> bool {
    let lower = password.trim().to_lowercase();
    if lower.is_empty() || COMMON_PASSWORDS.contains(&lower) {
        return true;
    }
    let base = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    if base.chars().count() >= 4 && COMMON_PASSWORDS.contains(base) {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    // A unit of up to a third of the length, repeated (one character is a unit of one).
    for period in 1..=(chars.len() / 3).max(1) {
        if chars.len() > period && (period..chars.len()).all(|i| chars[i] == chars[i - period]) {
            return true;
        }
    }
    // Each character one after (or one before) the last; digits wrap 9 -> 0.
    let step = |a: char, b: char| -> i64 {
        let d = b as i64 - a as i64;
        match (a, b) {
            ('9', '0') => 1,
            ('0', '9') => -1,
            _ => d,
        }
    };
    if chars.len() >= 3 {
        let first = step(chars[0], chars[1]);
        if first.abs() == 1 && chars.windows(2).all(|w| step(w[0], w[1]) == first) {
            return true;
        }
    }
    false
}

// ---- the second factor ----

/// Seconds per TOTP step (RFC 6238's default, what every authenticator app uses).
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Codes of the step before and after are accepted too (clocks drift, people type slowly).
const TOTP_SKEW: u16 = 1;
const TOTP_DIGITS: usize = 6;
/// The name authenticator apps show above the code.
pub const TOTP_ISSUER: &str = "Corridor";
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

fn totp(secret_base32: &str, account: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(TOTP_DIGITS as u8)
        .with_skew(TOTP_SKEW)
        .with_step_duration(TOTP_STEP_SECONDS)
        .with_secret(secret)
        .with_issuer(Some(TOTP_ISSUER))
        .with_account_name(account.replace(':', ""))
        .build()
        .ok()
}

/// A new TOTP secret: 160 random bits (RFC 4226's recommendation), base32.
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    totp_rs::Secret::from(bytes).to_base32()
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn otpauth_url(secret_base32: &str, account: &str) -> Option<String> {
    totp(secret_base32, account)?.to_url().ok()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The time step whose code `code` is, at `unix_time`, within the skew; None when it is no
/// code of this secret now.
pub fn totp_step(secret_base32: &str, code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // `check` answers the matching time step (the counter), not a time.
    totp(secret_base32, "")?.check(&code, unix_time)
}

/// A QR code of `text` as an SVG image (for an `<img src="data:...">`).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(220, 220).quiet_zone(true).build())
}

/// Recovery codes look like `k7m2p-x9qrt`: 50 random bits from an alphabet without
/// look-alikes. Case, spaces and dashes do not matter when typed.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut buf = [0u8; 10];
    rand::rng().fill_bytes(&mut buf);
    let chars: String = buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

fn recovery_code_digest(user: &User, code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    token_digest(&format!("recovery:{}:{normal}", user.id.get()))
}

// ---- sign-in ----

/// Failures per (account, address) pair that cost nothing.
pub const FREE_FAILURES: u32 = 3;
/// The wait after the first failure past the free ones; it doubles with each failure.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures from one address in [`ADDRESS_WINDOW`] after which it may try only the accounts
/// that signed in from it before.
pub const ADDRESS_FAILURES: u32 = 50;
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A pair's failures are forgotten this long after the last one.
const PAIR_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// An account that signed in from an address is known there this long.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Keys each map keeps at most.
const MAX_KEYS: usize = 100_000;
/// The longest e-mail address there can be (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// The wait after `failures` failures of a pair.
pub fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(20);
    (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

/// Why a sign-in step was refused. The pages word it; none says which of the e-mail address
/// and the password was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefusal {
    /// Wait `retry_after` before trying again from this address.
    #[error("too many sign-in attempts")]
    TooManyAttempts { retry_after: Duration },
    /// No such account, a wrong password, a disabled account or one without a password.
    #[error("wrong e-mail address or password")]
    WrongCredentials,
    /// Longer than any e-mail address can be; refused before anything else.
    #[error("the e-mail address is too long")]
    EmailTooLong,
    /// Holds a control character (NUL among them), which no address has; refused before the
    /// store is asked, on every database alike.
    #[error("the e-mail address holds a control character")]
    EmailHasControl,
    /// Not the code of this step (or one used already), nor an unused recovery code.
    #[error("wrong code")]
    WrongCode,
    #[error(transparent)]
    Failed(#[from] EngineError),
}

/// Who must have a second factor, and how many sessions a user may keep.
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    /// Roles that must have a second factor; administrators always must.
    pub second_factor_roles: Vec<Role>,
    /// Live sessions per user; signing in once more ends the oldest.
    pub max_sessions: usize,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        SignInPolicy { second_factor_roles: vec![Role::ADMIN], max_sessions: 5 }
    }
}

/// The sign-in policy and the throttle's memory (see the module comment).
pub struct SignInLimits {
    pub(crate) policy: SignInPolicy,
    /// Failures per pair; the map's stamp is the last failure.
    pairs: BoundedMap<u32>,
    /// (window start, failures) per address.
    addresses: BoundedMap<(Instant, u32)>,
    /// Pairs that signed in.
    known: BoundedMap<()>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            policy: SignInPolicy::default(),
            pairs: BoundedMap::new(MAX_KEYS, PAIR_MEMORY),
            addresses: BoundedMap::new(MAX_KEYS, ADDRESS_WINDOW),
            known: BoundedMap::new(MAX_KEYS, KNOWN_FOR),
        }
    }
}

/// The keys of one attempt: the account is the e-mail address as typed, trimmed, in lower case.
struct AttemptKeys {
    pair: Key,
    address: Key,
    known: Key,
}

impl AttemptKeys {
    fn new(email: &str, client: &str) -> Self {
        let account = email.trim().to_lowercase();
        AttemptKeys {
            pair: ratelimit::key(&[b"pair", account.as_bytes(), client.as_bytes()]),
            address: ratelimit::key(&[b"address", client.as_bytes()]),
            known: ratelimit::key(&[b"known", account.as_bytes(), client.as_bytes()]),
        }
    }
}

impl SignInLimits {
    /// Refuse the attempt, with how long to wait, or let it be checked.
    fn admit(&self, keys: &AttemptKeys) -> Result<(), SignInRefusal> {
        let now = Instant::now();
        if let Some((last, failures)) = self.pairs.get(&keys.pair) {
            let ready = last + delay_after(failures);
            if now < ready {
                return Err(SignInRefusal::TooManyAttempts { retry_after: ready - now });
            }
        }
        if let Some((_, (start, failures))) = self.addresses.get(&keys.address)
            && failures >= ADDRESS_FAILURES
            && now.duration_since(start) < ADDRESS_WINDOW
            && self.known.get(&keys.known).is_none()
        {
            return Err(SignInRefusal::TooManyAttempts { retry_after: ADDRESS_WINDOW - now.duration_since(start) });
        }
        Ok(())
    }

    fn failed(&self, keys: &AttemptKeys) {
        let now = Instant::now();
        self.pairs.update(keys.pair, 0, |f| *f = f.saturating_add(1));
        self.addresses.update(keys.address, (now, 0), |(start, failures)| {
            if now.duration_since(*start) >= ADDRESS_WINDOW {
                *start = now;
                *failures = 0;
            }
            *failures = failures.saturating_add(1);
        });
    }

    fn succeeded(&self, keys: &AttemptKeys) {
        self.pairs.remove(&keys.pair);
        self.known.update(keys.known, (), |_| {});
    }
}

/// A hash to verify against when the account does not exist, so that a wrong e-mail address
/// takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a real password, only for timing").unwrap_or_default());

/// What a right password leads to.
#[derive(Debug)]
pub enum PasswordAccepted {
    /// Signed in.
    SignedIn(User),
    /// The user has a second factor: its code is owed.
    SecondFactor(User),
    /// The user's role requires a second factor and they have none: enrolment is owed, and
    /// nothing else is open until it is done.
    Enrol(User),
}

/// A signed-in user's own password change, as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    pub again: String,
    /// Revoke the user's API tokens too.
    pub revoke_tokens: bool,
}

/// What is wrong with one input of a password change. Each names its input ([`Self::field`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChangeProblem {
    CurrentMissing,
    /// Not the account's password (the attempt counts toward the sign-in throttle).
    CurrentWrong,
    NewMissing,
    /// One of the rules of every chosen password ([`crate::admin::ProblemKind`]: too short,
    /// too long, too easy to guess).
    NewRefused(crate::admin::ProblemKind),
    AgainMissing,
    /// The two new entries differ.
    AgainDifferent,
}

impl PasswordChangeProblem {
    /// The form input it is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::CurrentMissing | Self::CurrentWrong => "current_password",
            Self::NewMissing | Self::NewRefused(_) => "new_password",
            Self::AgainMissing | Self::AgainDifferent => "new_password_again",
        }
    }
}

/// Why a password change was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeRefusal {
    #[error("the password change has problems: {0:?}")]
    Problems(Vec<PasswordChangeProblem>),
    /// Too many wrong passwords for this account from this address: wait `retry_after`.
    #[error("too many sign-in attempts")]
    TooManyAttempts { retry_after: Duration },
    #[error(transparent)]
    Failed(#[from] EngineError),
}

/// A second factor being set up: shown once, stored only when a code from it is confirmed.
pub struct Enrolment {
    pub secret: String,
    pub otpauth_url: String,
    /// An SVG image of the QR code of `otpauth_url`.
    pub qr_svg: String,
}

impl Engine {
    /// Set who must have a second factor and how many sessions a user may keep (from the
    /// configuration, at start).
    pub fn with_sign_in_policy(mut self, policy: SignInPolicy) -> Self {
        self.sign_in_limits.policy = policy;
        self
    }

    pub fn sign_in_policy(&self) -> &SignInPolicy {
        &self.sign_in_limits.policy
    }

    /// Whether this user must have a second factor (administrators always).
    pub fn second_factor_required(&self, user: &User) -> bool {
        user.role == Role::ADMIN || self.sign_in_limits.policy.second_factor_roles.contains(&user.role)
    }

    /// Whether the user has a confirmed second factor.
    pub async fn has_second_factor(&self, user: &User) -> EngineResult<bool> {
        Ok(self.store.second_factor(user.id).await?.is_some())
    }

    /// The first step of signing in: an e-mail address and a password from `client` (the
    /// address the request came from).
    pub async fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<PasswordAccepted, SignInRefusal> {
        if email.len() > MAX_EMAIL_BYTES {
            return Err(SignInRefusal::EmailTooLong);
        }
        if crate::fields::has_control(email) {
            return Err(SignInRefusal::EmailHasControl);
        }
        let keys = AttemptKeys::new(email, client);
        let limits = &self.sign_in_limits;
        if let Err(refusal) = limits.admit(&keys) {
            tracing::warn!(address = %client, "sign-in attempt throttled");
            return Err(refusal);
        }
        let user = self.store.user_by_email(email.trim()).await.map_err(EngineError::from)?;
        let stored = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.clone());
        let given = password.to_string();
        // Argon2 takes tens of milliseconds of CPU: off the async workers.
        let verified = tokio::task::spawn_blocking(move || verify_password(&given, &stored))
            .await
            .map_err(|e| EngineError::Internal(format!("password check: {e}")))?;
        match user {
            Some(u) if verified && !u.disabled && u.password_hash.is_some() => {
                if self.has_second_factor(&u).await? {
                    // The pair is cleared only when the code is right too: a known password
                    // must not buy unlimited guesses at the code.
                    Ok(PasswordAccepted::SecondFactor(u))
                } else if self.second_factor_required(&u) {
                    Ok(PasswordAccepted::Enrol(u))
                } else {
                    limits.succeeded(&keys);
                    Ok(PasswordAccepted::SignedIn(u))
                }
            }
            _ => {
                limits.failed(&keys);
                tracing::info!(address = %client, "sign-in failed");
                Err(SignInRefusal::WrongCredentials)
            }
        }
    }

    /// The second step: a code from the authenticator app (each time step once), or an unused
    /// recovery code. Failures count like wrong passwords.
    pub async fn check_second_factor(&self, user: &User, code: &str, client: &str) -> Result<(), SignInRefusal> {
        let keys = AttemptKeys::new(&user.email, client);
        let limits = &self.sign_in_limits;
        limits.admit(&keys)?;
        let factor = self.store.second_factor(user.id).await.map_err(EngineError::from)?;
        let Some(factor) = factor else { return Err(SignInRefusal::WrongCode) };
        let accepted = match totp_step(&factor.secret, code, unix_now()) {
            Some(step) => self.store.take_totp_step(user.id, step as i64).await.map_err(EngineError::from)?,
            None if code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 10 => {
                let digest = recovery_code_digest(user, code);
                let used =
                    self.store.use_recovery_code(user.id, &digest, Utc::now()).await.map_err(EngineError::from)?;
                if used {
                    tracing::info!(user = user.id.get(), "signed in with a recovery code");
                }
                used
            }
            None => false,
        };
        if accepted {
            limits.succeeded(&keys);
            Ok(())
        } else {
            limits.failed(&keys);
            tracing::info!(user = user.id.get(), address = %client, "second factor refused");
            Err(SignInRefusal::WrongCode)
        }
    }

    /// The signed-in user's own password again, before a change to how they sign in (a
    /// stolen session must not set up its own second factor). Failures count like sign-ins.
    pub async fn confirm_password(&self, user: &User, password: &str, client: &str) -> Result<(), SignInRefusal> {
        let keys = AttemptKeys::new(&user.email, client);
        let limits = &self.sign_in_limits;
        limits.admit(&keys)?;
        let stored = user.password_hash.clone().unwrap_or_else(|| DUMMY_HASH.clone());
        let given = password.to_string();
        let verified = tokio::task::spawn_blocking(move || verify_password(&given, &stored))
            .await
            .map_err(|e| EngineError::Internal(format!("password check: {e}")))?;
        if verified && user.password_hash.is_some() {
            Ok(())
        } else {
            limits.failed(&keys);
            Err(SignInRefusal::WrongCredentials)
        }
    }

    /// A signed-in user changes their own password: the current one must be right (a wrong
    /// one counts like a failed sign-in of this account from `client`), the new one obeys the
    /// rules of every chosen password and is typed twice alike. Then, in one transaction, the
    /// password is replaced, every session but `session_id` (the one asking) ends and, when
    /// asked, every API token is revoked.
    pub async fn change_own_password(
        &self,
        user: &User,
        session_id: &str,
        change: &PasswordChange,
        client: &str,
    ) -> Result<(), PasswordChangeRefusal> {
        use PasswordChangeProblem as P;
        let mut problems = Vec::new();
        // Kept exactly as typed, as everywhere a password is set: spaces count.
        if change.new.is_empty() {
            problems.push(P::NewMissing);
        } else if let Some(kind) = crate::admin::password_problem(&change.new) {
            problems.push(P::NewRefused(kind));
        }
        if change.again.is_empty() {
            problems.push(P::AgainMissing);
        } else if !change.new.is_empty() && change.again != change.new {
            problems.push(P::AgainDifferent);
        }
        if change.current.is_empty() {
            problems.insert(0, P::CurrentMissing);
        } else {
            match self.confirm_password(user, &change.current, client).await {
                Ok(()) => {}
                Err(SignInRefusal::TooManyAttempts { retry_after }) => {
                    return Err(PasswordChangeRefusal::TooManyAttempts { retry_after });
                }
                Err(SignInRefusal::Failed(e)) => return Err(e.into()),
                Err(_) => {
                    tracing::info!(user = user.id.get(), address = %client, "password change: wrong current password");
                    problems.insert(0, P::CurrentWrong);
                }
            }
        }
        if !problems.is_empty() {
            return Err(PasswordChangeRefusal::Problems(problems));
        }
        let hash = crate::admin::hash_password(change.new.clone()).await?;
        self.store
            .change_own_password(user.id, &hash, session_id, change.revoke_tokens, self.now())
            .await
            .map_err(EngineError::from)?;
        tracing::info!(user = user.id.get(), tokens_revoked = change.revoke_tokens, "password changed by its user");
        Ok(())
    }

    /// A new second factor for `user` to set up: nothing is stored until
    /// [`Engine::confirm_enrolment`].
    pub fn begin_enrolment(&self, user: &User, secret: Option<&str>) -> EngineResult<Enrolment> {
        let secret = secret.map(str::to_string).unwrap_or_else(new_totp_secret);
        let url = otpauth_url(&secret, &user.email)
            .ok_or_else(|| EngineError::Internal("the TOTP secret does not make an otpauth address".into()))?;
        let qr = qr_svg(&url).ok_or_else(|| EngineError::Internal("the otpauth address makes no QR code".into()))?;
        Ok(Enrolment { secret, otpauth_url: url, qr_svg: qr })
    }

    /// Confirm a second factor with one code from it: store it (replacing any other) with new
    /// recovery codes, which are returned, once, to be shown. Failures count like wrong
    /// passwords.
    pub async fn confirm_enrolment(
        &self,
        user: &User,
        secret: &str,
        code: &str,
        client: &str,
    ) -> Result<Vec<String>, SignInRefusal> {
        let keys = AttemptKeys::new(&user.email, client);
        let limits = &self.sign_in_limits;
        limits.admit(&keys)?;
        let Some(step) = totp_step(secret, code, unix_now()) else {
            limits.failed(&keys);
            return Err(SignInRefusal::WrongCode);
        };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let digests: Vec<String> = codes.iter().map(|c| recovery_code_digest(user, c)).collect();
        self.store
            .set_second_factor(user.id, secret, step as i64, &digests, Utc::now())
            .await
            .map_err(EngineError::from)?;
        limits.succeeded(&keys);
        tracing::info!(user = user.id.get(), "second factor set up");
        Ok(codes)
    }

    /// How many unused recovery codes the user has left.
    pub async fn unused_recovery_codes(&self, user: &User) -> EngineResult<i64> {
        Ok(self.store.unused_recovery_codes(user.id).await?)
    }

    /// An administrator removes a user's second factor and recovery codes (a lost phone), and
    /// ends their sessions: at the next sign-in they set up a new one if their role needs it.
    pub async fn admin_reset_second_factor(
        &self,
        actor: &crate::actor::Actor,
        user_id: crate::model::UserId,
    ) -> EngineResult<User> {
        self.require_admin(actor)?;
        let user = self.store.user(user_id).await?;
        self.reset_second_factor(&user).await?;
        tracing::info!(
            target: "corridor::admin",
            admin_id = actor.user_id.map(crate::model::UserId::get),
            user_id = user.id.get(),
            "second factor reset"
        );
        Ok(user)
    }

    /// Remove a user's second factor and end their sessions (also `corridor user
    /// reset-second-factor`, for an administrator locked out of their own account).
    pub async fn reset_second_factor(&self, user: &User) -> EngineResult<()> {
        self.store.delete_second_factor(user.id).await?;
        self.store.delete_user_sessions(user.id).await?;
        Ok(())
    }

    /// Enrol `user` with a given secret (the demo's administrator, whose secret is printed at
    /// start). Returns the recovery codes.
    pub async fn enrol_with_secret(&self, user: &User, secret: &str) -> EngineResult<Vec<String>> {
        if totp(secret, &user.email).is_none() {
            return Err(EngineError::BadRequest("not a base32 TOTP secret of at least 128 bits".into()));
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let digests: Vec<String> = codes.iter().map(|c| recovery_code_digest(user, c)).collect();
        // Step 0: every real code is later.
        self.store.set_second_factor(user.id, secret, 0, &digests, Utc::now()).await?;
        Ok(codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessable_passwords_are_refused_and_good_ones_kept() {
        for weak in [
            "aaaaaaaaaaaa",
            "password1234",
            "Password1234",
            "qwerty123456",
            "abcabcabcabc",
            "123456789012",
            "abcdefghijkl",
            "zyxwvutsrqpo",
            "Summer2026!!",
            "ababababababab",
        ] {
            assert!(is_guessable_password(weak), "{weak} should be refused");
        }
        for good in ["correct horse battery staple", "corridor-demo-2026", "k7m2p-x9qrt-4hj", "Lahore tea at 4pm"] {
            assert!(!is_guessable_password(good), "{good} should be allowed");
        }
    }

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_cap() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay_after(FREE_FAILURES + 1), Duration::from_secs(2));
        assert_eq!(delay_after(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(delay_after(1000), MAX_DELAY);
    }

    #[test]
    fn a_code_is_found_in_its_step() {
        let secret = new_totp_secret();
        let t = 1_800_000_000;
        let code = totp(&secret, "").unwrap().generate(t).to_string();
        assert_eq!(totp_step(&secret, &code, t), Some(t / TOTP_STEP_SECONDS));
        assert_eq!(totp_step(&secret, "12345", t), None);
        assert_eq!(totp_step(&secret, &code, t + 10 * TOTP_STEP_SECONDS), None);
        assert!(otpauth_url(&secret, "a@b.example").unwrap().starts_with("otpauth://totp/Corridor:"));
        assert!(qr_svg("otpauth://totp/x").unwrap().contains("<svg"));
    }
}
