-- Enrollments hang off their arrival: the occurrence (an event, a contact change, a direct
-- start) that enrolled a contact. The arrival holds what the enrollments of one
-- occurrence share (contact, trigger, context) once, and enrollment `k` of arrival `a` has
-- id `a * 1024 + k`, so an arrival's enrollments are a rowid range and need no index.
--
-- Enrollments whose first step is a wait stay packed in their arrival (`parked`) until
-- they wake: an event that enrolls a contact in five automations writes one row, not five
-- rows with four indexes each. They keep the id they will have as rows.

-- Ids are never reused: a new arrival's id is above both the largest one and the tally
-- mark below (which never moves back), so neither is an enrollment id (a stale job for a
-- deleted enrollment finds nothing). The workspace needs no foreign key of its own: the
-- contact's deletes the row when the workspace goes.
CREATE TABLE arrivals (
    id             INTEGER PRIMARY KEY,
    workspace_id   INTEGER NOT NULL,
    contact_id     INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    trigger_id     INTEGER REFERENCES triggers(id) ON DELETE SET NULL,
    -- What arrived, in the terms of an automation's trigger: `event:<name>`,
    -- `contact_added`, `contact_updated` or `direct`.
    occurrence     TEXT NOT NULL,
    context        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Members still parked at their first wait: JSON `[[k, automation_id, wake_at], ...]`,
    -- NULL once none is.
    parked         TEXT,
    -- The earliest wake time among them.
    wake_at        INTEGER
);
CREATE INDEX arrivals_by_contact ON arrivals(contact_id);
CREATE INDEX arrivals_by_trigger ON arrivals(trigger_id) WHERE trigger_id IS NOT NULL;
CREATE INDEX arrivals_due ON arrivals(wake_at) WHERE parked IS NOT NULL;
CREATE INDEX arrivals_parked ON arrivals(workspace_id, occurrence, id) WHERE parked IS NOT NULL;

-- Every existing enrollment becomes the only member of an arrival with its old id.
INSERT INTO arrivals (id, workspace_id, contact_id, trigger_id, occurrence, context, created_at)
    SELECT e.id, e.workspace_id, e.contact_id, e.trigger_id,
           CASE a.trigger_type WHEN 'event' THEN 'event:' || COALESCE(a.trigger_event, '') ELSE a.trigger_type END,
           e.context, e.created_at
    FROM enrollments e JOIN automations a ON a.id = e.automation_id;

CREATE TABLE enrollments_new (
    id             INTEGER PRIMARY KEY,
    -- Copied from the arrival for the runner; the arrival's deletion deletes the row.
    workspace_id   INTEGER NOT NULL,
    automation_id  INTEGER NOT NULL REFERENCES automations(id) ON DELETE CASCADE,
    contact_id     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state = 'active' OR state = 'waiting' OR state = 'completed' OR state = 'exited' OR state = 'failed'),
    position       TEXT NOT NULL,
    wake_at        INTEGER,
    error          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    held_wake_at   INTEGER
);
INSERT INTO enrollments_new
    (id, workspace_id, automation_id, contact_id, state, position, wake_at, error, created_at, updated_at, finished_at, held_wake_at)
    SELECT e.id * 1024, e.workspace_id, e.automation_id, e.contact_id, e.state, e.position, e.wake_at, e.error, e.created_at, e.updated_at, e.finished_at, e.held_wake_at
    FROM enrollments e JOIN arrivals ar ON ar.id = e.id;
DROP TABLE enrollments;
ALTER TABLE enrollments_new RENAME TO enrollments;
CREATE INDEX enrollments_by_automation ON enrollments(automation_id, state);
CREATE INDEX enrollments_due ON enrollments(wake_at) WHERE state = 'waiting' AND wake_at IS NOT NULL;

UPDATE enrollment_steps SET enrollment_id = enrollment_id * 1024;
UPDATE messages SET enrollment_id = enrollment_id * 1024 WHERE enrollment_id IS NOT NULL;
UPDATE jobs SET payload = json_set(payload, '$.enrollment_id', json_extract(payload, '$.enrollment_id') * 1024)
    WHERE kind = 'run_enrollment' OR kind = 'call_webhook';
-- Steps of enrollments whose automation is gone (the old rows had no arrival).
DELETE FROM enrollment_steps WHERE enrollment_id NOT IN (SELECT id FROM enrollments);
UPDATE messages SET enrollment_id = NULL WHERE enrollment_id IS NOT NULL AND enrollment_id NOT IN (SELECT id FROM enrollments);

-- Parked members per automation, for counts. Arrivals are added up when the transaction
-- that wrote them commits (the writer does it once per batch, not once per event): those
-- up to `through` are counted, later ones are counted by whoever reads.
CREATE TABLE parked_tally (
    automation_id  INTEGER PRIMARY KEY REFERENCES automations(id) ON DELETE CASCADE,
    parked         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO parked_tally (automation_id) SELECT id FROM automations;
CREATE TABLE parked_tally_mark (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    through        INTEGER NOT NULL
);
INSERT INTO parked_tally_mark (id, through) SELECT 1, COALESCE(MAX(id), 0) FROM arrivals;

-- An arrival's deletion (its contact or workspace deleted) takes its enrollments along.
CREATE TRIGGER arrivals_take_enrollments AFTER DELETE ON arrivals BEGIN
    DELETE FROM enrollments WHERE id BETWEEN OLD.id * 1024 AND OLD.id * 1024 + 1023;
    UPDATE parked_tally SET parked = parked - 1
        WHERE OLD.parked IS NOT NULL
          AND OLD.id <= (SELECT through FROM parked_tally_mark)
          AND automation_id IN (SELECT j.value ->> 1 FROM json_each(OLD.parked) j);
END;
