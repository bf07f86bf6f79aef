-- The consent ledger (PostgreSQL dialect of sqlite/0001_ledger.sql): one row per event,
-- hash-chained per site. `payload` and `personal` hold the exact canonical JSON text the hash
-- was computed over (text, not jsonb: jsonb would reorder and respace it).
CREATE TABLE consent_events (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site            TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    event_id        TEXT    NOT NULL UNIQUE,
    subject         TEXT,               -- pseudonymous subject id; NULL once erased
    kind            TEXT    NOT NULL,   -- grant | update | withdraw | expire | erase
    ts              TEXT    NOT NULL,   -- server UTC, ISO 8601 with milliseconds (hashed as text)
    payload         TEXT    NOT NULL,   -- canonical JSON: what was shown, done, decided
    personal        TEXT,               -- canonical JSON: subject, truncated IP, salt; NULL once erased
    personal_digest TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (site, seq)
);
CREATE INDEX consent_events_subject ON consent_events (site, subject);
CREATE INDEX consent_events_ts ON consent_events (site, ts);

CREATE TABLE notices (
    hash      TEXT PRIMARY KEY,
    site      TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    language  TEXT NOT NULL,
    texts     TEXT NOT NULL,
    first_ts  TEXT NOT NULL
);

-- Last link of each site's chain. Every writer, on any host, locks its sites' rows here
-- (SELECT ... FOR UPDATE) inside the batch transaction: one site's chain grows one batch at
-- a time, so there are no forks and no gaps.
CREATE TABLE chain_heads (
    site  TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
