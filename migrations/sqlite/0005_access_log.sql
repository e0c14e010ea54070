-- Need to know and retention (issue 9). Same meaning as migrations/postgres/0005_access_log.sql;
-- conventions as in 0001_init.sql.

-- Every full view of a sensitive field and every document download. Append-only: the
-- triggers refuse any change or deletion, whoever runs the statement.
CREATE TABLE access_log (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER,
    actor_name       TEXT NOT NULL,
    role             TEXT NOT NULL,
    organisation_id  INTEGER,
    application_id   INTEGER NOT NULL REFERENCES applications (id),
    -- copied, so that a line reads on its own
    reference        TEXT NOT NULL,
    -- field, document
    kind             TEXT NOT NULL CHECK (kind IN ('field', 'document')),
    -- the field's name or the document's kind
    item             TEXT NOT NULL,
    document_id      INTEGER,
    -- the client's network address
    client           TEXT,
    at               TEXT NOT NULL
) STRICT;
CREATE INDEX access_log_reference ON access_log (reference, id);
CREATE INDEX access_log_user ON access_log (user_id, id);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

-- "Has this role acted on the application?" (need to know, in lists): one index probe.
CREATE INDEX audit_events_role ON audit_events (application_id, role);

-- Retention: the content of a document is deleted some time after its application ended;
-- the row (name, size, hash) stays.
ALTER TABLE documents ADD COLUMN purged_at TEXT;
