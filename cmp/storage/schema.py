"""The schema each dialect ships: numbered migrations in cmp/storage/migrations/<dialect>/.

Both backends read them from here; each applies them its own way (SQLite under BEGIN IMMEDIATE
statement by statement, PostgreSQL under an advisory lock as one script).
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def migrations(dialect: Dialect) -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every NNNN_name.sql shipped for `dialect`, in order."""
    folder = resources.files("cmp.storage") / "migrations" / dialect
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            num = int(entry.name.split("_", 1)[0])
            out.append((num, entry.name, entry.read_text("utf-8")))
    return sorted(out)
