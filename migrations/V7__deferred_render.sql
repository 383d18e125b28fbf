-- Automation emails are rendered by the send job, off the writer thread: the step stores
-- the template and the context it saw, and the send job fills in subject, html and text.
ALTER TABLE messages ADD COLUMN template_id INTEGER;
ALTER TABLE messages ADD COLUMN render_context TEXT;
