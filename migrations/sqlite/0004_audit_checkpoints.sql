-- Each application row carries the head of its audit chain (the seq and hash of its last
-- event), written in the same transaction as every event, so that a row changed or events
-- removed without the other is found by `corridor audit verify`. Rows of an older database
-- take the head of the events they have.
ALTER TABLE applications ADD COLUMN audit_seq INTEGER NOT NULL DEFAULT 0 CHECK (audit_seq >= 0);
ALTER TABLE applications ADD COLUMN audit_hash TEXT NOT NULL
    DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';
UPDATE applications SET
    audit_seq = COALESCE((SELECT MAX(e.seq) FROM audit_events e WHERE e.application_id = applications.id), 0),
    audit_hash = COALESCE(
        (SELECT e.hash FROM audit_events e WHERE e.application_id = applications.id ORDER BY e.seq DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed checkpoints (RFC 9162 signed tree heads): the Merkle root over every application's
-- (id, reference, head seq, head hash), signed with the Ed25519 key kept outside the
-- database. Numbered 1, 2, 3... without gaps; each is also appended to the witness file.
CREATE TABLE audit_checkpoints (
    seq              INTEGER PRIMARY KEY CHECK (seq >= 1),
    tree_size        INTEGER NOT NULL CHECK (tree_size >= 0),
    root_hash        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    signature        TEXT NOT NULL
) STRICT;

-- The leaves of the newest checkpoint (older checkpoints' leaves are dropped when a new one
-- is made: verification and proofs use the newest). The signed root covers them.
CREATE TABLE audit_checkpoint_heads (
    checkpoint_seq   INTEGER NOT NULL,
    application_id   INTEGER NOT NULL,
    reference        TEXT NOT NULL,
    head_seq         INTEGER NOT NULL,
    head_hash        TEXT NOT NULL,
    PRIMARY KEY (checkpoint_seq, application_id)
) STRICT;
