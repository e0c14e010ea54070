-- Review queue: "cases I hold" in deadline order without scanning a whole stage.
-- (The queue itself reads (state, deadline_at, id) through applications_queue from 0001.)
CREATE INDEX applications_holder_queue ON applications (assigned_to, state, deadline_at, id)
    WHERE assigned_to IS NOT NULL;
