"""Open-pixel throughput against a bare Starlette GIF route, measured in the same run.

    python bench/pixel.py [--duration 10]

Both servers run under uvicorn (uvloop, httptools, one worker) on 127.0.0.1, started as
subprocesses and stopped by their PID. The Consentry pixel does the whole job on every request:
verify the signed token, check consent, classify, and await the durable group commit of the
engagement row (SQLite WAL, synchronous=FULL) before answering. Afterwards the stored rows must
equal the 2xx answers wrk counted (a few more may be stored: requests still in flight when wrk
stopped its clock were committed but not counted). Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import textwrap
from pathlib import Path

from _harness import (
    EMAIL_SITE,
    UVICORN_FAST,
    Servers,
    clean_env,
    fmt_ms,
    free_port,
    machine,
    now_utc,
    prepared_links,
    require_wrk,
    run_wrk,
)

# This file is bench/pixel.py: keep it from shadowing the `pixel` package it measures.
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(REPO))
sys.modules.pop("pixel", None)

SECRET = "bench-master-secret-" + "b" * 40
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
GIF_B64 = "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="

CONFIG = EMAIL_SITE  # one mail-sending site, shared with run.py (bench/_harness.py)

BASELINE = f'''
import base64
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

GIF = base64.b64decode("{GIF_B64}")

async def gif(request):
    return Response(GIF, media_type="image/gif", headers={{"Cache-Control": "no-store"}})

def app():
    return Starlette(routes=[Route("/e/o/{{token}}.gif", gif)])
'''


def make_token(workdir: Path, db: Path, config: Path) -> str:
    """The open pixel of a message prepared for a recipient who consented to tracking."""
    return prepared_links(config, f"sqlite:///{db}", workdir / "unused", SECRET.encode())[0]


def ua_lua(directory: Path) -> Path:
    script = directory / "ua.lua"
    script.write_text(f'wrk.headers["User-Agent"] = "{CHROME}"\n', "utf-8")
    return script


def stored(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM email_engagement WHERE kind = 'open'")
                   .fetchone()[0])
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    args = ap.parse_args()
    require_wrk()
    with Servers() as servers:
        work = servers.workdir
        config, db = work / "bench.toml", work / "bench.db"
        config.write_text(CONFIG, "utf-8")
        (work / "gif_baseline.py").write_text(textwrap.dedent(BASELINE), "utf-8")
        path = make_token(work, db, config)
        lua = ua_lua(work)

        bport = free_port()
        base = servers.start("baseline", [sys.executable, "-m", "uvicorn", "--app-dir", str(work),
                                          "--factory", "gif_baseline:app", "--host", "127.0.0.1",
                                          "--port", str(bport), *UVICORN_FAST], port=bport,
                             ready_path=path)
        run_wrk(base.base + path, duration=2, lua=lua)  # warm-up
        b = run_wrk(base.base + path, duration=args.duration, lua=lua)
        servers.stop(base)

        pport = free_port()
        env = clean_env(CONSENTRY_SECRET=SECRET, CONSENTRY_DATABASE=f"sqlite:///{db}",
                        PYTHONPATH=str(REPO))
        consentry = [sys.executable, "-m", "consentry", "serve", "--config", str(config),
                     "--host", "127.0.0.1", "--port", str(pport)]
        srv = servers.start("consentry", consentry, port=pport, env=env, ready_path="/healthz")
        before = stored(db)
        run_wrk(srv.base + path, duration=2, lua=lua)  # warm-up
        warm = stored(db) - before
        p = run_wrk(srv.base + path, duration=args.duration, lua=lua)
        servers.stop(srv)
        rows = stored(db) - before - warm

    ratio = p.rps / b.rps if b.rps else 0.0
    extra = rows - p.ok_2xx
    # Every 2xx was stored; the excess is bounded by what two wrk threads had in flight.
    consistent = 0 <= extra <= 2 * 64 and p.non_2xx == 0
    print(f"# Open pixel bench — {now_utc()}\n{machine()}\n"
          f"wrk -t2 -c64 -d{args.duration:g}s, uvicorn uvloop+httptools, 1 worker, 127.0.0.1\n")
    print("| server | req/s | p50 | p99 | non-2xx |\n|---|---|---|---|---|")
    print(f"| bare Starlette GIF route (baseline) | {b.rps:,.0f} | {fmt_ms(b.p50)} | "
          f"{fmt_ms(b.p99)} | {b.non_2xx} |")
    print(f"| `GET /e/o/{{token}}.gif` (verify, consent, classify, durable group commit) | "
          f"{p.rps:,.0f} | {fmt_ms(p.p50)} | {fmt_ms(p.p99)} | {p.non_2xx} |")
    print(f"\nratio pixel/baseline: **{ratio:.2f}** (target >= 0.5)")
    print(f"stored open events: {rows:,}; 2xx answers: {p.ok_2xx:,}; "
          f"committed but not counted by wrk (in flight at its stop): {extra}")
    print("stored == 2xx: " + ("OK" if consistent else "MISMATCH"))
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
