"""A serving worker freezes its startup heap; the startup check and tests do not (their objects
must stay collectable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cmp.config import demo_config_path

PROBE = """
import asyncio, gc, json, sys
from consentry import server
app = getattr(server, sys.argv[1])()
async def main():
    async with app.router.lifespan_context(app):
        print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}))
asyncio.run(main())
"""


def probe(factory: str, tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "CONSENTRY_CONFIG": str(demo_config_path()),
           "CONSENTRY_SECRET": "s" * 48, "CONSENTRY_DATABASE": f"sqlite:///{tmp_path / 'h.db'}"}
    done = subprocess.run([sys.executable, "-c", PROBE, factory], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_worker_app_freezes_its_startup_heap(tmp_path: Path) -> None:
    seen = probe("worker_app", tmp_path)
    assert int(str(seen["frozen"])) > 10_000  # config, routes, modules: tens of thousands
    assert seen["threshold"] == [10_000, 10, 10]


def test_the_checking_app_leaves_the_heap_alone(tmp_path: Path) -> None:
    seen = probe("app_from_env", tmp_path)
    assert seen["frozen"] == 0
    assert seen["threshold"] == [700, 10, 10]
