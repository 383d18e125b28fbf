-- Channels: a workspace's sending identities, and the bearer tokens bound to one channel
-- that `POST /api/integration/generic` takes.
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON object of what is shown back (addresses, server, rate).
    settings TEXT NOT NULL,
    -- JSON object of the credentials, sealed with the install's key (store.secret_key or
    -- herald.key), bound to the channel's uid.
    credentials TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX channels_by_workspace ON channels (workspace_id, id);

CREATE TABLE channel_tokens (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    -- NULL once the channel is deleted: the token then answers 404 CHANNEL_NOT_FOUND.
    channel_id INTEGER REFERENCES channels(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX channel_tokens_by_channel ON channel_tokens (channel_id);

-- The channel a message leaves by (NULL: the install's [smtp]), and the envelope the
-- generic API asked for: JSON {bcc[], fromName, inReplyTo, references[]}.
ALTER TABLE messages ADD COLUMN channel_id INTEGER REFERENCES channels(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN envelope TEXT;
