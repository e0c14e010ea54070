//! Web sessions, for the pages: the visitor's cookie holds a random token, and the row is
//! keyed by its SHA-256, so a copy of the table opens no session. Each session has its own
//! form token (CSRF). A session ends after [`IDLE`] without a request and in any case
//! [`ABSOLUTE`] after sign-in; a disabled user's sessions end at their next request.
//!
//! Sessions run on the wall clock, not on the engine's clock: a test (or a demo) that moves
//! the case clock by days must not sign everyone out.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::auth;
use crate::error::EngineResult;
use crate::model::{Session, User, UserId};
use crate::service::Engine;

/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::hours(2);
/// ...and in any case this long after sign-in.
pub const ABSOLUTE: Duration = Duration::hours(12);
/// The expiry is pushed forward at most this often (one write per few minutes, not per page).
const TOUCH_EVERY: Duration = Duration::minutes(5);

/// A session just started: the token for the cookie (given once, never stored) and the row.
pub struct StartedSession {
    pub token: String,
    pub session: Session,
}

/// The sessions service; see [`Engine::sessions`].
pub struct Sessions<'a> {
    engine: &'a Engine,
}

impl Engine {
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { engine: self }
    }
}

impl Sessions<'_> {
    /// Start a signed-in session for `user`, ending `replacing` (the visitor's session before
    /// sign-in) first: a new session, with a new id, at every sign-in.
    pub async fn create(&self, user: &User, replacing: Option<&Session>) -> EngineResult<StartedSession> {
        if let Some(old) = replacing {
            self.end(old).await?;
        }
        let now = Utc::now();
        // Sessions that ran out are swept now and then (at sign-in): the table stays small.
        if let Err(e) = self.purge_expired(now).await {
            tracing::warn!(error = %e, "could not remove expired sessions");
        }
        let token = auth::random_id();
        let session = Session {
            id: auth::token_digest(&token),
            user_id: Some(user.id),
            csrf_token: auth::random_id(),
            created_at: now,
            expires_at: now + IDLE,
            data: json!({}),
        };
        self.engine.store.create_session(&session).await?;
        Ok(StartedSession { token, session })
    }

    /// The live session a cookie's token names, with its user. A session past its absolute
    /// end, or of a user who is disabled or gone, is ended here; a live one is touched.
    pub async fn find(&self, token: &str) -> EngineResult<Option<(Session, User)>> {
        let now = Utc::now();
        let store = &self.engine.store;
        let Some(session) = store.session(&auth::token_digest(token), now).await? else { return Ok(None) };
        let Some(user_id) = session.user_id else { return Ok(None) };
        let user = match store.user(user_id).await {
            Ok(u) if !u.disabled => u,
            _ => {
                self.end(&session).await?;
                return Ok(None);
            }
        };
        if now >= session.created_at + ABSOLUTE {
            self.end(&session).await?;
            return Ok(None);
        }
        self.touch(&session, now).await?;
        Ok(Some((session, user)))
    }

    /// Push the idle expiry forward (never past the absolute end), when it is due.
    pub async fn touch(&self, session: &Session, now: DateTime<Utc>) -> EngineResult<()> {
        if session.expires_at - now < IDLE - TOUCH_EVERY {
            let expires = (now + IDLE).min(session.created_at + ABSOLUTE);
            self.engine.store.touch_session(&session.id, expires, &session.data).await?;
        }
        Ok(())
    }

    /// End one session (sign-out); no error when it is already gone.
    pub async fn end(&self, session: &Session) -> EngineResult<()> {
        Ok(self.engine.store.delete_session(&session.id).await?)
    }

    /// End every session of a user. Returns how many there were.
    pub async fn end_all(&self, user_id: UserId) -> EngineResult<u64> {
        Ok(self.engine.store.delete_user_sessions(user_id).await?)
    }

    /// Remove the sessions that expired before `now`. Returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> EngineResult<u64> {
        Ok(self.engine.store.delete_expired_sessions(now).await?)
    }
}
