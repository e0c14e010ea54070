-- Sign-in: the second factor (TOTP, RFC 6238) with its recovery codes, and what a user sees of
-- their own sessions.

-- One confirmed TOTP secret per user (base32, as the authenticator app holds it). `last_step`
-- is the last time step whose code was accepted: a code is taken once.
CREATE TABLE second_factors (
    user_id     bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret      text NOT NULL,
    last_step   bigint,
    enabled_at  timestamptz NOT NULL
);

-- One-time recovery codes, as SHA-256 digests; a used one keeps its row with `used_at`.
CREATE TABLE recovery_codes (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- `stage`: signed_in, or half-way (password given, the second factor or its enrolment owed).
ALTER TABLE sessions ADD COLUMN stage text NOT NULL DEFAULT 'signed_in'
    CHECK (stage IN ('signed_in', 'second_factor', 'enrol'));
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN client_address text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent text NOT NULL DEFAULT '';
