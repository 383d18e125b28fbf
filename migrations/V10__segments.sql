-- What segment filters read. A filter on event history ("did purchase at least twice in
-- the last 30 days", "never did x") finds its contacts from the event side: the events of
-- one name in a time window, grouped by contact. With the contact in the index that is a
-- range scan of the index alone; without it, one table lookup per event (500,000 of them
-- for a common name over a year of a big workspace). The new index starts with the
-- columns of events_by_name, so it serves every query that one served, and replaces it.
CREATE INDEX events_by_name_contact ON events(workspace_id, name, created_at, contact_id);
DROP INDEX events_by_name;
