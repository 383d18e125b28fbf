-- Templates, automations and their enrollments, outgoing messages, suppressions and the
-- per-installation secret used to sign unsubscribe links. Timestamps are Unix ms.

CREATE TABLE instance_secrets (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE templates (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    html          TEXT NOT NULL,
    text          TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX templates_by_workspace ON templates(workspace_id, id);

CREATE TABLE automations (
    id             INTEGER PRIMARY KEY,
    uid            TEXT NOT NULL UNIQUE,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'active', 'paused')),
    trigger_type   TEXT NOT NULL,
    trigger_event  TEXT,
    definition     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX automations_by_trigger ON automations(workspace_id, status, trigger_type, trigger_event);

-- Exit events of active automations, for the per-event exit lookup.
CREATE TABLE automation_exits (
    automation_id  INTEGER NOT NULL REFERENCES automations(id) ON DELETE CASCADE,
    workspace_id   INTEGER NOT NULL,
    event_name     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, event_name, automation_id)
) WITHOUT ROWID;

-- Enrollments are numerous (one per contact per automation run): no separate public id,
-- the API shows `enr_<id>`.
CREATE TABLE enrollments (
    id             INTEGER PRIMARY KEY,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    automation_id  INTEGER NOT NULL REFERENCES automations(id) ON DELETE CASCADE,
    contact_id     INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    trigger_id     INTEGER REFERENCES triggers(id) ON DELETE SET NULL,
    state          TEXT NOT NULL CHECK (state IN ('active', 'waiting', 'completed', 'exited', 'failed')),
    position       TEXT NOT NULL,
    context        TEXT NOT NULL,
    wake_at        INTEGER,
    error          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX enrollments_by_contact ON enrollments(contact_id, automation_id, state);
CREATE INDEX enrollments_by_automation ON enrollments(automation_id, state);
CREATE INDEX enrollments_by_trigger ON enrollments(trigger_id) WHERE trigger_id IS NOT NULL;

-- What each enrollment did at each step, in order.
CREATE TABLE enrollment_steps (
    id             INTEGER PRIMARY KEY,
    enrollment_id  INTEGER NOT NULL REFERENCES enrollments(id) ON DELETE CASCADE,
    position       TEXT NOT NULL,
    step_type      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    detail         TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX enrollment_steps_by_enrollment ON enrollment_steps(enrollment_id, id);

CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    uid            TEXT NOT NULL UNIQUE,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id     INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    enrollment_id  INTEGER REFERENCES enrollments(id) ON DELETE SET NULL,
    position       TEXT,
    channel        TEXT NOT NULL DEFAULT 'email',
    kind           TEXT NOT NULL DEFAULT 'marketing' CHECK (kind IN ('marketing', 'transactional', 'test')),
    to_address     TEXT NOT NULL,
    subject        TEXT NOT NULL,
    html           TEXT NOT NULL,
    text           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
    reason         TEXT,
    message_id     TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    sent_at        INTEGER
);
CREATE UNIQUE INDEX messages_once_per_step ON messages(enrollment_id, position) WHERE enrollment_id IS NOT NULL;
CREATE INDEX messages_by_workspace ON messages(workspace_id, id);
CREATE INDEX messages_by_contact ON messages(contact_id, id);

CREATE TABLE suppressions (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, email)
) WITHOUT ROWID;
