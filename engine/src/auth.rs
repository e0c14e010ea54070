//! Passwords (argon2id), API tokens (random, stored as a SHA-256 digest), and sign-in: the
//! password check and the limits on attempts.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::EngineError;
use crate::ratelimit::RateLimiter;
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

/// Why a sign-in was refused. The pages word it; neither says which of the e-mail address and
/// the password was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefusal {
    /// Too many attempts on this account or from this address; try again after `retry_after`.
    #[error("too many sign-in attempts")]
    TooManyAttempts { retry_after: Duration },
    /// No such account, a wrong password, a disabled account or one without a password.
    #[error("wrong e-mail address or password")]
    WrongCredentials,
    #[error(transparent)]
    Failed(#[from] EngineError),
}

/// How long the sign-in counters run before they start again.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Sign-in attempts per account (e-mail address, in any case) and per client address, each in
/// a window of [`SIGN_IN_WINDOW`]: guessing one account is stopped after 10 tries, guessing
/// many accounts from one address after 50. Only failures count against an address, so an
/// office behind one address can sign in all day; one locked account locks no other.
pub struct SignInLimits {
    account: RateLimiter,
    address: RateLimiter,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits { account: RateLimiter::new(10, SIGN_IN_WINDOW), address: RateLimiter::new(50, SIGN_IN_WINDOW) }
    }
}

/// A hash to verify against when the account does not exist, so that a wrong e-mail address
/// takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a real password, only for timing").unwrap_or_default());

impl Engine {
    /// Sign in with an e-mail address and a password from `client` (the address the request
    /// came from): the user, or why not.
    pub async fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<User, SignInRefusal> {
        let account = email.to_lowercase();
        let account_key = format!("account:{account}");
        let address_key = format!("address:{client}");
        let limits = &self.sign_in_limits;
        let address_ok = limits.address.allow(&address_key);
        let account_ok = limits.account.allow(&account_key);
        if !address_ok || !account_ok {
            tracing::warn!(%account, address = %client, "sign-in attempts rate-limited");
            return Err(SignInRefusal::TooManyAttempts { retry_after: SIGN_IN_WINDOW });
        }
        let user = self.store.user_by_email(email).await.map_err(EngineError::from)?;
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
                limits.account.reset(&account_key);
                limits.address.forgive(&address_key);
                Ok(u)
            }
            _ => {
                tracing::info!(%account, "sign-in failed");
                Err(SignInRefusal::WrongCredentials)
            }
        }
    }
}
