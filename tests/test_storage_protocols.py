"""Both backends implement every storage protocol, method for method, with the protocol's
signature; each concern's methods live in that concern's module of each dialect.

(mypy checks the same statically where cmp/storage/factory.py returns either class as a
`Storage`; this test also runs where mypy does not.)
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from cmp.storage.base import (
    ActivityStore,
    BeaconStore,
    CaseStore,
    CheckpointStore,
    ConsentStore,
    EmailConsentStore,
    EmailStore,
    LedgerStore,
    Lifecycle,
    PeopleStore,
    RollupStore,
    Storage,
)
from cmp.storage.postgres import PostgresStorage
from cmp.storage.postgres.activity import PostgresActivity
from cmp.storage.postgres.beacon import PostgresBeacon
from cmp.storage.postgres.cases import PostgresCases
from cmp.storage.postgres.checkpoints import PostgresCheckpoints
from cmp.storage.postgres.email import PostgresEmail
from cmp.storage.postgres.ledger import PostgresLedger
from cmp.storage.postgres.people import PostgresPeople
from cmp.storage.postgres.rollups import PostgresRollups
from cmp.storage.sqlite import SQLiteStorage
from cmp.storage.sqlite.activity import SQLiteActivity
from cmp.storage.sqlite.beacon import SQLiteBeacon
from cmp.storage.sqlite.cases import SQLiteCases
from cmp.storage.sqlite.checkpoints import SQLiteCheckpoints
from cmp.storage.sqlite.email import SQLiteEmail
from cmp.storage.sqlite.ledger import SQLiteLedger
from cmp.storage.sqlite.people import SQLitePeople
from cmp.storage.sqlite.rollups import SQLiteRollups

CONCERNS: list[tuple[type, type, type]] = [  # protocol, SQLite module's class, PostgreSQL's
    (LedgerStore, SQLiteLedger, PostgresLedger),
    (EmailStore, SQLiteEmail, PostgresEmail),
    (BeaconStore, SQLiteBeacon, PostgresBeacon),
    (CaseStore, SQLiteCases, PostgresCases),
    (ActivityStore, SQLiteActivity, PostgresActivity),
    (RollupStore, SQLiteRollups, PostgresRollups),
    (CheckpointStore, SQLiteCheckpoints, PostgresCheckpoints),
    (PeopleStore, SQLitePeople, PostgresPeople),
    (Lifecycle, SQLiteStorage, PostgresStorage),
]
BACKENDS = [SQLiteStorage, PostgresStorage]


def members(proto: type) -> set[str]:
    """The methods a protocol declares, its bases' included."""
    return {name for klass in proto.__mro__ if klass not in (object,) and klass.__module__ !=
            "typing" for name, v in vars(klass).items()
            if callable(v) and not name.startswith("_")}


def _shape(fn: Any) -> tuple[str, list[tuple[str, Any, Any, Any]], Any]:
    if inspect.iscoroutinefunction(fn):
        kind = "coroutine"
    elif inspect.isasyncgenfunction(fn):
        kind = "async iterator"
    else:
        kind = "plain"
    sig = inspect.signature(fn)
    params = [(p.name, p.kind, p.default, p.annotation) for p in sig.parameters.values()]
    return kind, params, sig.return_annotation


def mismatches(cls: type, proto: type) -> list[str]:
    """What `cls` lacks or declares differently from `proto` (empty: it implements it)."""
    out = []
    for name in sorted(members(proto)):
        impl = getattr(cls, name, None)
        if impl is None or not callable(impl):
            out.append(f"{cls.__name__} lacks {proto.__name__}.{name}")
            continue
        want, have = _shape(getattr(proto, name)), _shape(impl)
        if want[0] == "plain" and have[0] == "async iterator":
            have = ("plain", *have[1:])  # `def f() -> AsyncIterator`: an async generator fits
        if want != have:
            out.append(f"{cls.__name__}.{name}{inspect.signature(impl)} differs from "
                       f"{proto.__name__}.{name}{inspect.signature(getattr(proto, name))}")
    return out


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("proto", [Storage, ConsentStore, EmailConsentStore,
                                   *(c[0] for c in CONCERNS)], ids=lambda p: p.__name__)
def test_every_backend_implements_every_protocol(backend: type, proto: type) -> None:
    assert mismatches(backend, proto) == []


@pytest.mark.parametrize(("proto", "sqlite", "postgres"), CONCERNS,
                         ids=[c[0].__name__ for c in CONCERNS])
def test_each_concern_is_implemented_by_its_own_module(proto: type, sqlite: type,
                                                       postgres: type) -> None:
    assert mismatches(sqlite, proto) == [] and mismatches(postgres, proto) == []


def test_storage_is_exactly_the_union_of_the_concerns() -> None:
    concerns = [members(c[0]) for c in CONCERNS]
    assert set().union(*concerns) == members(Storage)
    assert sum(len(m) for m in concerns) == len(members(Storage)), "a method in two concerns"


def test_built_instances_pass_isinstance(tmp_path: Path) -> None:
    # Built, not opened: construction connects to nothing.
    for storage in (SQLiteStorage(tmp_path / "x.db"),
                    PostgresStorage("postgresql://nobody@127.0.0.1:1/none")):
        for proto in (Storage, ConsentStore, EmailConsentStore, *(c[0] for c in CONCERNS)):
            assert isinstance(storage, proto), (type(storage).__name__, proto.__name__)


def test_the_check_fails_for_a_missing_method_or_a_changed_signature() -> None:
    class Lacking(SQLiteStorage):
        email_counts = None  # type: ignore[assignment]

    class Renamed(SQLiteStorage):
        async def email_counts(self, site: str, list_id: str
                               ) -> list[tuple[str, str, bool, int]]:
            return []

    class Sync(SQLiteStorage):
        def ping(self) -> None:  # type: ignore[override]
            pass

    assert mismatches(Lacking, EmailStore) == ["Lacking lacks EmailStore.email_counts"]
    assert len(mismatches(Renamed, Storage)) == 1 and "email_counts" in mismatches(Renamed,
                                                                                    Storage)[0]
    assert len(mismatches(Sync, Lifecycle)) == 1
    assert not isinstance(Lacking(":memory:"), EmailStore)
