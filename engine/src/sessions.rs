//! Web sessions, for the pages: the visitor's cookie holds a random token, and the row is
//! keyed by its SHA-256, so a copy of the table opens no session. Each session has its own
//! form token (CSRF). A session ends after [`IDLE`] without a request and in any case
//! [`ABSOLUTE`] after sign-in; a disabled user's sessions end at their next request. A user
//! keeps at most [`crate::auth::SignInPolicy::max_sessions`] sessions: signing in once more
//! ends the oldest. Users see their own sessions and may end any of them.
//!
//! Between a right password and the second factor, the session is half signed in
//! ([`SessionStage`] `SecondFactor` or `Enrol`): it opens no page but the one step owed, and
//! ends after [`HALF_SIGNED_IN`]. Signing in fully makes a new session (a new id).
//!
//! Before sign-in there is no row: the visitor's pre-sign-in cookie holds a random id, and
//! the sign-in form's token is derived from it ([`pre_sign_in_form_token`]), so a token taken
//! from another browser does not match, and the page never shows the cookie's value.
//!
//! Sessions run on the wall clock, not on the engine's clock: a test (or a demo) that moves
//! the case clock by days must not sign everyone out.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::auth;
use crate::error::EngineResult;
use crate::model::{Session, SessionStage, User, UserId};
use crate::service::Engine;

/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::hours(2);
/// ...and in any case this long after sign-in.
pub const ABSOLUTE: Duration = Duration::hours(12);
/// The expiry is pushed forward at most this often (one write per few minutes, not per page).
const TOUCH_EVERY: Duration = Duration::minutes(5);
/// A half-signed-in session ends this long after the password was given.
pub const HALF_SIGNED_IN: Duration = Duration::minutes(10);
/// The longest user agent kept for the sessions page.
const MAX_USER_AGENT_CHARS: usize = 200;

/// Where a session is started from, as its user sees it on their sessions page.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: String,
    pub user_agent: String,
}

/// The token the sign-in form (and every other form before sign-in) carries, derived from the
/// visitor's pre-sign-in id.
pub fn pre_sign_in_form_token(pre_session_id: &str) -> String {
    auth::token_digest(&format!("corridor pre-sign-in form:{pre_session_id}"))
}

/// Who a session cookie names.
pub enum Visitor {
    SignedIn {
        session: Session,
        user: User,
    },
    /// A right password, and the second factor (or its enrolment) still owed.
    HalfSignedIn {
        session: Session,
        user: User,
    },
}

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
    async fn start(
        &self,
        user: &User,
        stage: SessionStage,
        replacing: Option<&Session>,
        client: &ClientInfo,
    ) -> EngineResult<StartedSession> {
        if let Some(old) = replacing {
            self.end(old).await?;
        }
        let now = Utc::now();
        // Sessions that ran out are swept now and then (at sign-in): the table stays small.
        if let Err(e) = self.purge_expired(now).await {
            tracing::warn!(error = %e, "could not remove expired sessions");
        }
        let token = auth::random_id();
        let lasts = if stage == SessionStage::SignedIn { IDLE } else { HALF_SIGNED_IN };
        let user_agent: String =
            client.user_agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect();
        let session = Session {
            id: auth::token_digest(&token),
            user_id: Some(user.id),
            csrf_token: auth::random_id(),
            created_at: now,
            expires_at: now + lasts,
            data: json!({}),
            stage,
            last_seen_at: Some(now),
            client_address: client.address.chars().take(64).collect(),
            user_agent,
        };
        self.engine.store.create_session(&session).await?;
        Ok(StartedSession { token, session })
    }

    /// Start a signed-in session for `user`, ending `replacing` (the visitor's session before)
    /// first: a new session, with a new id, at every sign-in. Sessions past the user's cap
    /// end, oldest first.
    pub async fn create(
        &self,
        user: &User,
        replacing: Option<&Session>,
        client: &ClientInfo,
    ) -> EngineResult<StartedSession> {
        let started = self.start(user, SessionStage::SignedIn, replacing, client).await?;
        let cap = self.engine.sign_in_policy().max_sessions.max(1);
        let live = self.engine.store.user_sessions(user.id, Utc::now()).await?;
        for old in live.iter().filter(|s| s.id != started.session.id).skip(cap - 1) {
            self.end(old).await?;
            tracing::info!(user = user.id.get(), "oldest session ended: more than {cap} at once");
        }
        Ok(started)
    }

    /// Start a half-signed-in session: the password was right, `stage` is what is owed.
    pub async fn create_half_signed_in(
        &self,
        user: &User,
        stage: SessionStage,
        replacing: Option<&Session>,
        client: &ClientInfo,
    ) -> EngineResult<StartedSession> {
        self.start(user, stage, replacing, client).await
    }

    /// The live session a cookie's token names, with its user. A session past its absolute
    /// end, or of a user who is disabled or gone, is ended here; a live one is touched.
    pub async fn find(&self, token: &str) -> EngineResult<Option<Visitor>> {
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
        if session.stage != SessionStage::SignedIn {
            return Ok(Some(Visitor::HalfSignedIn { session, user }));
        }
        if now >= session.created_at + ABSOLUTE {
            self.end(&session).await?;
            return Ok(None);
        }
        self.touch(&session, now).await?;
        Ok(Some(Visitor::SignedIn { session, user }))
    }

    /// Push the idle expiry forward (never past the absolute end), when it is due.
    pub async fn touch(&self, session: &Session, now: DateTime<Utc>) -> EngineResult<()> {
        if session.expires_at - now < IDLE - TOUCH_EVERY {
            let expires = (now + IDLE).min(session.created_at + ABSOLUTE);
            self.engine.store.touch_session(&session.id, expires, now, &session.data).await?;
        }
        Ok(())
    }

    /// Replace the session's small facts (e.g. the secret being enrolled), keeping its expiry.
    pub async fn set_data(&self, session: &Session, data: serde_json::Value) -> EngineResult<()> {
        Ok(self.engine.store.touch_session(&session.id, session.expires_at, Utc::now(), &data).await?)
    }

    /// End one session (sign-out); no error when it is already gone.
    pub async fn end(&self, session: &Session) -> EngineResult<()> {
        Ok(self.engine.store.delete_session(&session.id).await?)
    }

    /// The user's live signed-in sessions, newest first.
    pub async fn list(&self, user: &User) -> EngineResult<Vec<Session>> {
        Ok(self.engine.store.user_sessions(user.id, Utc::now()).await?)
    }

    /// End one of the user's own sessions by its id; false when it is not theirs (or gone).
    pub async fn end_own(&self, user: &User, session_id: &str) -> EngineResult<bool> {
        Ok(self.engine.store.delete_user_session(user.id, session_id).await?)
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
