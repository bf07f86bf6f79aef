"""The services one running app holds, built once at startup (no framework types here)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmp.asks import AskService
from cmp.cases import CaseService
from cmp.checkpoints import CheckpointService
from cmp.config import Config, ConfigError
from cmp.consent import ConsentService
from cmp.identify import IdentifyService
from cmp.keys import Keyring, load_master_secret
from cmp.people import PeopleService
from cmp.policy import PolicyEngine
from cmp.ratelimit import RateLimits
from cmp.settings import Settings
from cmp.storage.base import Storage, StorageError
from cmp.storage.factory import open_storage
from cmp.tokens import TokenService
from cmp.windows import Windows, open_windows


def storage_for(settings: Settings) -> Storage:
    """The storage `settings.database` names, with every storage setting applied (the server
    and the CLI commands that open a database go through here)."""
    if settings.database.startswith("sqlite:///"):
        folder = Path(settings.database.removeprefix("sqlite:///")).parent
        # SQLite would happily start a new, empty ledger in a folder made for it: a mistyped
        # path must be an error, not a fresh database whose `ledger verify` says ok.
        if not folder.is_dir():
            raise ConfigError([f"server.database: folder {folder} does not exist "
                               f"(Consentry creates the database, not its folder)"])
    try:
        return open_storage(settings.database, synchronous=settings.sqlite_synchronous,
                            batch_max=settings.batch_max, pg_pool_size=settings.pg_pool_size,
                            pg_statement_cache_size=settings.pg_statement_cache_size)
    except StorageError:
        raise ConfigError([f"server.database: {redact_url(settings.database)} must start with "
                           f"sqlite:/// or postgresql://"]) from None


_URL_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")
_QUERY_PASSWORD = re.compile(r"(?i)(?<=[?&]password=)[^&]*")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***: for messages and logs."""
    return _QUERY_PASSWORD.sub("***", _URL_PASSWORD.sub(r"\1:***@", url))


async def open_checked(storage: Storage, url: str) -> None:
    """Open `storage`, or fail with one line naming the setting, the (redacted) URL and why.

    A wrong or unreachable database is a person's mistake, not a crash: drivers answer it with
    a pile of exception types (and sometimes the URL, password included, in the message)."""
    try:
        await storage.open()
    except (StorageError, OSError, ValueError, sqlite3.Error) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        password = _password(url)
        if password:
            why = why.replace(password, "***")
        raise ConfigError([f"server.database: cannot open {redact_url(url)}: {why}"]) from None


def _password(url: str) -> str:
    m = re.search(r"://[^/@:]*:([^/@]*)@", url) or re.search(r"(?i)[?&]password=([^&]*)", url)
    return m.group(1) if m else ""


@dataclass
class Services:
    config: Config
    settings: Settings
    storage: Storage
    policy: PolicyEngine
    keyring: Keyring
    tokens: TokenService
    consent: ConsentService
    # Extra admin-key hashes per site granted at runtime (the demo prints a fresh key).
    extra_admin_hashes: dict[str, list[str]]
    # Sliding windows (rate limits, click bursts): in memory, or in Redis shared by all workers.
    windows: Windows
    limits: RateLimits
    # Signed tree heads of the ledger (cmp/checkpoints.py).
    checkpoints: CheckpointService
    # People across browsers and channels (cmp/people.py).
    people: PeopleService
    # Per-recipient separate consent, asked in context (cmp/asks.py).
    asks: AskService
    # Person hints: a member's choice on every browser they sign in on (cmp/identify.py).
    identify: IdentifyService
    # Data-subject request cases (cmp/cases.py).
    cases: CaseService

    @classmethod
    def build(cls, config: Config, settings: Settings, *, master_secret: bytes | None = None,
              extra_admin_hashes: dict[str, list[str]] | None = None) -> Services:
        keyring = Keyring(master_secret or load_master_secret(settings.secret_file))
        storage = storage_for(settings)
        policy = PolicyEngine(config, settings)
        tokens = TokenService(keyring)
        checkpoints = CheckpointService(storage, keyring)
        consent = ConsentService(config, storage, policy, tokens, keyring, checkpoints)
        windows = open_windows(settings.redis_url, settings.redis_prefix)
        people = PeopleService(config, storage, consent, keyring)
        return cls(config, settings, storage, policy, keyring, tokens, consent,
                   extra_admin_hashes or {}, windows, RateLimits(windows, settings), checkpoints,
                   people, AskService(config, people, keyring), IdentifyService(people, consent),
                   CaseService(config, storage, consent, keyring))

    def admin_hashes(self, site_id: str) -> list[str]:
        site = self.config.sites.get(site_id)
        own = list(site.admin_key_hashes) if site else []
        return own + self.extra_admin_hashes.get(site_id, [])


def services(request: Any) -> Services:
    """The Services of the app serving `request` (a Starlette Request)."""
    svc: Services = request.app.state.services
    return svc
