-- Sign-in: the second factor (TOTP, RFC 6238) with its recovery codes, and what a user sees of
-- their own sessions.

-- One confirmed TOTP secret per user (base32, as the authenticator app holds it). `last_step`
-- is the last time step whose code was accepted: a code is taken once.
CREATE TABLE second_factors (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    last_step   INTEGER,
    enabled_at  TEXT NOT NULL
) STRICT;

-- One-time recovery codes, as SHA-256 digests; a used one keeps its row with `used_at`.
CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- `stage`: signed_in, or half-way (password given, the second factor or its enrolment owed).
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'signed_in'
    CHECK (stage IN ('signed_in', 'second_factor', 'enrol'));
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN client_address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
