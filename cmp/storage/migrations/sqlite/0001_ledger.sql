-- The consent ledger: one row per event, hash-chained per site (seq, prev_hash, hash).
-- Personal fields live in `personal` and are covered by the chain only through
-- `personal_digest`, so erasing a person keeps the chain (and the proof) verifiable.
CREATE TABLE consent_events (
    id              INTEGER PRIMARY KEY,
    site            TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    event_id        TEXT    NOT NULL UNIQUE,
    subject         TEXT,               -- pseudonymous subject id; NULL once erased
    kind            TEXT    NOT NULL,   -- grant | update | withdraw | expire | erase
    ts              TEXT    NOT NULL,   -- server UTC, ISO 8601 with milliseconds
    payload         TEXT    NOT NULL,   -- canonical JSON: what was shown, done, decided
    personal        TEXT,               -- canonical JSON: subject, truncated IP, salt; NULL once erased
    personal_digest TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (site, seq)
);
CREATE INDEX consent_events_subject ON consent_events (site, subject);
CREATE INDEX consent_events_ts ON consent_events (site, ts);

-- The exact texts behind each texts_hash, stored once, so a proof can show what was shown.
CREATE TABLE notices (
    hash      TEXT PRIMARY KEY,
    site      TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    language  TEXT NOT NULL,
    texts     TEXT NOT NULL,
    first_ts  TEXT NOT NULL
);

-- Last link of each site's chain, written in the same transaction as the events: lets
-- `ledger verify` notice rows cut from the end of a chain.
CREATE TABLE chain_heads (
    site  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
