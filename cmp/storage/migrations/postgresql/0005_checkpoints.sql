-- Signed tree heads of each site's ledger (PostgreSQL dialect of sqlite/0005_checkpoints.sql).
CREATE TABLE checkpoints (
    site       TEXT   NOT NULL,
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT   NOT NULL,
    ts         TEXT   NOT NULL,
    key_id     TEXT   NOT NULL,
    doc        TEXT   NOT NULL,  -- text, not jsonb: the signed bytes stay as issued
    PRIMARY KEY (site, tree_size)
);
