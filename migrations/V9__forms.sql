-- Forms, beyond the tables of V8: how often each form was seen, so its page can show
-- conversion, and which door each submission came through. Timestamps are Unix ms.

-- Views per form and UTC day: 'hosted' counts renders of the hosted page /f/{slug},
-- 'script' counts embeds whose script fetched a timing token (an embed with JavaScript
-- off cannot be seen, so it is not counted).
CREATE TABLE form_views (
    form_id       INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    day           INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('hosted', 'script')),
    views         INTEGER NOT NULL,
    PRIMARY KEY (form_id, day, kind)
) WITHOUT ROWID;

-- 'hosted' (posted from Herald's own page), 'embed' (from another origin) or 'direct'
-- (no Origin header: a script or a server).
ALTER TABLE form_submissions ADD COLUMN via TEXT NOT NULL DEFAULT 'direct';
