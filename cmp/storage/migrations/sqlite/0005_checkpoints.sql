-- Signed tree heads (checkpoints) of each site's ledger: a Merkle tree over its events in
-- chain order (cmp/merkle.py), signed with the site's receipt key. `doc` is the signed JSON
-- exactly as issued; the other columns repeat its fields for lookups. A copy kept outside the
-- database (a file, a witness behind the webhook) is what makes a rewrite evident.
CREATE TABLE checkpoints (
    site       TEXT    NOT NULL,
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT    NOT NULL,
    ts         TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    PRIMARY KEY (site, tree_size)
);
