-- Contacts, custom fields, events, patterns, event sources, triggers, the durable job
-- queue, idempotency records and CSV imports. Timestamps are Unix milliseconds.

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         TEXT,
    external_id   TEXT,
    phone         TEXT,
    first_name    TEXT,
    last_name     TEXT,
    name          TEXT,
    properties    TEXT NOT NULL DEFAULT '{}',
    tags          TEXT NOT NULL DEFAULT '[]',
    subscribed    INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_by_email ON contacts(workspace_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_by_external_id ON contacts(workspace_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_by_phone ON contacts(workspace_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_by_workspace ON contacts(workspace_id, id);

-- Substring search over email, name and external id (trigram index, kept by triggers).
CREATE VIRTUAL TABLE contacts_search USING fts5(
    email, name, external_id,
    content = 'contacts', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_search (rowid, email, name, external_id)
    VALUES (new.id, new.email, trim(coalesce(new.name, '') || ' ' || coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '')), new.external_id);
END;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_search (contacts_search, rowid, email, name, external_id)
    VALUES ('delete', old.id, old.email, trim(coalesce(old.name, '') || ' ' || coalesce(old.first_name, '') || ' ' || coalesce(old.last_name, '')), old.external_id);
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE OF email, name, first_name, last_name, external_id ON contacts
WHEN old.email IS NOT new.email OR old.name IS NOT new.name OR old.first_name IS NOT new.first_name
  OR old.last_name IS NOT new.last_name OR old.external_id IS NOT new.external_id
BEGIN
    INSERT INTO contacts_search (contacts_search, rowid, email, name, external_id)
    VALUES ('delete', old.id, old.email, trim(coalesce(old.name, '') || ' ' || coalesce(old.first_name, '') || ' ' || coalesce(old.last_name, '')), old.external_id);
    INSERT INTO contacts_search (rowid, email, name, external_id)
    VALUES (new.id, new.email, trim(coalesce(new.name, '') || ' ' || coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '')), new.external_id);
END;

CREATE TABLE contact_fields (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    label         TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date')),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;

CREATE TABLE triggers (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL DEFAULT 'event',
    event_name      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'queued', 'processing', 'completed', 'failed')),
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
-- Queued and scheduled triggers are their own durable queue: each one is ingested in a
-- single transaction that also marks it completed, so it needs no lease.
CREATE INDEX triggers_due ON triggers(due_at) WHERE status IN ('queued', 'scheduled');

CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id    INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    properties    TEXT NOT NULL DEFAULT '{}',
    source        TEXT NOT NULL,
    source_detail TEXT,
    trigger_id    INTEGER REFERENCES triggers(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX events_by_time ON events(workspace_id, created_at);
CREATE INDEX events_by_name ON events(workspace_id, name, created_at);
CREATE INDEX events_by_contact ON events(contact_id, created_at);

-- Every event name a workspace has received, so undeclared names are found without
-- scanning the event log.
CREATE TABLE event_names (
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    first_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

CREATE TABLE event_patterns (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

CREATE TABLE event_sources (
    id                INTEGER PRIMARY KEY,
    uid               TEXT NOT NULL UNIQUE,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    token_hash        BLOB NOT NULL UNIQUE,
    token_prefix      TEXT NOT NULL,
    email_path        TEXT NOT NULL,
    event_name        TEXT,
    event_name_path   TEXT,
    signature_scheme  TEXT NOT NULL DEFAULT 'none' CHECK (signature_scheme IN ('none', 'standard', 'stripe')),
    signing_secret    TEXT,
    enabled           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    CHECK ((event_name IS NULL) <> (event_name_path IS NULL))
);
CREATE INDEX event_sources_by_workspace ON event_sources(workspace_id, id);

CREATE TABLE source_deliveries (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES event_sources(id) ON DELETE CASCADE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    received_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('accepted', 'skipped', 'rejected')),
    reason        TEXT,
    email         TEXT,
    event_name    TEXT,
    event_id      INTEGER REFERENCES events(id) ON DELETE SET NULL,
    payload       TEXT
);
CREATE INDEX source_deliveries_by_source ON source_deliveries(source_id, id);
CREATE INDEX source_deliveries_by_email ON source_deliveries(workspace_id, email) WHERE email IS NOT NULL;

-- The durable job queue. `due_at` is the run time of a pending job and the lease expiry
-- of a running one; `fence` grows at every claim so a stale worker cannot finish a job.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'failed')),
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 10,
    fence         INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(due_at) WHERE status IN ('pending', 'running');

CREATE TABLE idempotency_keys (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    endpoint      TEXT NOT NULL,
    key           TEXT NOT NULL,
    body_hash     BLOB NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, endpoint, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_age ON idempotency_keys(created_at);

CREATE TABLE contact_imports (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    filename      TEXT NOT NULL,
    path          TEXT NOT NULL,
    mapping       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    bytes_total   INTEGER NOT NULL,
    byte_offset   INTEGER NOT NULL DEFAULT 0,
    rows_done     INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    errors        TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX contact_imports_by_workspace ON contact_imports(workspace_id, id);
