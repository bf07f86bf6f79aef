"""The import graph keeps its layers: cmp/ (core) < pixel/ < dashboards/ < consentry/ (assembly).

A module may import its own layer and the layers below it, never one above; and no set of
modules imports itself round in a circle. Inside pixel/ the e-mail side, the web beacon/tag
gate and the SMS side stay apart: none imports another, and what they share sits at pixel/
top. Read from the source (ast), so an import inside a function or under `if TYPE_CHECKING:`
counts too: it is still a dependency a reader has to hold.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: each may import only itself and what is listed before it.
LAYERS = ("cmp", "pixel", "dashboards", "consentry")
RANK = {name: i for i, name in enumerate(LAYERS)}
# Sub-areas of a layer that must stay apart: none imports another, and the layer's shared
# modules (those in no sub-area, e.g. pixel.outcomes) import none of them, so two sub-areas
# cannot meet through a shared module either.
APART = {"pixel": ("pixel.email", "pixel.web", "pixel.sms")}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. "cmp.api.http"
    target: str  # imported module of ours, e.g. "cmp.consent"
    where: str  # "cmp/api/http.py:11"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is one of our modules (`cmp.x.y` where y is a
    function names module cmp.x)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel = path.relative_to(ROOT).as_posix()
    out: list[Import] = []

    def add(name: str, line: int) -> None:
        target = _resolve(name, known)
        imp = Import(module, target or "", f"{rel}:{line}")
        if target is not None and target != module and imp not in out:
            out.append(imp)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            for alias in node.names:
                # `from cmp.api import http` imports the module cmp.api.http; `from cmp.consent
                # import FieldError` imports cmp.consent.
                add(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known else stem,
                    node.lineno)
    return out


def import_graph() -> list[Import]:
    known = our_modules()
    return [imp for mod, path in known.items() for imp in imports_of(mod, path, known)]


def upward_imports(edges: list[Import]) -> list[str]:
    bad = []
    for e in edges:
        src, dst = e.source.split(".")[0], e.target.split(".")[0]
        if RANK[dst] > RANK[src]:
            bad.append(f"{e.where}: {e.source} imports {e.target} ({src}/ sits below {dst}/)")
    return bad


def _area(module: str, areas: tuple[str, ...]) -> str | None:
    return next((a for a in areas if module == a or module.startswith(a + ".")), None)


def crossed_areas(edges: list[Import]) -> list[str]:
    bad = []
    for e in edges:
        layer = e.source.split(".")[0]
        areas = APART.get(layer)
        if not areas or e.target.split(".")[0] != layer:
            continue  # another layer's import of the sub-areas is the layer rule's business
        src, dst = _area(e.source, areas), _area(e.target, areas)
        if dst is not None and src != dst:
            what = f"{src} must not import {dst}" if src else \
                f"shared {layer}/ modules import no sub-area"
            bad.append(f"{e.where}: {e.source} imports {e.target} ({what})")
    return bad


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_graph_is_read() -> None:
    # A parser that saw nothing would pass everything below: make sure it sees known edges.
    edges = {(e.source, e.target) for e in import_graph()}
    assert ("cmp.api.http", "cmp.errors") in edges
    assert ("consentry.app", "pixel.email.routes") in edges
    assert ("dashboards.routes", "dashboards.charts") in edges


def test_no_import_runs_up_a_layer() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_sub_areas_stay_apart() -> None:
    known = our_modules()
    for areas in APART.values():  # a renamed sub-area would pass vacuously: it must exist
        assert all(a in known for a in areas), f"no such package among {areas}"
    edges = import_graph()
    seen = {(e.source, e.target) for e in edges}
    assert ("pixel.email.pipeline", "pixel.outcomes") in seen  # both read the shared module
    assert ("pixel.web.beacon", "pixel.outcomes") in seen
    assert ("pixel.sms.inbound", "pixel.outcomes") in seen
    bad = crossed_areas(edges)
    assert not bad, "sub-areas that must stay apart import each other:\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    edges = import_graph()
    found = cycles(edges)
    detail = []
    for component in found:
        inside = set(component)
        detail.append(" ↔ ".join(component) + ": " + ", ".join(
            f"{e.where} → {e.target}" for e in edges
            if e.source in inside and e.target in inside))
    assert not found, "import cycles:\n" + "\n".join(detail)


@pytest.mark.parametrize(("edges", "expect"), [
    ([("a", "b"), ("b", "a")], [["a", "b"]]),
    ([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")], [["a", "b", "c"]]),
    ([("a", "b"), ("b", "c"), ("a", "c")], []),
])
def test_cycle_finder(edges: list[tuple[str, str]], expect: list[list[str]]) -> None:
    assert cycles([Import(s, t, "x.py:1") for s, t in edges]) == expect


def test_upward_finder() -> None:
    edges = [Import("cmp.app", "pixel.routes", "cmp/app.py:1"),
             Import("dashboards.x", "pixel.y", "dashboards/x.py:1"),
             Import("pixel.cli", "consentry.cli", "pixel/cli.py:2")]
    assert [b.split(":")[0] for b in upward_imports(edges)] == ["cmp/app.py", "pixel/cli.py"]


def test_area_finder() -> None:
    edges = [Import("pixel.email.routes", "pixel.web.beacon", "pixel/email/routes.py:1"),
             Import("pixel.web.routes", "pixel.email.service", "pixel/web/routes.py:2"),
             Import("pixel.outcomes", "pixel.email.pipeline", "pixel/outcomes.py:3"),
             Import("pixel.email.pipeline", "pixel.outcomes", "pixel/email/pipeline.py:4"),
             Import("pixel.email.service", "pixel.email.pipeline", "pixel/email/service.py:5"),
             Import("pixel.web.routes", "pixel.web", "pixel/web/routes.py:6"),
             Import("consentry.app", "pixel.web.routes", "consentry/app.py:7"),
             Import("pixel.emails", "pixel.web", "pixel/emails.py:8")]  # not pixel.email
    assert [b.split(":")[0] for b in crossed_areas(edges)] == [
        "pixel/email/routes.py", "pixel/web/routes.py", "pixel/outcomes.py", "pixel/emails.py"]
