-- Dashboard rollups: counts kept up to date in the same transaction as the rows they count,
-- so the dashboards read a few thousand small rows instead of scanning millions of events.
-- Counts only (no subject, no recipient): erasure and retention leave them as they are.
-- Empty string stands for "not recorded" (NULL would break the primary keys).

-- Consent decisions per UTC day, regime, language and UI action (accept_all, reject_all,
-- custom, withdraw, expire). Only events that carry choices; e-mail consents are not here.
CREATE TABLE dash_consent_daily (
    site      TEXT    NOT NULL,
    day       TEXT    NOT NULL,   -- YYYY-MM-DD (UTC)
    regime    TEXT    NOT NULL,
    language  TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    events    INTEGER NOT NULL,
    PRIMARY KEY (site, day, regime, language, action)
) WITHOUT ROWID;

-- Purposes granted by banner decisions (accept_all, reject_all, custom) on the same keys:
-- consent rate of a purpose = granted / decisions.
CREATE TABLE dash_purpose_daily (
    site      TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    regime    TEXT    NOT NULL,
    language  TEXT    NOT NULL,
    purpose   TEXT    NOT NULL,
    granted   INTEGER NOT NULL,
    PRIMARY KEY (site, day, regime, language, purpose)
) WITHOUT ROWID;

-- E-mail engagement per campaign, UTC day, kind, class and machine flag. A scanner burst that
-- reclassifies earlier clicks moves their counts in the same transaction.
CREATE TABLE dash_email_daily (
    site      TEXT    NOT NULL,
    campaign  TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    kind      TEXT    NOT NULL,   -- open | click | unsubscribe
    class     TEXT    NOT NULL,
    machine   INTEGER NOT NULL,
    events    INTEGER NOT NULL,
    PRIMARY KEY (site, campaign, day, kind, class, machine)
) WITHOUT ROWID;

-- Backfill from the rows already stored.
INSERT INTO dash_consent_daily (site, day, regime, language, action, events)
SELECT site, substr(ts, 1, 10),
       COALESCE(json_extract(payload, '$.regime'), ''),
       COALESCE(json_extract(payload, '$.language'), ''),
       COALESCE(json_extract(payload, '$.action'), ''),
       COUNT(*)
FROM consent_events
WHERE json_type(payload, '$.choices') = 'object'
  AND COALESCE(json_extract(payload, '$.channel'), '') <> 'email'
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO dash_purpose_daily (site, day, regime, language, purpose, granted)
SELECT e.site, substr(e.ts, 1, 10),
       COALESCE(json_extract(e.payload, '$.regime'), ''),
       COALESCE(json_extract(e.payload, '$.language'), ''),
       p.key, SUM(p.value = 1)
FROM consent_events e, json_each(e.payload, '$.choices.purposes') p
WHERE json_extract(e.payload, '$.action') IN ('accept_all', 'reject_all', 'custom')
  AND COALESCE(json_extract(e.payload, '$.channel'), '') <> 'email'
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO dash_email_daily (site, campaign, day, kind, class, machine, events)
SELECT site, campaign, substr(ts, 1, 10), kind, class, machine, COUNT(*)
FROM email_engagement
GROUP BY 1, 2, 3, 4, 5, 6;
