-- E-mail engagement (opens, clicks, unsubscribes), never a raw address: `recipient` is the
-- site's keyed HMAC pseudonym of the normalised address. Consents themselves are ledger events.
CREATE TABLE email_engagement (
    id        INTEGER PRIMARY KEY,
    site      TEXT    NOT NULL,
    campaign  TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    recipient TEXT,               -- NULL once erased
    list      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,   -- open | click | unsubscribe
    link      INTEGER,            -- click: index of the link in the message; -1 honeypot
    class     TEXT    NOT NULL,   -- human | apple_mpp | gmail_proxy | gmail_prefetch | other_proxy | bot | scanner
    machine   INTEGER NOT NULL,   -- 1: not a person (counts apart from human engagement)
    reason    TEXT,               -- why a click is a scanner's: head | too_soon | burst | honeypot | ua
    ts        TEXT    NOT NULL,   -- server UTC, ISO 8601 with milliseconds
    ts_ms     INTEGER NOT NULL
);
CREATE INDEX email_engagement_campaign ON email_engagement (site, campaign, kind);
CREATE INDEX email_engagement_message ON email_engagement (site, message, ts_ms);
-- No index on recipient: every index costs each insert on the pixel's hot path, and only a
-- data-subject erasure (rare, offline) looks rows up by recipient.

-- Who must get no more mail from a list (scope = list id), from any list ('#all') or no
-- more engagement logging ('#tracking'). Written in the same transaction as the unsubscribe's
-- engagement row; the ledger event holds the proof.
CREATE TABLE email_suppressions (
    site      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    scope     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    ts        TEXT NOT NULL,
    PRIMARY KEY (site, recipient, scope)
);

-- Double opt-in signups waiting for their confirmation link (no address, only the pseudonym).
CREATE TABLE email_signups (
    id        TEXT PRIMARY KEY,
    site      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    request   TEXT NOT NULL,      -- canonical JSON: lists, tracking, language, regime, proof
    created   TEXT NOT NULL,
    confirmed TEXT
);
CREATE INDEX email_signups_recipient ON email_signups (site, recipient);
