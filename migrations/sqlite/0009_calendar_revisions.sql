-- Calendar revisions (issue 10). Every holiday change made at run time is one row here,
-- numbered across all calendars and written in the same transaction as its change to
-- `holidays`: the newest number is the revision of the run-time holidays. A transition reads
-- it (one read of the primary key) and records on the application the revision its deadline
-- was counted with; the re-timing pass recounts every open application counted with an older
-- one, undoing the newer changes to find the calendar it was counted on.
CREATE TABLE calendar_changes (
    revision    INTEGER PRIMARY KEY CHECK (revision >= 1),
    calendar    TEXT NOT NULL,
    date        TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    -- the holiday added, or the one made a working day
    name        TEXT NOT NULL,
    -- 1: the day became a holiday; 0: it became a working day
    is_holiday  INTEGER NOT NULL CHECK (is_holiday IN (0, 1)),
    changed_by  TEXT,
    changed_at  TEXT NOT NULL
) STRICT;

-- 0: counted before any logged change (every application until now).
ALTER TABLE applications ADD COLUMN calendar_revision INTEGER NOT NULL DEFAULT 0;
-- The re-timing pass: open applications counted with an older revision, in revision order.
CREATE INDEX applications_calendar_revision ON applications (calendar_revision, id) WHERE deadline_at IS NOT NULL;
