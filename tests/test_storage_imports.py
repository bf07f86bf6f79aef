"""cmp/storage stands on its own: it imports nothing above it (pixel/, dashboards/, the
assembly), neither backend imports the other, and its modules import no cycle. Function-level
imports count too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ROOT / "cmp" / "storage"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in STORAGE.rglob("*.py")}
    return {m: {i for i in imports(p) if i in mods and i != m} for m, p in mods.items()}


def test_storage_imports_nothing_above_it() -> None:
    for path in STORAGE.rglob("*.py"):
        above = {i for i in imports(path)
                 if i.split(".")[0] in ("pixel", "dashboards", "consentry") or i in
                 ("cmp.app", "cmp.cli", "cmp.demo", "cmp.app_state")}
        assert not above, f"{module_name(path)} imports {sorted(above)}"


def test_backends_do_not_import_each_other() -> None:
    for m, deps in graph().items():
        for a, b in (("cmp.storage.sqlite", "cmp.storage.postgres"),
                     ("cmp.storage.postgres", "cmp.storage.sqlite")):
            if m == a or m.startswith(a + "."):
                assert not {d for d in deps if d == b or d.startswith(b + ".")}, m


def test_no_import_cycle_inside_storage() -> None:
    g = graph()
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        assert m not in path, " -> ".join([*path[path.index(m):], m])
        if m in done:
            return
        for d in g[m]:
            visit(d, [*path, m])
        done.add(m)

    for m in g:
        visit(m, [])
