-- Scheduler, outbox and run-time holidays (issue 4). Same meaning as
-- migrations/sqlite/0002_scheduler.sql.

-- Due work is found through these two partial indexes only: pending jobs in run order, and
-- running jobs by the end of their lease (a worker that died). Neither grows with the
-- number of finished jobs, let alone with the number of applications.
CREATE INDEX jobs_pending_due ON jobs (run_at, id) WHERE status = 'pending';
CREATE INDEX jobs_running_lease ON jobs (locked_until) WHERE status = 'running';
-- The pending timers of one application (re-timed when a holiday moves its deadline).
CREATE INDEX jobs_application_pending ON jobs (application_id, kind) WHERE status = 'pending';
-- Dead letters for the administrator's page.
CREATE INDEX jobs_dead ON jobs (updated_at) WHERE status = 'dead';

-- Cron schedules of the workflow files. A run is taken by moving next_fire_at forward with
-- a compare-and-set (UPDATE ... WHERE next_fire_at = <the value read>): whichever instance
-- wins enqueues the run; a restart finds the time it had reached.
CREATE TABLE schedules (
    -- '<workflow id>/<schedule name>'
    key            text PRIMARY KEY,
    cron           text NOT NULL,
    timezone       text NOT NULL,
    next_fire_at   timestamptz NOT NULL,
    last_fired_at  timestamptz,
    updated_at     timestamptz NOT NULL
);

-- Holidays changed at run time. A row with removed = true makes a day that the calendar file
-- lists as a holiday a working day again (an Eid that moved); rows with removed = false add one.
ALTER TABLE holidays ADD COLUMN removed boolean NOT NULL DEFAULT false;
ALTER TABLE holidays ADD COLUMN changed_by text;
ALTER TABLE holidays ADD COLUMN changed_at timestamptz;
