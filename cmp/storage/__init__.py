"""Storage: the schema, SQL and writers of both dialects, behind protocols split by concern.

- base.py: the protocols (LedgerStore, EmailStore, BeaconStore, ActivityStore, RollupStore,
  Lifecycle; Storage is their union) and StorageError; records.py: the values they pass.
- schema.py: the migrations in migrations/<dialect>/; rollups.py: what a written batch adds
  to the dashboard counts; writer.py: group commit.
- sqlite/ and postgres/: one class per dialect, one module per concern (connection, ledger,
  email, beacon, activity, rollups); neither imports the other.
- factory.py: `open_storage(url)`, the one place that knows both backends.
"""
