-- Data-subject request cases (cmp/cases.py): the latest state of each, from its last `case`
-- ledger event, kept by the ledger writer's transaction (cmp/caserows.py). Listing open cases
-- by due date reads this; the events are the record.
CREATE TABLE request_cases (
    site        TEXT    NOT NULL,
    case_id     TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    regime      TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    due         TEXT    NOT NULL,
    requester   TEXT,
    updated_at  TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    PRIMARY KEY (site, case_id)
);
CREATE INDEX request_cases_due ON request_cases (site, state, due);
