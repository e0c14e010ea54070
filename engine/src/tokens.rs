//! API tokens: each has a name and an expiry, is refused once expired or revoked (and when its
//! owner is disabled), and records its last use at most once a minute. Only the SHA-256
//! digest of a token is stored; the secret is shown once, when it is made.

use chrono::{DateTime, Duration, Utc};

use crate::actor::Actor;
use crate::auth;
use crate::error::{EngineError, EngineResult};
use crate::model::{ApiToken, NewToken, TokenId, TokenState, User};
use crate::service::Engine;
use crate::store::{Store, StoreResult};

/// Lifetime of a new token unless the configuration (`[api] token_days`) or its maker says.
pub const DEFAULT_DAYS: i64 = 90;
/// Longest lifetime a token may be given (ten years).
pub const MAX_DAYS: i64 = 3650;
/// `last_used_at` is written at most this often per token.
pub const LAST_USED_EVERY: Duration = Duration::seconds(60);

/// A token as made: the record, and the secret shown once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Why a presented token does not open the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token has this secret.
    Unknown,
    Expired,
    Revoked,
    /// The owner's account is disabled.
    Disabled,
}

/// Make a token for `user` valid for `days` days from `now` (1 to [`MAX_DAYS`]). Used by the
/// CLI (which holds the store) and the engine alike.
pub async fn issue(
    store: &dyn Store,
    user: &User,
    name: &str,
    days: i64,
    now: DateTime<Utc>,
) -> EngineResult<IssuedToken> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(EngineError::BadRequest(format!("a token lives from 1 to {MAX_DAYS} days, not {days}")));
    }
    let name = name.trim();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(EngineError::BadRequest(
            "a token name is at most 100 characters, without control characters".into(),
        ));
    }
    let secret = auth::new_token();
    let token = store
        .create_token(NewToken {
            user_id: user.id,
            token_hash: auth::token_digest(&secret),
            name: name.to_string(),
            created_at: now,
            expires_at: now + Duration::days(days),
        })
        .await?;
    Ok(IssuedToken { token, secret })
}

/// Record a use of `token` at `now`, unless one was recorded in the last minute.
async fn record_use(store: &dyn Store, token: &ApiToken, now: DateTime<Utc>) -> StoreResult<()> {
    let not_since = now - LAST_USED_EVERY;
    if token.last_used_at.is_some_and(|t| t > not_since) {
        return Ok(());
    }
    store.touch_token(token.id, now, not_since).await.map(|_| ())
}

impl Engine {
    /// The user a presented API token opens the API for, or why it does not.
    pub async fn authenticate_token(&self, secret: &str) -> EngineResult<Result<User, TokenRefusal>> {
        let Some((token, user)) = self.store.token_by_hash(&auth::token_digest(secret)).await? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        let now = self.now();
        match token.state(now) {
            TokenState::Revoked => return Ok(Err(TokenRefusal::Revoked)),
            TokenState::Expired => return Ok(Err(TokenRefusal::Expired)),
            TokenState::Active => {}
        }
        if user.disabled {
            return Ok(Err(TokenRefusal::Disabled));
        }
        record_use(self.store.as_ref(), &token, now).await?;
        Ok(Ok(user))
    }

    /// Every API token, newest first (administrators only).
    pub async fn admin_tokens(&self, actor: &Actor) -> EngineResult<Vec<ApiToken>> {
        self.require_admin(actor)?;
        Ok(self.store.tokens(None).await?)
    }

    /// Revoke a token (administrators only); false when it was already revoked.
    pub async fn admin_revoke_token(&self, actor: &Actor, id: TokenId) -> EngineResult<bool> {
        self.require_admin(actor)?;
        let token = self.store.token(id).await?;
        let revoked = self.store.revoke_token(id, self.now()).await?;
        if revoked {
            tracing::info!(
                target: "corridor::admin",
                admin = %actor.name,
                action = "revoke_token",
                token_id = id.get(),
                user = %token.user_email,
                "administrative change"
            );
        }
        Ok(revoked)
    }

    /// Make a token for a user at the engine's time (tests and tools with an engine).
    pub async fn issue_token(&self, user: &User, name: &str, days: i64) -> EngineResult<IssuedToken> {
        issue(self.store.as_ref(), user, name, days, self.now()).await
    }
}
