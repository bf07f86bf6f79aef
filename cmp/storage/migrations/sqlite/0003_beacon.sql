-- Web beacon page events (POST /b, GET /b): stored only when the consent presented (or the
-- regime's default) allows the site's beacon purpose. No IP, no raw User-Agent: a coarse UA
-- class; the page URL without its query string unless the site opts in; the referrer's origin.
CREATE TABLE beacon_events (
    id        INTEGER PRIMARY KEY,
    site      TEXT    NOT NULL,
    name      TEXT    NOT NULL,   -- event name: pageview or the site's own
    url       TEXT,
    referrer  TEXT,
    props     TEXT,               -- canonical JSON, NULL when none
    subject   TEXT,               -- consent id of the token that allowed it; NULL otherwise or once erased
    ua_class  TEXT    NOT NULL,   -- desktop | mobile | tablet | other
    ts        TEXT    NOT NULL,   -- server UTC, ISO 8601 with milliseconds
    ts_ms     INTEGER NOT NULL
);
CREATE INDEX beacon_events_site_ts ON beacon_events (site, ts_ms);
CREATE INDEX beacon_events_subject ON beacon_events (site, subject);
