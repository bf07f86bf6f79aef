-- People: which person (p_…) each identifier (c_/r_/t_/d_…) is linked to, and the latest answer
-- per (subject, channel, list). Both are derived from ledger events in the writer's
-- transaction (cmp/contacts.py); the ledger stays the proof.
CREATE TABLE person_links (
    site       TEXT    NOT NULL,
    identifier TEXT    NOT NULL,
    person     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    linked_at  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (site, identifier)
);
CREATE INDEX person_links_person ON person_links (site, person);

CREATE TABLE contact_state (
    site     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    scope    TEXT    NOT NULL,   -- a list or topic id, or '*' for the whole channel
    allowed  INTEGER NOT NULL,
    at       TEXT    NOT NULL,   -- when the person chose (collected_at), ISO 8601 UTC
    event_id TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (site, subject, channel, scope)
);
