-- Decision letters: one per application, made once. `signed` is the letter's signed content
-- (the PDF's attachment) as exact text, from which the PDF is rendered again byte for byte;
-- `sha256` is the PDF's, also written in the `letter_issued` audit event.
CREATE TABLE letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id  INTEGER NOT NULL UNIQUE REFERENCES applications (id),
    number          TEXT NOT NULL UNIQUE,
    code            TEXT NOT NULL UNIQUE,
    sha256          TEXT NOT NULL,
    signed          TEXT NOT NULL,
    issued_at       TEXT NOT NULL,
    revoked_at      TEXT
) STRICT;
