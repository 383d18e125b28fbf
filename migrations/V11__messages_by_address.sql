-- A contact's data export and erasure also find the messages sent to its address before
-- the contact existed; without this they would scan every message of the installation.
CREATE INDEX messages_by_address ON messages(workspace_id, to_address);
