-- SMS and WhatsApp messages: what the provider last reported for a message it accepted
-- (delivered, read, undelivered…), found by the provider's id (kept in message_id, as an
-- email keeps its Message-ID), and the numbers that asked a channel to stop (STOP).
ALTER TABLE messages ADD COLUMN provider_status TEXT;
CREATE INDEX messages_by_provider_id ON messages (channel_id, message_id) WHERE channel != 'email';

CREATE TABLE channel_opt_outs (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    -- E.164 with +.
    address TEXT NOT NULL,
    -- The words the recipient sent (STOP, UNSUBSCRIBE, …).
    keyword TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, address)
) WITHOUT ROWID;

-- What a template is written for: an email (subject, HTML, text) or the text body of an
-- SMS or a WhatsApp message.
ALTER TABLE templates ADD COLUMN kind TEXT NOT NULL DEFAULT 'email';

-- Each status a message went through, with when and why: a JSON array of
-- {at, status | providerStatus, reason?}, appended by the update that changes it.
ALTER TABLE messages ADD COLUMN history TEXT;
