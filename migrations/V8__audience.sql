-- The audience side: lists and memberships with their history, consent records, forms
-- with their submissions and spam blocks, and saved segments. Timestamps are Unix ms.

CREATE TABLE lists (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    -- 'single': a signup is confirmed at once; 'double': only when the emailed link is used.
    opt_in        TEXT NOT NULL CHECK (opt_in IN ('single', 'double')),
    -- Private lists never appear on public pages (preferences, forms' list choice).
    public        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX lists_by_name ON lists(workspace_id, name COLLATE NOCASE);

-- One row per contact and list: the membership's current state.
CREATE TABLE list_members (
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    contact_id    INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
    source        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL,
    PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX list_members_by_contact ON list_members(contact_id, list_id);
CREATE INDEX list_members_by_status ON list_members(list_id, status, contact_id);

-- Every change of a membership, with when and where it came from (api, form, link, ui, automation, import).
CREATE TABLE list_member_changes (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    contact_id    INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    source        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX list_member_changes_by_contact ON list_member_changes(contact_id, id);
CREATE INDEX list_member_changes_by_list ON list_member_changes(list_id, id);

-- What a contact agreed to, as it was shown: GDPR consent records.
CREATE TABLE consents (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id    INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    version       TEXT,
    ip            TEXT,
    user_agent    TEXT,
    -- 'api', 'form' or 'ui'; the form when it came from one.
    source        TEXT NOT NULL,
    form_id       INTEGER REFERENCES forms(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX consents_by_contact ON consents(contact_id, id);

CREATE TABLE forms (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    -- Public address of the form: /f/{slug}; unique across the installation.
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    -- Fields, target lists, consent text, success message or redirect, event name,
    -- allowed origins, minimum fill time: the form's JSON definition.
    definition    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX forms_by_workspace ON forms(workspace_id, id);

CREATE TABLE form_submissions (
    id            INTEGER PRIMARY KEY,
    form_id       INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    contact_id    INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    ip            TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX form_submissions_by_form ON form_submissions(form_id, id);
CREATE INDEX form_submissions_by_contact ON form_submissions(contact_id);

-- Refused submissions (honeypot, too fast, over the rate), counted and shown, never dropped silently.
CREATE TABLE form_spam (
    id            INTEGER PRIMARY KEY,
    form_id       INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    reason        TEXT NOT NULL CHECK (reason IN ('honeypot', 'too_fast', 'rate_limited')),
    ip            TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX form_spam_by_form ON form_spam(form_id, id);

CREATE TABLE segments (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- The saved filter, as the API sends it (see segments/filter.rs).
    filter        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX segments_by_name ON segments(workspace_id, name COLLATE NOCASE);

-- Templates Herald itself sends from, editable like any other: 'confirmation' is the
-- double opt-in email. At most one per purpose in a workspace.
ALTER TABLE templates ADD COLUMN purpose TEXT;
CREATE UNIQUE INDEX templates_by_purpose ON templates(workspace_id, purpose) WHERE purpose IS NOT NULL;
