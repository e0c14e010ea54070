-- Corridor schema, SQLite. Same meaning as migrations/postgres/0001_init.sql.
--
-- Conventions (the SQLite store relies on them; raw SQL must follow them too):
-- * times are TEXT, RFC 3339 in UTC with exactly six fractional digits and a `Z`
--   ('2026-03-01T09:30:00.000000Z', see audit::canonical_time), so that text order is time
--   order and comparisons such as `run_at <= ?` are correct;
-- * dates (holidays) are TEXT 'YYYY-MM-DD';
-- * JSON is TEXT holding one JSON document;
-- * booleans are INTEGER 0/1.
-- Tables are STRICT, and ids are AUTOINCREMENT so that an id is never reused.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    -- firm, ministry, embassy, authority, operator
    kind        TEXT NOT NULL,
    country     TEXT,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    email            TEXT NOT NULL,
    name             TEXT NOT NULL,
    role             TEXT NOT NULL,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    password_hash    TEXT,
    language         TEXT NOT NULL DEFAULT 'en',
    disabled         INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at       TEXT NOT NULL
) STRICT;
-- E-mail addresses are unique whatever their case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_role ON users (role);
CREATE INDEX users_organisation ON users (organisation_id);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 hex digest of the token; the token itself is never stored.
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE workflow_definitions (
    workflow_id   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    source        TEXT NOT NULL,
    loaded_at     TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
) STRICT;

-- The last number handed out per reference prefix and year.
CREATE TABLE reference_counters (
    prefix  TEXT NOT NULL,
    year    INTEGER NOT NULL,
    last    INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
) STRICT;

CREATE TABLE applications (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    reference         TEXT NOT NULL UNIQUE,
    workflow_id       TEXT NOT NULL,
    workflow_version  INTEGER NOT NULL,
    state             TEXT NOT NULL,
    previous_state    TEXT,
    version           INTEGER NOT NULL CHECK (version >= 1),
    organisation_id   INTEGER NOT NULL REFERENCES organisations (id),
    created_by        INTEGER NOT NULL REFERENCES users (id),
    fields            TEXT NOT NULL CHECK (json_valid(fields)),
    -- lower-cased, for search
    applicant_name    TEXT NOT NULL,
    passport_number   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    state_entered_at  TEXT NOT NULL,
    submitted_at      TEXT,
    deadline_at       TEXT,
    paused_remaining  TEXT CHECK (paused_remaining IS NULL OR json_valid(paused_remaining)),
    escalated_at      TEXT,
    assigned_to       INTEGER REFERENCES users (id),
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_definitions (workflow_id, version)
) STRICT;
-- Reviewer queue: state = ? ORDER BY deadline_at, id (keyset paging).
CREATE INDEX applications_queue ON applications (state, deadline_at, id);
-- A firm's own list.
CREATE INDEX applications_organisation ON applications (organisation_id, deadline_at, id);
-- Due work: deadlines that have passed.
CREATE INDEX applications_due ON applications (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX applications_assigned ON applications (assigned_to) WHERE assigned_to IS NOT NULL;

CREATE TABLE documents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id  INTEGER NOT NULL REFERENCES applications (id),
    kind            TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    sha256          TEXT NOT NULL,
    -- file name under the upload folder, chosen by us
    storage_key     TEXT NOT NULL UNIQUE,
    uploaded_by     INTEGER NOT NULL REFERENCES users (id),
    uploaded_at     TEXT NOT NULL
) STRICT;
CREATE INDEX documents_application ON documents (application_id, id);

-- The hash chain. Actor columns are copies, not foreign keys: the record stands alone.
CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id   INTEGER NOT NULL REFERENCES applications (id),
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    actor_id         INTEGER,
    actor_name       TEXT NOT NULL,
    role             TEXT NOT NULL,
    organisation_id  INTEGER,
    action           TEXT NOT NULL,
    from_state       TEXT,
    to_state         TEXT,
    comment          TEXT,
    reason           TEXT,
    data             TEXT NOT NULL CHECK (json_valid(data)),
    at               TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    UNIQUE (application_id, seq)
) STRICT;

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- email, webhook, deadline, reminder, escalation, schedule
    kind            TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE,
    application_id  INTEGER REFERENCES applications (id),
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'done', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    run_at          TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE INDEX jobs_application ON jobs (application_id) WHERE application_id IS NOT NULL;

-- For the web sessions (no store methods yet).
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Holidays per working-day calendar, editable at run time (no store methods yet).
CREATE TABLE holidays (
    calendar  TEXT NOT NULL,
    date      TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    name      TEXT NOT NULL,
    PRIMARY KEY (calendar, date)
) STRICT;
