"""Shared fixtures: a real app over real SQLite files, driven over HTTP; real subprocesses.

Nothing here is mocked: `running()` builds the same Services the server builds, runs the app's
lifespan (migrations, group-commit writer) and talks to it through httpx's ASGI transport.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.config import Config, demo_config_path, load_config
from cmp.settings import Settings
from consentry.app import create_app

# A browser on a documentation address: the full IP must never reach the database.
CLIENT_IP = "203.0.113.77"
CLIENT_IP_TRUNCATED = "203.0.113.0"
CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/124.0.0.0 Safari/537.36")
COUNTRY_HEADER = "CF-IPCountry"
SUBDIVISION_HEADER = "CF-Region-Code"
MASTER_SECRET = b"test-master-secret-" + b"x" * 40
DEMO_ORIGIN = "http://127.0.0.1:8000"


def canonical(obj: Any) -> bytes:
    """Our own copy of the canonical serialisation, so hashes are checked independently."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def consentry_cmd() -> list[str]:
    """The CLI as a subprocess. The module, not the installed console script: an editable
    install's script may run another checkout's code, while `-m` follows PYTHONPATH
    (test_packaging checks that the script's entry point exists)."""
    return [sys.executable, "-m", "consentry"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess, without CONSENTRY_* settings leaking in from outside.
    Rate limits are off unless `extra` sets them: load tests post from one address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    env.update({"CONSENTRY_CONSENT_RATE_LIMIT": "0", "CONSENTRY_BEACON_RATE_LIMIT": "0",
                "CONSENTRY_LOGIN_RATE_LIMIT": "0"})
    env.update(extra)
    return env


def db_rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the database file with the standard library, apart from the app's connections."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def count_events(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(db_rows(db, "SELECT COUNT(*) FROM consent_events")[0][0])
    except sqlite3.OperationalError:  # no table yet
        return 0


def site_toml(site: str, admin_hash: str, *, origin: str, accept_days: int = 365,
              reject_days: int = 180, retention_days: int = 1095) -> str:
    """A small but complete site: necessary/analytics/marketing(gpc), two vendors, a separate item."""
    return f"""
[sites.{site}]
name = "Site {site}"
origins = ["{origin}"]
languages = ["en", "zh-CN"]
revision = 3
admin_key_hashes = ["{admin_hash}"]
retention_days = {retention_days}

[sites.{site}.cookie]
name = "consent_{site}"
accept_days = {accept_days}
reject_days = {reject_days}

[sites.{site}.texts]
title.en = "Privacy at {site}"
title.zh-CN = "{site} 隐私"
description.en = "We use cookies."
description.zh-CN = "我们使用 Cookie。"
accept_all.en = "Accept all"
accept_all.zh-CN = "全部接受"
reject_all.en = "Reject all"
reject_all.zh-CN = "全部拒绝"
customise.en = "Customise"
customise.zh-CN = "自定义"
save.en = "Save"
save.zh-CN = "保存"
preferences.en = "Preferences"
preferences.zh-CN = "偏好"
close.en = "Close"
close.zh-CN = "关闭"

[sites.{site}.purposes.necessary]
necessary = true
title.en = "Necessary"
title.zh-CN = "必要"

[sites.{site}.purposes.analytics]
title.en = "Analytics"
title.zh-CN = "分析"

[sites.{site}.purposes.marketing]
gpc = true
title.en = "Marketing"
title.zh-CN = "营销"

[sites.{site}.vendors.stats]
name = "Stats Inc."
purposes = ["analytics"]

[sites.{site}.vendors.ads]
name = "Ads Inc."
purposes = ["marketing"]

[sites.{site}.separate.abroad]
kind = "cross_border"
recipient = "Abroad Ltd."
recipient_contact = "privacy@abroad.example"
countries = ["DE"]
title.en = "Send my data abroad"
title.zh-CN = "向境外提供我的数据"

[sites.{site}.regions]
default = "gdpr"

[[sites.{site}.regions.rules]]
match = ["CN"]
regime = "pipl"

[[sites.{site}.regions.rules]]
match = ["EU", "EEA"]
regime = "gdpr"

[[sites.{site}.regions.rules]]
match = ["US-CA"]
regime = "us_optout"
"""


@dataclass
class TwoSites:
    config_path: Path
    keys: dict[str, str]  # site -> admin key


@pytest.fixture
def two_sites(tmp_path: Path) -> TwoSites:
    keys: dict[str, str] = {}
    text = ""
    for site, origin in (("alpha", "https://alpha.example"), ("beta", "https://beta.example")):
        key, key_hash = generate_admin_key()
        keys[site] = key
        text += site_toml(site, key_hash, origin=origin)
    path = tmp_path / "two.toml"
    path.write_text(text, "utf-8")
    return TwoSites(path, keys)


def build_services(db: Path, config_path: Path | None = None, *,
                   master_secret: bytes = MASTER_SECRET, database: str | None = None,
                   **settings: Any) -> Services:
    """Services over the SQLite file `db`, or over `database` (any URL) when given."""
    path = config_path or demo_config_path()
    config: Config = load_config(path)
    # Rate limits off unless a test sets them: most tests post many events from one address.
    opts: dict[str, Any] = {"country_header": COUNTRY_HEADER,
                            "subdivision_header": SUBDIVISION_HEADER,
                            "secret_file": str(db.parent / "test.secret"),
                            "consent_rate_limit": 0, "beacon_rate_limit": 0,
                            "login_rate_limit": 0}
    opts.update(settings)
    s = Settings.load(path, database=database or f"sqlite:///{db}", **opts)
    return Services.build(config, s, master_secret=master_secret)


@contextlib.asynccontextmanager
async def running(svc: Services, client_ip: str = CLIENT_IP) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan, spoken to over HTTP from `client_ip`."""
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers={"User-Agent": CHROME_UA}) as client:
            yield client


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "consentry.db"


@pytest.fixture
def svc(db: Path) -> Services:
    return build_services(db)


@pytest.fixture
async def client(svc: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with running(svc) as c:
        yield c


def path_of(url: str) -> str:
    """The path and query of an absolute URL the API handed out (receipt links)."""
    u = httpx.URL(url)
    return u.raw_path.decode()


@contextlib.contextmanager
def server_process(args: list[str], env: dict[str, str], cwd: Path,
                   ready_url: str, timeout: float = 20.0) -> Iterator[subprocess.Popen[str]]:
    """Start a real server subprocess, wait until `ready_url` answers, always kill it by PID."""
    proc = subprocess.Popen(consentry_cmd() + args, env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"server exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(ready_url, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer {ready_url} within {timeout}s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


# --- PostgreSQL: the real server on 127.0.0.1:5432, a fresh database per test ---------------

# Where tests create their databases (trust auth on our machines and in CI; .ci/run starts the
# server). Not CONSENTRY_*: clean_env() strips those from servers the tests start.
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """CREATE DATABASE consentry_test_<random>, yield its URL, DROP it (even with sessions left).

    PostgreSQL not answering is an error, never a skip: CI must not pass without it."""
    import asyncio
    import secrets

    import asyncpg

    name = f"consentry_test_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise AssertionError(f"PostgreSQL at {PG_ADMIN_URL} is not answering ({exc}); "
                                 "start it (.ci/run does) - these tests never skip") from exc
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on each backend: a fresh SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'backend.db'}"
    else:
        with fresh_pg_database() as url:
            yield url


# --- Redis: the real server on 127.0.0.1:6379 (.ci/run starts it) ----------------------------

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """The test Redis; not answering is an error, never a skip (like PostgreSQL)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise AssertionError(f"Redis at {REDIS_URL} is not answering ({exc}); start it "
                             "(.ci/run does) - these tests never skip") from exc
    finally:
        client.close()
    return REDIS_URL


def dead_redis_url() -> str:
    """A Redis URL nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"

