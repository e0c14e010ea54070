//! API tokens as stored: the secret itself never is, only its SHA-256 digest.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{TokenId, UserId};

/// One API token with its owner, as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    /// The owner's e-mail address and name.
    pub user_email: String,
    pub user_name: String,
    /// What the token is for, as its maker named it ("embassy import script").
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Written at most once a minute (see `TokenStore::touch_token`).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a token opens the API at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

impl ApiToken {
    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at <= now {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: UserId,
    /// SHA-256 hex digest of the secret.
    pub token_hash: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
