-- Providers retry a delivery they did not see acknowledged; the delivery's own id
-- (Standard Webhooks `webhook-id`, Stripe's event id) lets a retry of an event already
-- ingested be recognised. Only accepted deliveries claim their id.
ALTER TABLE source_deliveries ADD COLUMN delivery_key TEXT;
CREATE UNIQUE INDEX source_deliveries_once ON source_deliveries(source_id, delivery_key)
    WHERE delivery_key IS NOT NULL AND outcome = 'accepted';
