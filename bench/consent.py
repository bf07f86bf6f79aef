"""Consent POST throughput against a bare Starlette JSON POST route, measured in the same run.

    python bench/consent.py [--duration 10] [--threads 2] [--connections 64]

Starts, on free 127.0.0.1 ports, (1) a bare Starlette app with one JSON POST route and (2)
`consentry serve` with the demo config on a fresh SQLite file, both under uvicorn with uvloop
and httptools, no access log, one worker. Drives each with wrk (POST of a JSON consent body)
and prints requests/s, the ratio consent ÷ baseline, and p50/p99 latency.

Then it checks durability: rows stored in the ledger must equal the 2xx answers wrk counted.
wrk stops mid-flight: requests already sent when the clock runs out are committed by the server
(and acknowledged to a socket wrk no longer reads), so stored rows may exceed the counted 2xx
by at most the number of open connections per run. Fewer rows than 2xx answers would mean an
acknowledged consent was lost: the check fails and the script exits 1.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

from _harness import (
    UVICORN_FAST,
    Servers,
    WrkResult,
    baseline_command,
    clean_env,
    fmt_ms,
    free_port,
    load_parser,
    machine,
    now_utc,
    post_json_lua,
    require_wrk,
    run_wrk,
)

SITE = "demo"
BODY = {"action": "accept_all", "revision": 1, "language": "en"}


def consentry_command(port: int) -> list[str]:
    # The module, not an installed script: the script may run another checkout's code.
    cli = [sys.executable, "-m", "consentry"]
    from cmp.config import demo_config_path

    # `consentry serve` runs uvicorn itself with uvloop, httptools, no access log; 1 worker here.
    return [*cli, "serve", "--config", str(demo_config_path()), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]


def stored_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM consent_events WHERE site = ?",
                                (SITE,)).fetchone()[0])


def measure(servers: Servers, name: str, argv: list[str], port: int, path: str,
            args: argparse.Namespace, lua: Path, env: dict[str, str] | None = None,
            ready_path: str = "/") -> tuple[list[WrkResult], WrkResult]:
    """Start a server, warm it up, measure, stop it. Returns (every run, the measured run)."""
    server = servers.start(name, argv, port=port, env=env, ready_path=ready_path)
    url = server.base + path
    runs = []
    try:
        if args.warmup > 0:
            runs.append(run_wrk(url, duration=args.warmup, threads=args.threads,
                                connections=args.connections, lua=lua))
        result = run_wrk(url, duration=args.duration, threads=args.threads,
                         connections=args.connections, lua=lua)
        runs.append(result)
    finally:
        servers.stop(server)
    return runs, result


def main(argv: list[str] | None = None) -> int:
    p = load_parser(__doc__.split("\n\n")[0])
    args = p.parse_args(argv)
    require_wrk()

    with Servers() as servers:
        work = servers.workdir
        lua = post_json_lua(BODY, work)
        db = work / "consentry.db"

        port = free_port()
        _, base = measure(servers, "baseline", baseline_command(port), port, "/json", args, lua)

        port = free_port()
        env = clean_env(CONSENTRY_DATABASE=f"sqlite:///{db}",
                        CONSENTRY_SECRET_FILE=str(work / "consentry.secret"),
                        CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{port}")
        runs, cons = measure(servers, "consentry", consentry_command(port), port,
                             f"/v1/sites/{SITE}/consent", args, lua, env=env,
                             ready_path="/healthz")

        acked = sum(r.ok_2xx for r in runs)
        stored = stored_rows(db)
        verify = subprocess.run(
            [sys.executable, "-m", "consentry", "ledger", "verify", "--database", f"sqlite:///{db}"],
            capture_output=True, text=True, cwd=work, env=clean_env(), timeout=300)

    print(f"Consent POST vs bare Starlette JSON POST, {now_utc()}")
    print(f"machine: {machine()}")
    print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency on "
          f"loopback (after {args.warmup:g} s warm-up); servers: uvicorn {' '.join(UVICORN_FAST)}")
    print()
    print(f"{'':38}{'req/s':>10}{'p50':>11}{'p99':>11}{'non-2xx':>9}")
    for label, r in (("bare Starlette JSON POST (baseline)", base),
                     ("POST /v1/sites/demo/consent (SQLite)", cons)):
        print(f"{label:38}{r.rps:>10.0f}{fmt_ms(r.p50):>11}{fmt_ms(r.p99):>11}"
              f"{r.non_2xx:>9}")
        errs = {k: v for k, v in r.socket_errors.items() if v}
        if errs:
            print(f"  wrk socket errors: {errs}")
    ratio = cons.rps / base.rps if base.rps else float("nan")
    print(f"\nratio consent POST / baseline: {ratio:.2f}")

    # Requests in flight when wrk stops (at most one per connection per run) or that hit
    # wrk's timeout are committed but never counted by wrk.
    slack = args.connections * len(runs) + sum(r.socket_errors["timeout"] for r in runs)
    extra = stored - acked
    print(f"\nledger check: {stored} rows stored, {acked} 2xx answers counted by wrk "
          f"({len(runs)} run(s), {sum(r.requests for r in runs)} responses)")
    print(f"ledger verify: {(verify.stdout or verify.stderr).strip()}")
    if extra < 0:
        print(f"FAIL: {-extra} acknowledged consent(s) are missing from the ledger")
        return 1
    if extra > slack:
        print(f"FAIL: {extra} rows more than counted 2xx answers; at most {slack} can be "
              "requests still in flight when wrk stopped")
        return 1
    if verify.returncode != 0:
        print("FAIL: the hash chain does not verify")
        return 1
    note = (f" (+{extra} committed in flight when wrk stopped; allowed up to {slack}: "
            "one per connection per run, plus timeouts)") if extra else ""
    print(f"OK: every 2xx answer is a stored row{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
