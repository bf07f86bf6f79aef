"""Web beacon throughput against a bare Starlette route, measured in the same run.

    python bench/beacon.py [--duration 10] [--warmup 1] [--threads 2] [--connections 64]

Starts, on free 127.0.0.1 ports and each under uvicorn with uvloop and httptools, no access
log, one worker: (1) a bare Starlette app with a JSON POST route and a route answering a 43-byte
GIF, (2) `consentry serve` with the demo config on a fresh SQLite file. Records one consent
(accept all) to get a token, then drives with wrk:
- `POST /b` with a text/plain JSON page event carrying that token (what sendBeacon sends),
  against the bare JSON POST;
- `GET /b?s=demo&e=pageview` with the token in the consent cookie (the no-JS form), against
  the bare GIF route.
Every beacon request carries consent and a browser User-Agent, so each should be stored.

Then it checks durability: stored beacon rows must equal the 2xx answers wrk counted, within
the requests still in flight when wrk stops (at most one per connection per run; committed but
never counted). The server's own outcome counters (/metrics) must show no drops. Exit 1 if not.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import urllib.request
from pathlib import Path
from typing import Any

from _harness import (
    BENCH_DIR,
    UVICORN_FAST,
    Servers,
    WrkResult,
    clean_env,
    fmt_ms,
    free_port,
    load_parser,
    machine,
    now_utc,
    require_wrk,
    run_wrk,
)

SITE = "demo"
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")
GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001"
                    "000002024401003b")  # the same 43 bytes /b answers


def baseline_app() -> Any:
    """Bare Starlette: a JSON POST route (parse, answer 204), a GIF route and a JSON GET route."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def post_json(request: Request) -> Response:
        body = await request.json()
        return Response(status_code=204 if body.get("s") else 400)

    async def gif(request: Request) -> Response:
        return Response(GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})

    async def get_json(request: Request) -> Response:
        # The shape of a may-contact answer, from the query (bench/may_contact.py, run.py).
        q = request.query_params
        return JSONResponse({"allowed": True, "reason": "allowed", "channel": q.get("channel"),
                             "list": q.get("list", "*"), "event_id": None},
                            headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/json", post_json, methods=["POST"]),
                             Route("/gif", gif, methods=["GET"]),
                             Route("/v1/sites/{site}/may-contact", get_json, methods=["GET"])])


def baseline_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "--factory",
            "beacon:baseline_app", "--host", "127.0.0.1", "--port", str(port), *UVICORN_FAST]


def consentry_command(port: int) -> list[str]:
    # The module, not an installed script: the script may run another checkout's code.
    cli = [sys.executable, "-m", "consentry"]
    from cmp.config import demo_config_path

    return [*cli, "serve", "--config", str(demo_config_path()), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]


def _lua(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(directory: Path, name: str, *, method: str, body: str | None = None,
               headers: dict[str, str]) -> Path:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {_lua(body)}")
    lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def consent_token(base: str) -> str:
    req = urllib.request.Request(
        f"{base}/v1/sites/{SITE}/consent", method="POST",
        data=json.dumps({"action": "accept_all", "revision": 1, "language": "en"}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": UA})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.load(r)["token"])


def beacon_outcomes(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("consentry_beacon_events_total{"):
            labels, n = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0) + int(n)
    return out


def stored_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM beacon_events WHERE site = ?",
                                (SITE,)).fetchone()[0])


def load(url: str, lua: Path, args: argparse.Namespace) -> list[WrkResult]:
    """Warm-up run (if any), then the measured run (last)."""
    runs = []
    if args.warmup > 0:
        runs.append(run_wrk(url, duration=args.warmup, threads=args.threads,
                            connections=args.connections, lua=lua))
    runs.append(run_wrk(url, duration=args.duration, threads=args.threads,
                        connections=args.connections, lua=lua))
    return runs


def main(argv: list[str] | None = None) -> int:
    p = load_parser(__doc__.split("\n\n")[0])
    args = p.parse_args(argv)
    require_wrk()

    with Servers() as servers:
        work = servers.workdir
        port = free_port()
        base_srv = servers.start("baseline", baseline_command(port), port=port, ready_path="/gif")
        post_body = json.dumps({"s": SITE, "e": "pageview", "u": "http://127.0.0.1:8000/p"},
                               separators=(",", ":"))
        bare_lua = lua_script(work, "bare_post", method="POST", body=post_body,
                              headers={"Content-Type": "text/plain"})
        base_post = load(base_srv.base + "/json", bare_lua, args)[-1]
        base_gif = load(base_srv.base + "/gif", lua_script(work, "bare_gif", method="GET",
                                                           headers={}), args)[-1]
        servers.stop(base_srv)

        db = work / "consentry.db"
        port = free_port()
        env = clean_env(CONSENTRY_DATABASE=f"sqlite:///{db}",
                        CONSENTRY_SECRET_FILE=str(work / "consentry.secret"),
                        CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{port}")
        srv = servers.start("consentry", consentry_command(port), port=port, env=env,
                            ready_path="/healthz")
        token = consent_token(srv.base)
        body = json.dumps({"s": SITE, "e": "pageview", "u": "http://127.0.0.1:8000/p",
                           "p": {"plan": "pro"}, "k": token}, separators=(",", ":"))
        post_runs = load(srv.base + "/b", lua_script(
            work, "beacon_post", method="POST", body=body,
            headers={"Content-Type": "text/plain;charset=UTF-8", "User-Agent": UA}), args)
        gif_runs = load(srv.base + f"/b?s={SITE}&e=pageview", lua_script(
            work, "beacon_gif", method="GET",
            headers={"Cookie": f"consentry={token}", "User-Agent": UA}), args)
        outcomes = beacon_outcomes(srv.base)
        servers.stop(srv)  # graceful: the beacon writer flushes what is in flight
        stored = stored_rows(db)

    bpost, bgif = post_runs[-1], gif_runs[-1]
    print(f"Web beacon vs bare Starlette routes, {now_utc()}")
    print(f"machine: {machine()}")
    print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency on "
          f"loopback (after {args.warmup:g} s warm-up); servers: uvicorn {' '.join(UVICORN_FAST)}")
    print()
    print(f"{'':44}{'req/s':>10}{'p50':>11}{'p99':>11}{'non-2xx':>9}")
    for label, r in (("bare Starlette JSON POST (baseline)", base_post),
                     ("POST /b text/plain JSON + token (SQLite)", bpost),
                     ("bare Starlette GIF GET (baseline)", base_gif),
                     ("GET /b GIF form + cookie token (SQLite)", bgif)):
        print(f"{label:44}{r.rps:>10.0f}{fmt_ms(r.p50):>11}{fmt_ms(r.p99):>11}{r.non_2xx:>9}")
        errs = {k: v for k, v in r.socket_errors.items() if v}
        if errs:
            print(f"  wrk socket errors: {errs}")
    print(f"\nratio beacon POST / bare JSON POST: {bpost.rps / base_post.rps:.2f}")
    print(f"ratio beacon GIF GET / bare GIF GET: {bgif.rps / base_gif.rps:.2f}")

    runs = post_runs + gif_runs
    acked = sum(r.ok_2xx for r in runs)
    slack = args.connections * len(runs) + sum(r.socket_errors["timeout"] for r in runs)
    drops = {k: v for k, v in outcomes.items() if k != "stored"}
    extra = stored - acked
    print(f"\nstorage check: {stored} beacon rows stored, {acked} 2xx answers counted by wrk "
          f"({len(runs)} runs); server outcomes: {outcomes}")
    if drops:
        print(f"FAIL: the server dropped events that should have been logged: {drops}")
        return 1
    if extra < 0:
        print(f"FAIL: {-extra} acknowledged beacon event(s) are missing from storage")
        return 1
    if extra > slack:
        print(f"FAIL: {extra} rows more than counted 2xx answers; at most {slack} can be in flight")
        return 1
    note = (f" (+{extra} committed in flight when wrk stopped; allowed up to {slack})"
            if extra else "")
    print(f"OK: every 2xx answer is a stored row{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
