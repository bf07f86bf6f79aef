"""Shared helpers for the benchmarks: start servers on free loopback ports, drive them with wrk.

Every bench compares against a baseline measured in the same run (server and load generator
share the machine's cores, so absolute figures drift between runs; ratios hold). Servers are
started as subprocesses and stopped by the PID we started, never by name.

    with Servers() as servers:
        base = servers.start("baseline", baseline_command(port), port=port)
        result = run_wrk(f"http://127.0.0.1:{port}/json", duration=10, lua=post_json_lua(body))

The baseline app lives here too (`baseline_json_app`), so every bench measures against the
same bare Starlette route.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WRK = "/usr/bin/wrk"
UVICORN_FAST = ["--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--workers", "1", "--log-level", "warning"]


# --- the baseline app -----------------------------------------------------------------------

def baseline_json_app() -> Any:
    """A bare Starlette app with one JSON POST route: parse the body, answer a small JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def post_json(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"ok": True, "action": body.get("action")}, status_code=201)

    return Starlette(routes=[Route("/json", post_json, methods=["POST"])])


def baseline_command(port: int) -> list[str]:
    """uvicorn (uvloop + httptools, no access log, 1 worker) serving `baseline_json_app`."""
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "--factory",
            "_harness:baseline_json_app", "--host", "127.0.0.1", "--port", str(port),
            *UVICORN_FAST]


# --- processes ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# wrk sends every request from 127.0.0.1: with the default rate limits nearly all of them would
# be refused (consent 429) or dropped (beacon rate_limited), and we would measure the limiter.
NO_RATE_LIMITS = {"CONSENTRY_CONSENT_RATE_LIMIT": "0", "CONSENTRY_BEACON_RATE_LIMIT": "0"}


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without CONSENTRY_* (a developer's settings must not leak in),
    rate limits off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    env.update(NO_RATE_LIMITS)
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerFailed(RuntimeError):
    pass


@dataclass
class Servers:
    """Starts servers and, on exit, stops each one by the PID it started (SIGTERM, then KILL)."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="consentry-bench-")))
    started: list[Server] = field(default_factory=list)

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_all()

    def start(self, name: str, argv: list[str], *, port: int, env: dict[str, str] | None = None,
              ready_path: str = "/", timeout: float = 30.0) -> Server:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.workdir,
                                    env=env or clean_env(), start_new_session=True)
        server = Server(name, proc, port, log)
        self.started.append(server)
        wait_ready(server, ready_path, timeout)
        return server

    def stop(self, server: Server, timeout: float = 15.0) -> int | None:
        """Graceful stop (uvicorn runs the lifespan shutdown: the writer flushes), then KILL."""
        proc = server.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def stop_all(self) -> None:
        for server in reversed(self.started):
            try:
                self.stop(server)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {server.name} (pid {server.proc.pid}): {exc}",
                      file=sys.stderr)


def wait_ready(server: Server, path: str, timeout: float) -> None:
    """Until an HTTP answer (any status) comes from `path`; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerFailed(f"{server.name} exited with {server.proc.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base + path, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise ServerFailed(f"{server.name} did not answer on {server.base}{path} within {timeout} s:\n"
                       f"{server.log_tail()}")


# --- PostgreSQL: a fresh database per run ----------------------------------------------------

def create_pg_database(admin_url: str) -> str:
    import asyncpg

    name = f"consentry_bench_{secrets.token_hex(5)}"

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


# --- wrk ------------------------------------------------------------------------------------

def require_wrk() -> str:
    path = WRK if os.access(WRK, os.X_OK) else shutil.which("wrk")
    if not path:
        sys.exit("wrk is not installed: install it with `apt-get install -y wrk` "
                 "(Debian's package, /usr/bin/wrk) and run again")
    return path


def post_json_lua(body: dict[str, Any] | str, directory: Path) -> Path:
    """A wrk Lua script that sends every request as a POST of `body` as application/json."""
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    script = directory / "post_json.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {_lua_string(text)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n', "utf-8")
    return script


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class WrkResult:
    requests: int  # responses wrk counted
    seconds: float
    rps: float
    non_2xx: int  # wrk's "Non-2xx or 3xx responses" (status >= 400 in wrk's code)
    socket_errors: dict[str, int]  # connect, read, write, timeout
    latency_ms: dict[str, float]  # "50%", "75%", "90%", "99%"
    raw: str

    @property
    def ok_2xx(self) -> int:
        """Answers that count as acknowledged: every counted response that was not an error.

        The bench routes answer only 2xx or 4xx/5xx, never 3xx, so this is the 2xx count.
        """
        return self.requests - self.non_2xx

    @property
    def p50(self) -> float:
        return self.latency_ms["50%"]

    @property
    def p99(self) -> float:
        return self.latency_ms["99%"]


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not m:
        raise ValueError(f"unrecognised wrk latency {value!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    summary = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    if not summary or not rps:
        raise ValueError(f"could not read wrk's summary:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = dict(re.findall(r"^\s*(50%|75%|90%|99%)\s+([\d.]+(?:us|ms|s|m|h))\s*$", out, re.M))
    return WrkResult(
        requests=int(summary.group(1)),
        seconds=_ms(summary.group(2) + summary.group(3)) / 1000,
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(("connect", "read", "write", "timeout"),
                               (int(g) for g in errors.groups()), strict=True))
        if errors else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        latency_ms={k: _ms(v) for k, v in latency.items()},
        raw=out,
    )


def run_wrk(url: str, *, duration: float, threads: int = 2, connections: int = 64,
            lua: Path | None = None, timeout_s: int = 2) -> WrkResult:
    """One wrk run (always with --latency); bounded by `duration` plus a margin."""
    argv = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            f"--timeout={timeout_s}s", "--latency"]
    if lua is not None:
        argv += ["-s", str(lua)]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- reporting ------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores{' (' + model + ')' if model else ''}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


# A site that sends e-mail, for the pixel and click benchmarks (pixel.py, run.py).
EMAIL_SITE = """
[sites.bench]
name = "Bench"
languages = ["en"]
[sites.bench.texts]
title.en = "t"
description.en = "d"
accept_all.en = "a"
reject_all.en = "r"
customise.en = "c"
save.en = "s"
preferences.en = "p"
close.en = "x"
[sites.bench.purposes.necessary]
necessary = true
title.en = "Necessary"
[sites.bench.email]
sender = "Bench <news@bench.example>"
base_url = "https://cmp.bench.example"
[sites.bench.email.lists.news]
title.en = "News"
"""


def prepared_links(config: Path, database: str, secret_file: Path,
                   master_secret: bytes | None = None) -> tuple[str, str]:
    """A recipient of the EMAIL_SITE who consented to tracking, and the open pixel and first
    click link of one message prepared for them an hour ago (so clicks are not "too soon")."""
    import asyncio

    from cmp.app_state import Services
    from cmp.config import load_config
    from cmp.settings import Settings
    from pixel.email.service import EmailService

    async def run() -> tuple[str, str]:
        settings = Settings.load(config, database=database, secret_file=str(secret_file))
        svc = Services.build(load_config(config), settings, master_secret=master_secret)
        email = EmailService.build(svc)
        await svc.storage.open()
        try:
            await email.consents.import_consent(
                "bench", "reader@bench.example", ["news"], tracking=True, country="DE",
                language="en", evidence={"source": "bench"})
            prep = await email.preparer.prepare(
                "bench", campaign="bench", list_id="news", to="reader@bench.example",
                html_body='<html><body><a href="https://bench.example/">x</a></body></html>',
                now=time.time() - 3600)
        finally:
            await svc.storage.close()
            svc.policy.close()

        def first(kind: str) -> str:
            start = prep.html.index(f"/e/{kind}/")
            return prep.html[start:prep.html.index('"', start)].replace("&amp;", "&")

        return first("o"), first("c")

    return asyncio.run(run())


def load_parser(description: str, duration: float = 10.0) -> argparse.ArgumentParser:
    """The wrk options every HTTP benchmark takes (PERF-NOTES' -t2 -c64 by default)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--duration", type=float, default=duration,
                   help=f"seconds of measured load per run ({duration:g})")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="seconds of load before each measured run, counted in the stored-rows "
                        "check (1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    return p
