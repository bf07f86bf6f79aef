"""Durable before acknowledged: SIGKILL the real server during a load of consent posts; every
consent that got a 2xx is in the ledger afterwards and the chain verifies."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx

from cmp.config import demo_config_path

from .conftest import (
    clean_env,
    consentry_cmd,
    count_events,
    db_rows,
    free_port,
    server_process,
)

WORKERS = 32
LOAD_SECONDS = 1.5


async def test_sigkill_during_load_loses_no_acknowledged_consent(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    env = clean_env(CONSENTRY_SECRET_FILE=str(tmp_path / "server.secret"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--config", str(demo_config_path()), "--database", f"sqlite:///{db}",
            "--port", str(port)]

    acked: dict[str, str] = {}  # consent id -> token
    failures = 0
    killed_at: float | None = None
    last_ack = 0.0
    stop = asyncio.Event()

    with server_process(args, env, tmp_path, f"{base}/healthz") as proc:
        async def worker(client: httpx.AsyncClient, n: int) -> None:
            nonlocal failures, last_ack
            i = 0
            while not stop.is_set():
                i += 1
                body = {"action": ("accept_all", "reject_all", "custom")[(n + i) % 3],
                        "revision": 1}
                try:
                    r = await client.post(f"{base}/v1/sites/demo/consent", json=body)
                except httpx.HTTPError:
                    failures += 1
                    if killed_at is not None:
                        return  # the server is gone
                    continue
                if 200 <= r.status_code < 300:
                    out = r.json()
                    acked[out["consent_id"]] = out["token"]
                    last_ack = time.monotonic()

        async def killer() -> None:
            nonlocal killed_at
            await asyncio.sleep(LOAD_SECONDS)
            proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: the process just stops
            killed_at = time.monotonic()
            proc.wait(timeout=10)
            await asyncio.sleep(0.3)
            stop.set()

        limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            await asyncio.gather(killer(), *(worker(client, n) for n in range(WORKERS)))
        assert proc.returncode == -signal.SIGKILL

    assert len(acked) >= 50, f"only {len(acked)} consents acknowledged before the kill"
    assert killed_at is not None and killed_at - last_ack < 0.25, "the load had stalled"
    assert failures >= 1, "no request failed: the server was not killed under load"

    # Straight from the file (SQLite recovers the WAL on open): every acknowledged id is there.
    stored = {s for (s,) in db_rows(db, "SELECT subject FROM consent_events")}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged consents lost, e.g. {sorted(missing)[:3]}"
    total = count_events(db)
    assert total >= len(acked)

    verify = subprocess.run(consentry_cmd() + ["ledger", "verify", "--database", f"sqlite:///{db}"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"demo: ok, {total} events" in verify.stdout

    # A restarted server serves the acknowledged consents and extends the same chain.
    port2 = free_port()
    args[-1] = str(port2)
    base2 = f"http://127.0.0.1:{port2}"
    with server_process(args, env, tmp_path, f"{base2}/healthz"):
        async with httpx.AsyncClient(timeout=10) as client:
            sample = list(acked.items())[:: max(1, len(acked) // 25)]
            for cid, token in sample:
                r = await client.get(f"{base2}/v1/sites/demo/consent/{cid}",
                                     headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, (cid, r.text)
                assert r.json()["events"][0]["kind"] == "grant"
            r = await client.post(f"{base2}/v1/sites/demo/consent",
                                  json={"action": "accept_all", "revision": 1})
            assert r.status_code == 201
    seqs = [s for (s,) in db_rows(db, "SELECT seq FROM consent_events WHERE site='demo' "
                                      "ORDER BY seq")]
    assert seqs == list(range(1, total + 2))
    again = subprocess.run(consentry_cmd() + ["ledger", "verify", "--database", f"sqlite:///{db}"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout
