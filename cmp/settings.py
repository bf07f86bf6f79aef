"""Server settings, declared once as data and read by the CLI, the README and the runtime.

Precedence: command-line flag > environment variable `CONSENTRY_<NAME>` > `[server]` table of the
config file > default. A test fails if a setting here is missing from the README.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cmp.config import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("database", "sqlite:///consentry.db", "Storage URL: sqlite:///path or postgresql://…; "
            "a relative SQLite path is relative to the config file's folder."),
    Setting("secret_file", "consentry.secret", "File holding the master secret (created if missing, "
            "in a folder that must exist; relative to the config file's folder); or set "
            "CONSENTRY_SECRET. Per-site signing keys are derived from it."),
    Setting("public_url", "http://127.0.0.1:8000", "Base URL visitors reach Consentry at (receipt links)."),
    Setting("geoip_database", "", "Path to a GeoIP2/GeoLite2 Country .mmdb (relative to the config "
            "file's folder); empty: use the country header."),
    Setting("country_header", "", "Trusted CDN header with the visitor's ISO country, e.g. CF-IPCountry."),
    Setting("subdivision_header", "", "Trusted CDN header with the ISO 3166-2 subdivision, e.g. CA."),
    Setting("client_ip_header", "", "Trusted proxy header with the client IP, e.g. X-Forwarded-For "
            "(its right-most address, the one the proxy appended, is used)."),
    Setting("max_lifetime_days", 395, "Longest consent lifetime `check` accepts (13 months)."),
    Setting("max_body_bytes", 16384, "Largest request body the API reads."),
    Setting("sqlite_synchronous", "FULL", "SQLite synchronous pragma: FULL survives power loss, NORMAL only crashes."),
    Setting("batch_max", 500, "Most rows one group commit writes."),
    Setting("pg_pool_size", 10, "PostgreSQL connections each worker may open (asyncpg pool); "
            "workers x hosts x this must stay under the server's max_connections."),
    Setting("pg_statement_cache_size", 100, "Prepared statements asyncpg keeps per PostgreSQL "
            "connection; 0 behind a pooler in transaction mode (pgbouncer)."),
    Setting("redis_url", "", "Redis shared by every worker and host for rate limits and click "
            "bursts, e.g. redis://127.0.0.1:6379/0; empty: each worker keeps its own windows."),
    Setting("redis_prefix", "consentry:", "Prefix of every Redis key, so that two installs "
            "(e.g. staging and production) can share one Redis without sharing limits."),
    Setting("rate_window_s", 10, "Length of the rate-limit window in seconds."),
    Setting("consent_rate_limit", 20, "Consent POSTs per site and client network (IPv4 /24, "
            "IPv6 /48) per window; more get 429. 0: no limit."),
    Setting("beacon_rate_limit", 200, "Web beacon events per site and client network per "
            "window; more are dropped as rate_limited. 0: no limit."),
    Setting("login_rate_limit", 10, "Dashboard login attempts per client network per window; "
            "more get 429 without checking the password. 0: no limit."),
    Setting("checkpoint_interval_minutes", 0, "Sign and store a checkpoint (tree head) of each "
            "site's ledger this often while serving, when it has new events. 0: off (use "
            "`consentry ledger checkpoint`)."),
    Setting("checkpoint_dir", "", "Existing folder each new checkpoint is also written to "
            "(SITE-SIZE.json), e.g. one a backup or witness copies elsewhere; empty: none."),
    Setting("checkpoint_webhook", "", "URL each new checkpoint is POSTed to as JSON (a "
            "witness keeping copies outside the database); empty: none."),
    Setting("smtp_host", "", "SMTP server Consentry sends its own mail through (identity "
            "confirmation links of data-subject requests); empty: no mail is sent (see mail_dir)."),
    Setting("smtp_port", 587, "SMTP port (587 submission with STARTTLS, 465 implicit TLS)."),
    Setting("smtp_tls", "starttls", "starttls, tls (implicit, port 465) or none (a local relay "
            "only)."),
    Setting("smtp_user", "", "SMTP login name; empty: no authentication."),
    Setting("smtp_password", "", "SMTP password (set CONSENTRY_SMTP_PASSWORD rather than the "
            "config file)."),
    Setting("mail_from", "", "From: of Consentry's own mail, e.g. Privacy <privacy@example.com>; "
            "required with smtp_host or mail_dir."),
    Setting("mail_dir", "", "Existing folder each message is written to as an .eml file instead "
            "of being sent (the demo; a test system); used when smtp_host is empty."),
)


@dataclass(frozen=True)
class Settings:
    database: str = "sqlite:///consentry.db"
    secret_file: str = "consentry.secret"
    public_url: str = "http://127.0.0.1:8000"
    geoip_database: str = ""
    country_header: str = ""
    subdivision_header: str = ""
    client_ip_header: str = ""
    max_lifetime_days: int = 395
    max_body_bytes: int = 16384
    sqlite_synchronous: str = "FULL"
    batch_max: int = 500
    pg_pool_size: int = 10
    pg_statement_cache_size: int = 100
    redis_url: str = ""
    redis_prefix: str = "consentry:"
    rate_window_s: int = 10
    consent_rate_limit: int = 20
    beacon_rate_limit: int = 200
    login_rate_limit: int = 10
    checkpoint_interval_minutes: int = 0
    checkpoint_dir: str = ""
    checkpoint_webhook: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = ""
    mail_dir: str = ""

    @classmethod
    def load(cls, config_path: str | Path | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        if config_path is not None:
            try:
                server = tomllib.loads(Path(config_path).read_text("utf-8")).get("server", {})
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                server = {}  # load_config reports file problems with better messages
            for key in server:
                if key not in _NAMES:
                    raise ConfigError([f"server.{key}: unknown setting"])
            # Files the config names (or the defaults stand for) belong with the config, not
            # with wherever the command happens to run: from another folder, a cwd-relative
            # default would silently start a new, empty ledger and a new secret.
            base = Path(config_path).resolve().parent
            for name in _PATHS:
                value = server.get(name, _DEFAULTS[name])
                values[name] = _against(base, value) if isinstance(value, str) else value
            values.update({k: v for k, v in server.items() if k not in _PATHS})
        for s in SETTINGS:
            env = os.environ.get(f"CONSENTRY_{s.name.upper()}")
            if env is not None:
                values[s.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        out: dict[str, Any] = {}
        for s in SETTINGS:
            v = values.get(s.name, s.default)
            if isinstance(s.default, int):
                try:
                    v = int(v)
                except (TypeError, ValueError):
                    raise ConfigError([f"server.{s.name}: must be an integer"]) from None
            out[s.name] = v
        if out["sqlite_synchronous"] not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError(["server.sqlite_synchronous: must be FULL, NORMAL or EXTRA"])
        if out["pg_pool_size"] < 1:
            raise ConfigError(["server.pg_pool_size: must be at least 1"])
        if out["pg_statement_cache_size"] < 0:
            raise ConfigError(["server.pg_statement_cache_size: must be 0 or more"])
        if not out["redis_prefix"]:
            raise ConfigError(["server.redis_prefix: must not be empty"])
        if out["rate_window_s"] < 1:
            raise ConfigError(["server.rate_window_s: must be at least 1"])
        if out["checkpoint_interval_minutes"] < 0:
            raise ConfigError(["server.checkpoint_interval_minutes: must be 0 (off) or more"])
        if out["checkpoint_webhook"] and not str(out["checkpoint_webhook"]).startswith(
                ("http://", "https://")):
            raise ConfigError(["server.checkpoint_webhook: must be an http:// or https:// URL"])
        if out["smtp_tls"] not in ("starttls", "tls", "none"):
            raise ConfigError(["server.smtp_tls: must be starttls, tls or none"])
        if not 0 < out["smtp_port"] < 65536:
            raise ConfigError(["server.smtp_port: must be a port number (1-65535)"])
        if (out["smtp_host"] or out["mail_dir"]) and "@" not in str(out["mail_from"]):
            raise ConfigError(["server.mail_from: an address like Privacy <privacy@example.com> "
                               "is required to send or write mail"])
        for name in ("consent_rate_limit", "beacon_rate_limit", "login_rate_limit"):
            if out[name] < 0:
                raise ConfigError([f"server.{name}: must be 0 (no limit) or more"])
        if out["redis_url"] and not str(out["redis_url"]).startswith(
                ("redis://", "rediss://", "unix://")):
            raise ConfigError(["server.redis_url: must be redis://, rediss:// or unix://"])
        return cls(**out)


_NAMES = {s.name for s in SETTINGS}
_DEFAULTS = {s.name: s.default for s in SETTINGS}
# Settings naming a file; relative ones in a config file are relative to that file's folder.
# (On the command line or in the environment they stay relative to the current directory,
# as a shell user expects.)
_PATHS = ("database", "secret_file", "geoip_database")


def _against(base: Path, value: str) -> str:
    """`value` (a path or a sqlite:/// URL) with a relative path made absolute under `base`."""
    if value.startswith("sqlite:///"):
        path = value.removeprefix("sqlite:///")
        return "sqlite:///" + str(base / Path(path).expanduser()) if path else value
    if "://" in value or not value:  # another backend's URL, or "not set"
        return value
    return str(base / Path(value).expanduser())  # `base / absolute` is the absolute path
assert _NAMES == {f.name for f in fields(Settings)}, "SETTINGS and Settings disagree"
