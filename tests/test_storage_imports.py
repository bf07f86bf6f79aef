"""Neither storage backend imports the other: only cmp/storage/factory.py knows both.
(tests/test_layers.py keeps the layers and forbids cycles; a one-way import between the
backends, even a lazy one, is no cycle but would tie one dialect to the other.)"""

from __future__ import annotations

from .test_layers import import_graph

BACKENDS = ("cmp.storage.sqlite", "cmp.storage.postgres")


def _backend(module: str) -> str | None:
    return next((b for b in BACKENDS if module == b or module.startswith(b + ".")), None)


def test_backends_do_not_import_each_other() -> None:
    edges = import_graph()
    assert any(_backend(e.source) for e in edges), "no storage module seen"
    crossing = [f"{e.where}: {e.source} imports {e.target}" for e in edges
                if _backend(e.source) and _backend(e.target)
                and _backend(e.source) != _backend(e.target)]
    assert not crossing, "\n".join(crossing)


def test_only_the_factory_opens_both() -> None:
    users = {b: {e.source for e in import_graph() if _backend(e.target) == b
                 and not _backend(e.source)} for b in BACKENDS}
    assert "cmp.storage.factory" in users["cmp.storage.sqlite"] & users["cmp.storage.postgres"]
