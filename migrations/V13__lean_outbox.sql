-- Ingest writes an outbox message with every event some endpoint subscribes to, so the
-- outbox keeps only indexes that each commit appends to: pruning goes in id order
-- (no index by time), and a message that stems from an event row is tied to that row
-- instead of to its contact (erasing a contact erases its events, and so the message),
-- which leaves the index by contact to the few messages with no event row.
DROP INDEX webhook_messages_by_time;
ALTER TABLE webhook_messages ADD COLUMN event_id INTEGER REFERENCES events(id) ON DELETE CASCADE;
CREATE INDEX webhook_messages_by_event ON webhook_messages (event_id) WHERE event_id IS NOT NULL;
