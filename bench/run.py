"""The performance suite: consent POST, open pixel, click, web beacon and may-contact on SQLite
and PostgreSQL with 1 and 2 workers, each as a ratio to a bare Starlette route measured in the
same run, with p50/p99 latency, server RSS and a check that stored rows equal 2xx answers
(may-contact stores nothing: a sample of its answers must match the people seeded).

    python bench/run.py [--duration 5] [--warmup 1] [--connections 64] [--out bench/results.md]
                        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--people 2000]

Each (backend, workers) cell gets a fresh SQLite file or a fresh PostgreSQL database (created
on the server of --postgres, dropped afterwards). Servers run under uvicorn (uvloop, httptools,
no access log), are started as subprocesses and stopped by the PID we started. Writes a
Markdown table (default bench/results.md) for the README and exits 1 if any acknowledged row
is missing (or more rows are stored than can be explained by requests in flight at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# bench/pixel.py would shadow the `pixel` package this suite drives.
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(REPO))
sys.path.append(str(BENCH))
sys.modules.pop("pixel", None)

from _harness import (  # noqa: E402
    EMAIL_SITE,
    UVICORN_FAST,
    Servers,
    WrkResult,
    clean_env,
    create_pg_database,
    drop_pg_database,
    fmt_ms,
    free_port,
    load_parser,
    machine,
    now_utc,
    post_json_lua,
    prepared_links,
    require_wrk,
    run_wrk,
)
from beacon import UA, baseline_command, consent_token, consentry_command, lua_script  # noqa: E402
from may_contact import (  # noqa: E402
    check_answers,
    may_contact_lua,
    people_site,
    seed_people,
)

CONSENT_BODY = {"action": "accept_all", "revision": 1, "language": "en"}


@dataclass
class Cell:
    backend: str
    workers: int
    endpoint: str
    result: WrkResult
    baseline: WrkResult
    rss_mb: float
    acked: int
    stored: int
    slack: int
    wrong: int | None = None  # may-contact (stores nothing): answers unlike what was seeded

    @property
    def ratio(self) -> float:
        return self.result.rps / self.baseline.rps if self.baseline.rps else float("nan")

    @property
    def rows_ok(self) -> bool:
        if self.wrong is not None:
            return self.wrong == 0 and self.result.non_2xx == 0
        return 0 <= self.stored - self.acked <= self.slack

    @property
    def check(self) -> str:
        if self.wrong is not None:
            return f"{self.wrong} wrong answers, {self.result.non_2xx} non-2xx"
        return f"{self.stored} / {self.acked}"


# --- helpers --------------------------------------------------------------------------------

def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (uvicorn's supervisor and its workers), in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(k) for k in kids]
    return total / 1024


class RssSampler:
    """Peak RSS of a server's process tree, sampled while the load runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, tree_rss_mb(self.pid))

    def __enter__(self) -> RssSampler:
        self.peak = tree_rss_mb(self.pid)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def stored_counts(database: str) -> dict[str, int]:
    from cmp.storage.factory import open_storage

    async def run() -> dict[str, int]:
        storage = open_storage(database)
        await storage.open()
        try:
            counts = {"consent": await storage.count_events("demo"),
                      "beacon": await storage.count_beacon("demo")}
            for kind, _cls, _machine, n in await storage.email_counts("bench", "bench"):
                counts[kind] = counts.get(kind, 0) + n
            return counts
        finally:
            await storage.close()

    return asyncio.run(run())


def verify_ledger(database: str, workdir: Path) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-m", "consentry", "ledger", "verify", "--database",
                           database], capture_output=True, text=True, cwd=workdir,
                          env=clean_env(), timeout=600)
    return done.returncode == 0, (done.stdout or done.stderr).strip()


# --- the suite ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = load_parser(__doc__.split("\n\n")[0], duration=5.0)
    p.add_argument("--postgres", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing database on the server where bench databases are created")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--out", type=Path, default=BENCH / "results.md")
    p.add_argument("--people", type=int, default=2000,
                   help="people seeded per cell for may-contact (2000)")
    args = p.parse_args(argv)
    require_wrk()

    def load(url: str, lua: Path) -> list[WrkResult]:
        runs = []
        if args.warmup > 0:
            runs.append(run_wrk(url, duration=args.warmup, threads=args.threads,
                                connections=args.connections, lua=lua))
        runs.append(run_wrk(url, duration=args.duration, threads=args.threads,
                            connections=args.connections, lua=lua))
        return runs

    cells: list[Cell] = []
    baselines: dict[int, dict[str, WrkResult]] = {}
    verify_lines: list[str] = []
    failed = False
    with Servers() as servers:
        work = servers.workdir
        config = work / "bench.toml"
        from cmp.adminkeys import generate_admin_key
        from cmp.config import demo_config_path

        api_key, api_key_hash = generate_admin_key()
        config.write_text(demo_config_path().read_text("utf-8") + EMAIL_SITE
                          + people_site(api_key_hash), "utf-8")
        secret_file = work / "consentry.secret"
        secret_file.write_text(secrets.token_hex(32), "utf-8")
        ua = {"User-Agent": UA}
        json_lua = post_json_lua(CONSENT_BODY, work)
        gif_lua = lua_script(work, "get_ua", method="GET", headers=ua)
        contact_lua = may_contact_lua(work, api_key, args.people)

        worker_counts = [int(w) for w in args.workers.split(",")]
        for workers in worker_counts:
            port = free_port()
            argv_b = baseline_command(port)
            argv_b[argv_b.index("--workers") + 1] = str(workers)
            srv = servers.start(f"baseline-{workers}w", argv_b, port=port, ready_path="/gif")
            baselines[workers] = {"post": load(srv.base + "/json", json_lua)[-1],
                                  "gif": load(srv.base + "/gif", gif_lua)[-1],
                                  "get": load(srv.base + "/", contact_lua)[-1]}
            servers.stop(srv)

        for backend in args.backends.split(","):
            for workers in worker_counts:
                database = (f"sqlite:///{work / f'{backend}-{workers}.db'}" if backend == "sqlite"
                            else create_pg_database(args.postgres))
                try:
                    opened, click = prepared_links(config, database, secret_file)
                    seed_people(config, database, secret_file, args.people)
                    port = free_port()
                    argv_c = consentry_command(port)
                    argv_c[argv_c.index("--workers") + 1] = str(workers)
                    argv_c[argv_c.index("--config") + 1] = str(config)
                    env = clean_env(CONSENTRY_DATABASE=database,
                                    CONSENTRY_SECRET_FILE=str(secret_file),
                                    CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{port}")
                    srv = servers.start(f"consentry-{backend}-{workers}w", argv_c, port=port,
                                        env=env, ready_path="/healthz")
                    token = consent_token(srv.base)  # one consent row, counted below
                    beacon_body = json.dumps({"s": "demo", "e": "pageview", "k": token,
                                              "u": "http://127.0.0.1:8000/p"})
                    plan: list[tuple[str, str, Path, str]] = [
                        ("consent", "/v1/sites/demo/consent", json_lua, "post"),
                        ("open", opened, gif_lua, "gif"),
                        ("click", click, gif_lua, "gif"),
                        ("beacon", "/b", lua_script(
                            work, "beacon", method="POST", body=beacon_body,
                            headers={**ua, "Content-Type": "text/plain;charset=UTF-8"}), "post"),
                        ("may-contact", "/", contact_lua, "get"),  # the Lua builds each path
                    ]
                    measured: dict[str, tuple[list[WrkResult], float]] = {}
                    for endpoint, path, lua, _kind in plan:
                        with RssSampler(srv.proc.pid) as rss:
                            measured[endpoint] = (load(srv.base + path, lua), rss.peak)
                    wrong = len(check_answers(srv.base, api_key, args.people, sample=200))
                    servers.stop(srv)
                    counts = stored_counts(database)
                    counts["consent"] -= 1  # the consent behind the beacon token
                    for endpoint, _path, _lua, base_kind in plan:
                        runs, peak = measured[endpoint]
                        slack = (args.connections * len(runs)
                                 + sum(r.socket_errors["timeout"] for r in runs))
                        cell = Cell(backend, workers, endpoint, runs[-1],
                                    baselines[1][base_kind], peak,
                                    sum(r.ok_2xx for r in runs), counts.get(endpoint, 0), slack,
                                    wrong if endpoint == "may-contact" else None)
                        cells.append(cell)
                        failed |= not cell.rows_ok
                        print(f"{backend:10} {workers}w {endpoint:11} {cell.result.rps:8.0f} req/s "
                              f"ratio {cell.ratio:.2f} p50 {fmt_ms(cell.result.p50)} "
                              f"p99 {fmt_ms(cell.result.p99)} rss {peak:.0f} MB "
                              f"stored / 2xx {cell.check}"
                              f"{'' if cell.rows_ok else '  FAIL'}", flush=True)
                    ok, out = verify_ledger(database, work)
                    failed |= not ok
                    verify_lines.append(f"{backend}, {workers} worker(s): {'; '.join(out.splitlines())}"
                                        + ("" if ok else " FAIL"))
                except Exception:
                    failed = True
                    raise
                finally:
                    if backend != "sqlite":
                        drop_pg_database(args.postgres, database)

    text = report(args, cells, baselines, verify_lines)
    args.out.write_text(text, "utf-8")
    print(f"\nwrote {args.out}")
    if failed:
        print("FAIL: a stored-rows check or a ledger verify failed (see the table)")
    return 1 if failed else 0


def report(args: argparse.Namespace, cells: list[Cell], baselines: dict[int, dict[str, WrkResult]],
           verify_lines: list[str]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip() or "unknown"
    names = {"consent": "consent POST", "open": "open pixel", "click": "click redirect",
             "beacon": "web beacon POST", "may-contact": "may-contact GET"}
    lines = [
        f"Measured {now_utc()} on commit {commit}; {machine()}.",
        f"Load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency on "
        f"loopback after {args.warmup:g} s warm-up; servers: uvicorn {' '.join(UVICORN_FAST[:-4])}"
        " (workers as listed). The load generator shares the cores: compare ratios, not req/s.",
        "Ratio = req/s ÷ the bare Starlette route with one worker in the same run (JSON POST for "
        "consent and beacon, a 43-byte GIF for pixel and click, a JSON GET for may-contact, "
        f"which asks about another of {args.people:,} seeded people's numbers each time). "
        "RSS = peak of the server's process tree. Rows: stored rows ÷ acknowledged answers "
        "(2xx, 302 for clicks); a few more may be stored (requests in flight when wrk stopped); "
        "for may-contact, a sample of answers checked against what was seeded.",
        "",
        "| backend | workers | endpoint | req/s | ratio | p50 | p99 | RSS | rows / answers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, b in sorted(baselines.items()):
        for kind, label in (("post", "bare JSON POST"), ("gif", "bare GIF"),
                            ("get", "bare JSON GET")):
            r = b[kind]
            lines.append(f"| Starlette | {workers} | {label} | {r.rps:.0f} | "
                         f"{r.rps / baselines[1][kind].rps:.2f} | {fmt_ms(r.p50)} | "
                         f"{fmt_ms(r.p99)} | | |")
    for c in cells:
        check = c.check + (" ok" if c.rows_ok else " **FAIL**")
        lines.append(f"| {c.backend} | {c.workers} | {names[c.endpoint]} | {c.result.rps:.0f} | "
                     f"{c.ratio:.2f} | {fmt_ms(c.result.p50)} | {fmt_ms(c.result.p99)} | "
                     f"{c.rss_mb:.0f} MB | {check} |")
    lines += ["", "Ledger verify after each cell:", ""]
    lines += [f"- {v}" for v in verify_lines]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
