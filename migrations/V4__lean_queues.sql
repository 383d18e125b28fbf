-- Queue tables written on every event: status checks as plain comparisons. SQLite builds
-- a temporary table for each `IN (...)` list every time a row is written, which cost more
-- than the row itself on the hottest paths. Rebuilt the documented way (new table, copy,
-- drop, rename) while foreign keys are off for migrations.

CREATE TABLE triggers_new (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL DEFAULT 'event',
    event_name      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'scheduled' OR status = 'queued' OR status = 'processing' OR status = 'completed' OR status = 'failed'),
    payload         TEXT,
    scheduled_for   INTEGER,
    due_at          INTEGER,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    completed_at    INTEGER,
    total_contacts  INTEGER NOT NULL DEFAULT 0,
    sent            INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    filtered        INTEGER NOT NULL DEFAULT 0,
    error           TEXT
);
INSERT INTO triggers_new SELECT * FROM triggers;
DROP TABLE triggers;
ALTER TABLE triggers_new RENAME TO triggers;
-- Queries name the same condition word for word, so they use this index.
CREATE INDEX triggers_due ON triggers(due_at) WHERE (status = 'queued' OR status = 'scheduled');

CREATE TABLE enrollments_new (
    id             INTEGER PRIMARY KEY,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    automation_id  INTEGER NOT NULL REFERENCES automations(id) ON DELETE CASCADE,
    contact_id     INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    trigger_id     INTEGER REFERENCES triggers(id) ON DELETE SET NULL,
    state          TEXT NOT NULL CHECK (state = 'active' OR state = 'waiting' OR state = 'completed' OR state = 'exited' OR state = 'failed'),
    position       TEXT NOT NULL,
    context        TEXT NOT NULL,
    wake_at        INTEGER,
    error          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    -- While an automation is paused its waiting enrollments keep their wake time here,
    -- off the timer queue, and get it back on resume.
    held_wake_at   INTEGER
);
INSERT INTO enrollments_new
    (id, workspace_id, automation_id, contact_id, trigger_id, state, position, context, wake_at, error, created_at, updated_at, finished_at)
    SELECT id, workspace_id, automation_id, contact_id, trigger_id, state, position, context, wake_at, error, created_at, updated_at, finished_at
    FROM enrollments;
DROP TABLE enrollments;
ALTER TABLE enrollments_new RENAME TO enrollments;
CREATE INDEX enrollments_by_contact ON enrollments(contact_id, automation_id, state);
CREATE INDEX enrollments_by_automation ON enrollments(automation_id, state);
CREATE INDEX enrollments_by_trigger ON enrollments(trigger_id) WHERE trigger_id IS NOT NULL;
-- Waiting enrollments are their own timer queue: the timer loop takes the earliest due
-- ones straight from this index, so a wait costs no job row.
CREATE INDEX enrollments_due ON enrollments(wake_at) WHERE state = 'waiting' AND wake_at IS NOT NULL;
