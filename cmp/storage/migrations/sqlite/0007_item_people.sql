-- Distinct people who agreed to a per-recipient item (cmp/asks.py) per calendar year: the
-- number China's cross-border filing thresholds are about. One row per person, item and year,
-- added in the ledger writer's transaction (cmp/contacts.py); the count is a COUNT(*).
CREATE TABLE dash_item_people (
    site   TEXT    NOT NULL,
    item   TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    person TEXT    NOT NULL,
    PRIMARY KEY (site, item, year, person)
);
