-- Web beacon page events (PostgreSQL dialect of sqlite/0003_beacon.sql).
CREATE TABLE beacon_events (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site      TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    url       TEXT,
    referrer  TEXT,
    props     TEXT,               -- canonical JSON, NULL when none
    subject   TEXT,
    ua_class  TEXT    NOT NULL,
    ts        TEXT    NOT NULL,
    ts_ms     BIGINT  NOT NULL
);
CREATE INDEX beacon_events_site_ts ON beacon_events (site, ts_ms);
CREATE INDEX beacon_events_subject ON beacon_events (site, subject);
