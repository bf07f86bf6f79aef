-- Dashboard rollups (PostgreSQL dialect of sqlite/0004_dashboard_rollups.sql): counts kept up
-- to date in the same transaction as the rows they count. Counts only (no subject, no
-- recipient): erasure and retention leave them as they are. Empty string stands for "not
-- recorded" (NULL would break the primary keys). Day keys are text (YYYY-MM-DD, UTC) as in
-- SQLite, so both backends return the same rows.

-- Consent decisions per UTC day, regime, language and UI action. Only events that carry
-- choices; e-mail consents are not here.
CREATE TABLE dash_consent_daily (
    site      TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    regime    TEXT    NOT NULL,
    language  TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    events    BIGINT  NOT NULL,
    PRIMARY KEY (site, day, regime, language, action)
);

-- Purposes granted by banner decisions (accept_all, reject_all, custom) on the same keys.
CREATE TABLE dash_purpose_daily (
    site      TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    regime    TEXT    NOT NULL,
    language  TEXT    NOT NULL,
    purpose   TEXT    NOT NULL,
    granted   BIGINT  NOT NULL,
    PRIMARY KEY (site, day, regime, language, purpose)
);

-- E-mail engagement per campaign, UTC day, kind, class and machine flag (0/1). A scanner burst
-- that reclassifies earlier clicks moves their counts in the same transaction.
CREATE TABLE dash_email_daily (
    site      TEXT     NOT NULL,
    campaign  TEXT     NOT NULL,
    day       TEXT     NOT NULL,
    kind      TEXT     NOT NULL,
    class     TEXT     NOT NULL,
    machine   SMALLINT NOT NULL,
    events    BIGINT   NOT NULL,
    PRIMARY KEY (site, campaign, day, kind, class, machine)
);

-- Backfill from the rows already stored (payload holds canonical JSON text).
INSERT INTO dash_consent_daily (site, day, regime, language, action, events)
SELECT site, substr(ts, 1, 10),
       COALESCE(p ->> 'regime', ''), COALESCE(p ->> 'language', ''), COALESCE(p ->> 'action', ''),
       COUNT(*)
FROM (SELECT site, ts, payload::jsonb AS p FROM consent_events) AS e
WHERE jsonb_typeof(p -> 'choices') = 'object'
  AND COALESCE(p ->> 'channel', '') <> 'email'
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO dash_purpose_daily (site, day, regime, language, purpose, granted)
SELECT e.site, substr(e.ts, 1, 10),
       COALESCE(e.p ->> 'regime', ''), COALESCE(e.p ->> 'language', ''), g.key,
       COUNT(*) FILTER (WHERE g.value IN ('true'::jsonb, '1'::jsonb))
FROM (SELECT site, ts, payload::jsonb AS p FROM consent_events) AS e
CROSS JOIN LATERAL jsonb_each(
    CASE WHEN jsonb_typeof(e.p -> 'choices' -> 'purposes') = 'object'
         THEN e.p -> 'choices' -> 'purposes' ELSE '{}'::jsonb END) AS g
WHERE e.p ->> 'action' IN ('accept_all', 'reject_all', 'custom')
  AND jsonb_typeof(e.p -> 'choices') = 'object'
  AND COALESCE(e.p ->> 'channel', '') <> 'email'
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO dash_email_daily (site, campaign, day, kind, class, machine, events)
SELECT site, campaign, substr(ts, 1, 10), kind, class, machine, COUNT(*)
FROM email_engagement
GROUP BY 1, 2, 3, 4, 5, 6;
