-- Outbound webhook endpoints, the outbox of what happened, and the delivery log.

CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event names and patterns (`*`, `contact.*`).
    events TEXT NOT NULL,
    -- NULL: general (every event of the workspace); otherwise one channel's id.
    channel TEXT,
    -- JSON object of extra request headers.
    headers TEXT NOT NULL DEFAULT '{}',
    secret TEXT NOT NULL,
    -- The secret before the last rotation, still signing until previous_secret_until.
    previous_secret TEXT,
    previous_secret_until INTEGER,
    retry_attempts INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    disabled_reason TEXT,
    disabled_at INTEGER,
    created_by TEXT NOT NULL,
    -- The last outbox message whose first attempt was made (messages are sent in order).
    cursor INTEGER NOT NULL DEFAULT 0,
    -- Since when every delivery has failed (NULL after a success), and how many in a row.
    failing_since INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_success_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id, id);

-- One row per thing that happened in a workspace that some endpoint subscribes to,
-- written in the same transaction as the change itself.
CREATE TABLE webhook_messages (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    channel TEXT,
    -- Set for a test event: the one endpoint it is for.
    only_endpoint INTEGER,
    -- The contact it is about: erasing the contact erases what the outbox holds of it.
    contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    -- The exact JSON body sent: {event, payload, timestamp}.
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_messages_by_workspace ON webhook_messages (workspace_id, id);
CREATE INDEX webhook_messages_by_time ON webhook_messages (created_at);
CREATE INDEX webhook_messages_by_contact ON webhook_messages (contact_id) WHERE contact_id IS NOT NULL;

-- One message to one endpoint: its state and retry schedule.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    -- pending (a retry is due at next_attempt_at), succeeded, failed.
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER,
    -- Raised by each claim of a retry; a stale claim's result is dropped.
    fence INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_message ON webhook_deliveries (message_id);

-- Every attempt: what was sent and what came back.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    -- JSON object of the request headers (extra header values masked).
    request_headers TEXT NOT NULL,
    response_status INTEGER,
    -- The first 20 KB of the response body.
    response_body TEXT,
    duration_ms INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempt);
