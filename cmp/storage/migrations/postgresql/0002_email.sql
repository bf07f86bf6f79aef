-- E-mail engagement (PostgreSQL dialect of sqlite/0002_email.sql). `recipient` is a keyed
-- HMAC pseudonym, never an address.
CREATE TABLE email_engagement (
    id        BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site      TEXT     NOT NULL,
    campaign  TEXT     NOT NULL,
    message   TEXT     NOT NULL,
    recipient TEXT,               -- NULL once erased
    list      TEXT     NOT NULL,
    kind      TEXT     NOT NULL,  -- open | click | unsubscribe
    link      INTEGER,            -- click: index of the link in the message; -1 honeypot
    class     TEXT     NOT NULL,
    machine   SMALLINT NOT NULL,  -- 1: not a person (0/1 as in SQLite, so rows read the same)
    reason    TEXT,
    ts        TEXT     NOT NULL,
    ts_ms     BIGINT   NOT NULL
);
CREATE INDEX email_engagement_campaign ON email_engagement (site, campaign, kind);
CREATE INDEX email_engagement_message ON email_engagement (site, message, ts_ms);

CREATE TABLE email_suppressions (
    site      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    scope     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    ts        TEXT NOT NULL,
    PRIMARY KEY (site, recipient, scope)
);

CREATE TABLE email_signups (
    id        TEXT PRIMARY KEY,
    site      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    request   TEXT NOT NULL,
    created   TEXT NOT NULL,
    confirmed TEXT
);
CREATE INDEX email_signups_recipient ON email_signups (site, recipient);
