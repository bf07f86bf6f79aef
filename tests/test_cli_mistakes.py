"""A newcomer's mistakes, made the way a new user makes them: through `python -m consentry`.

Each mistake must end in one line naming the problem and exit status 1 — never a traceback,
never output that reads as if it had worked, never a side effect (a send counted, a folder made).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import clean_env, consentry_cmd, db_rows
from tests.test_email_flow import BASE, HTML, SECRET, write_config
from tests.test_email_prepare import rsa_key


def consentry(*args: str, cwd: Path, env: dict[str, str] | None = None,
              stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*consentry_cmd(), *args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, input=stdin, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The run failed with status 1 and said why in one line on stderr, with no traceback."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# --- files the e-mail commands read -----------------------------------------------------------

def _email_env(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    cfg, _ = write_config(tmp_path)
    db = tmp_path / "cli.db"
    env = clean_env(CONSENTRY_SECRET=SECRET.decode(), CONSENTRY_PUBLIC_URL=BASE)
    return ["--config", str(cfg), "--database", f"sqlite:///{db}", "--site", "shop"], env, db


def _subscribe_ann(tmp_path: Path, base: list[str], env: dict[str, str]) -> None:
    csv_file = tmp_path / "ann.csv"
    csv_file.write_text("email,lists,tracking\nann@example.com,news,yes\n", "utf-8")
    r = consentry("email", "import", *base, str(csv_file), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr


def _prepare(base: list[str], html: Path, *extra: str) -> list[str]:
    return ["email", "prepare", *base, "--campaign", "spring", "--list", "news",
            "--to", "ann@example.com", "--subject", "Spring", "--html", str(html),
            "--out", str(html.parent / "out.eml"), *extra]


def _sends(db: Path) -> int:
    return int(db_rows(db, "SELECT COUNT(*) FROM email_engagement WHERE kind = 'send'")[0][0])


def test_import_of_a_missing_csv_is_one_line(tmp_path: Path) -> None:
    base, env, _ = _email_env(tmp_path)
    r = consentry("email", "import", *base, str(tmp_path / "nosuch.csv"), cwd=tmp_path, env=env)
    one_line_error(r, "nosuch.csv")


def test_prepare_with_a_missing_html_file_is_one_line(tmp_path: Path) -> None:
    base, env, db = _email_env(tmp_path)
    _subscribe_ann(tmp_path, base, env)
    r = consentry(*_prepare(base, tmp_path / "nosuch.html"), cwd=tmp_path, env=env)
    one_line_error(r, "--html", "nosuch.html")
    assert _sends(db) == 0


@pytest.mark.parametrize("key", ["missing", "not-pem", "garbled-pem", "binary"])
def test_a_bad_dkim_key_is_refused_before_the_send_is_counted(tmp_path: Path, key: str) -> None:
    base, env, db = _email_env(tmp_path)
    _subscribe_ann(tmp_path, base, env)
    html = tmp_path / "m.html"
    html.write_text(HTML, "utf-8")
    pem = tmp_path / "k.pem"
    if key == "not-pem":
        pem.write_text("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0B\n")  # the DNS record, not the key
    elif key == "garbled-pem":
        pem.write_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n-----END PRIVATE KEY-----\n")
    elif key == "binary":
        pem.write_bytes(b"\xff\xfe\x00\x01")
    dkim = ["--dkim-key", str(pem), "--dkim-selector", "s1", "--dkim-domain", "shop.example"]
    r = consentry(*_prepare(base, html, *dkim), cwd=tmp_path, env=env)
    one_line_error(r, "--dkim-key")
    assert _sends(db) == 0  # no phantom send in the campaign's counts
    assert not (tmp_path / "out.eml").exists()
    # the same command with a real key works, and counts exactly one send
    pem.write_bytes(rsa_key()[0])
    r = consentry(*_prepare(base, html, *dkim), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert _sends(db) == 1


async def test_a_bad_dkim_key_is_refused_when_the_library_builds_it() -> None:
    from cmp.errors import FieldError
    from pixel.email.prepare import DkimKey

    with pytest.raises(FieldError) as exc:
        DkimKey("s1", "shop.example", b"not a key")
    assert exc.value.field == "dkim_key"
    DkimKey("s1", "shop.example", rsa_key()[0])


def test_prepare_into_a_missing_folder_is_refused_before_the_send(tmp_path: Path) -> None:
    base, env, db = _email_env(tmp_path)
    _subscribe_ann(tmp_path, base, env)
    html = tmp_path / "m.html"
    html.write_text(HTML, "utf-8")
    argv = _prepare(base, html)
    argv[argv.index("--out") + 1] = str(tmp_path / "nosuch" / "out.eml")
    r = consentry(*argv, cwd=tmp_path, env=env)
    one_line_error(r, "--out", "nosuch")
    assert _sends(db) == 0


# --- where the database and the secret live ---------------------------------------------------

def test_default_database_and_secret_live_with_the_config_not_the_cwd(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    cfg, _ = write_config(home)  # no [server] table: the defaults
    csv_file = home / "ann.csv"
    csv_file.write_text("email,lists,tracking\nann@example.com,news,yes\n", "utf-8")
    r = consentry("email", "import", "--config", str(cfg), "--site", "shop", str(csv_file),
                  cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert (home / "consentry.db").exists() and (home / "consentry.secret").exists()
    # From yet another folder, by a relative config path: the same ledger and secret.
    r = consentry("ledger", "verify", "--config", "../site/shop.toml", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "shop: ok, 1 events" in r.stdout, r.stdout
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing made where we stood


def test_relative_paths_in_the_server_table_are_relative_to_the_config(tmp_path: Path) -> None:
    from cmp.settings import Settings

    (tmp_path / "data").mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\ndatabase = "sqlite:///data/x.db"\nsecret_file = "data/s"\n'
                   'geoip_database = "geo/c.mmdb"\n', "utf-8")
    s = Settings.load(cfg)
    assert s.database == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    assert s.secret_file == str(tmp_path / "data" / "s")
    assert s.geoip_database == str(tmp_path / "geo" / "c.mmdb")
    # absolute paths and other backends are left as they are; flags stay relative to the cwd
    cfg.write_text('[server]\ndatabase = "postgresql://u@h/db"\nsecret_file = "/etc/s"\n', "utf-8")
    s = Settings.load(cfg)
    assert (s.database, s.secret_file) == ("postgresql://u@h/db", "/etc/s")
    assert Settings.load(cfg, database="sqlite:///here.db").database == "sqlite:///here.db"


@pytest.mark.parametrize("what", ["secret_file", "database"])
def test_a_file_in_a_missing_folder_is_refused_and_no_folder_made(tmp_path: Path,
                                                                  what: str) -> None:
    cfg, _ = write_config(tmp_path)
    missing = tmp_path / "typo" / "deeper"
    env = clean_env(CONSENTRY_SECRET_FILE=str(tmp_path / "s.secret"),
                    CONSENTRY_DATABASE=f"sqlite:///{tmp_path / 'c.db'}")
    if what == "secret_file":
        env["CONSENTRY_SECRET_FILE"] = str(missing / "consentry.secret")
    else:
        env["CONSENTRY_DATABASE"] = f"sqlite:///{missing / 'consentry.db'}"
    r = consentry("export", "--config", str(cfg), "--site", "shop", "--subject", "c_x",
                  cwd=tmp_path, env=env)
    one_line_error(r, f"server.{what}", str(missing))
    assert not (tmp_path / "typo").exists()


# --- a wrong database, a busy port ------------------------------------------------------------

BAD_DATABASES = {
    "refused": "postgresql://bob:hunter2@127.0.0.1:1/test",
    "no-such-database": "postgresql://postgres:hunter2@127.0.0.1:5432/consentry_nosuch_db",
    "no-such-role": "postgresql://consentry_nobody:hunter2@127.0.0.1:5432/test",
    "bad-port": "postgresql://bob:hunter2@127.0.0.1:notaport/test",
    "query-password": "postgresql://bob@127.0.0.1:1/test?password=hunter2",
    "no-such-backend": "mysql://bob:hunter2@127.0.0.1/test",
}


@pytest.mark.parametrize("case", sorted(BAD_DATABASES))
def test_a_wrong_database_url_is_one_line_with_the_password_redacted(tmp_path: Path,
                                                                      case: str) -> None:
    url = BAD_DATABASES[case]
    cfg, _ = write_config(tmp_path)
    env = clean_env(CONSENTRY_SECRET=SECRET.decode())
    for argv in (["ledger", "verify", "--database", url],  # no config needed to verify
                 ["export", "--config", str(cfg), "--database", url, "--site", "shop",
                  "--subject", "c_x"]):
        r = consentry(*argv, cwd=tmp_path, env=env)
        line = one_line_error(r, "server.database", "***")
        assert "hunter2" not in r.stderr + r.stdout, line


def test_serve_with_a_wrong_database_prints_nothing_as_if_it_worked(tmp_path: Path) -> None:
    from tests.conftest import free_port

    cfg, _ = write_config(tmp_path)
    r = consentry("serve", "--config", str(cfg), "--port", str(free_port()),
                  "--database", BAD_DATABASES["refused"], cwd=tmp_path,
                  env=clean_env(CONSENTRY_SECRET=SECRET.decode()))
    one_line_error(r, "server.database", "bob:***@127.0.0.1:1")
    assert "hunter2" not in r.stderr and r.stdout == ""  # no "serving on …"


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_is_one_line_and_nothing_printed_as_if_it_worked(tmp_path: Path,
                                                                      command: str) -> None:
    import socket

    cfg, _ = write_config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = (["serve", "--config", str(cfg), "--database", f"sqlite:///{tmp_path / 'c.db'}"]
                if command == "serve" else ["demo", "--dir", str(tmp_path / "demo")])
        r = consentry(*argv, "--port", str(port), cwd=tmp_path,
                      env=clean_env(CONSENTRY_SECRET=SECRET.decode()))
    one_line_error(r, "--port", f"127.0.0.1:{port}")
    assert r.stdout == "", r.stdout  # neither "serving on …" nor the demo's URLs


# --- ledger verify with nothing to verify -----------------------------------------------------

def test_ledger_verify_of_a_database_with_no_ledger_is_an_error(tmp_path: Path) -> None:
    cfg, _ = write_config(tmp_path)
    env = clean_env(CONSENTRY_SECRET=SECRET.decode())
    # a file that does not exist is not made (and then found empty)
    r = consentry("ledger", "verify", "--database", f"sqlite:///{tmp_path / 'typo.db'}",
                  cwd=tmp_path, env=env)
    one_line_error(r, "no ledger", "typo.db")
    assert not (tmp_path / "typo.db").exists()
    # a database that exists but holds no consent event: with and without a config
    base, env, db = _email_env(tmp_path)
    r = consentry("export", *base, "--subject", "c_x", cwd=tmp_path, env=env)  # makes the db
    assert db.exists() and r.returncode == 1
    for argv in (["--database", f"sqlite:///{db}"], base[:4]):
        r = consentry("ledger", "verify", *argv, cwd=tmp_path, env=env)
        one_line_error(r, "no ledger", str(db))
    # once there is a ledger, a site it does not hold is an error too, and the ledger is ok
    _subscribe_ann(tmp_path, base, env)
    r = consentry("ledger", "verify", *base[:4], "--site", "shpo", cwd=tmp_path, env=env)
    one_line_error(r, "--site", "shpo")
    r = consentry("ledger", "verify", *base[:4], cwd=tmp_path, env=env)
    assert r.returncode == 0 and "shop: ok" in r.stdout, r.stdout + r.stderr


# --- help, and erase asks first ---------------------------------------------------------------

def _walk(parser: object, path: tuple[str, ...] = ("consentry",)):  # type: ignore[no-untyped-def]
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            for name, sub in action.choices.items():
                yield path + (name,), None, name in helped
                yield from _walk(sub, path + (name,))
        elif not isinstance(action, argparse._HelpAction):
            yield path, "/".join(action.option_strings) or action.dest, bool(action.help)


def test_every_command_and_option_has_help() -> None:
    from consentry.cli import build_parser

    missing = [" ".join(path) + (f" {opt}" if opt else "")
               for path, opt, helped in _walk(build_parser()) if not helped]
    assert missing == [], f"no help text: {missing}"


def test_the_top_level_help_names_every_command(tmp_path: Path) -> None:
    from consentry.cli import build_parser

    r = consentry("--help", cwd=tmp_path)
    assert r.returncode == 0
    description = build_parser().description or ""
    commands = {path[1] for path, opt, _ in _walk(build_parser()) if opt is None and len(path) == 2}
    assert "email" in commands
    for command in commands:
        assert f"{command}" in description, command
        assert command in r.stdout


def _erase(tmp_path: Path) -> tuple[list[str], dict[str, str], Path, str]:
    import sqlite3

    base, env, db = _email_env(tmp_path)
    _subscribe_ann(tmp_path, base, env)
    subject = str(sqlite3.connect(db).execute("SELECT subject FROM consent_events").fetchone()[0])
    return ["erase", *base, "--subject", subject], env, db, subject


def _subject_events(db: Path, subject: str) -> int:
    return int(db_rows(db, "SELECT COUNT(*) FROM consent_events WHERE subject = ?",
                       (subject,))[0][0])


def test_erase_without_a_terminal_and_without_yes_refuses(tmp_path: Path) -> None:
    argv, env, db, subject = _erase(tmp_path)
    r = consentry(*argv, cwd=tmp_path, env=env, stdin="y\n")  # a pipe, not a person
    one_line_error(r, "--yes")
    assert _subject_events(db, subject) == 1
    r = consentry(*argv, "--yes", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "anonymised 1 event" in r.stdout, r.stderr
    assert _subject_events(db, subject) == 0


@pytest.mark.parametrize(("answer", "erased"), [("y", True), ("yes", True), ("n", False),
                                                ("", False), ("maybe", False)])
def test_erase_asks_a_person_at_a_terminal(tmp_path: Path, answer: str, erased: bool) -> None:
    import os
    import pty

    argv, env, db, subject = _erase(tmp_path)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([*consentry_cmd(), *argv], cwd=tmp_path, env=env,
                                stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(follower)
        assert proc.stderr is not None
        prompt = b""
        while b"[y/N]" not in prompt:
            chunk = proc.stderr.read1(1024)  # the question, on stderr (stdout stays data)
            assert chunk, prompt
            prompt += chunk
        assert subject.encode() in prompt and b"shop" in prompt
        os.write(leader, answer.encode() + b"\n")
        out_b, err_b = proc.communicate(timeout=60)
        err = (prompt + err_b).decode()
    finally:
        os.close(leader)
    assert proc.returncode == (0 if erased else 1), err
    assert _subject_events(db, subject) == (0 if erased else 1)
    if not erased:
        assert "not erased" in err and "Traceback" not in err


# --- unsubscribe_mailto, however it is written ------------------------------------------------

@pytest.mark.parametrize("written", ["unsubscribe@shop.example", "mailto:unsubscribe@shop.example",
                                     "MAILTO:unsubscribe@shop.example"])
def test_unsubscribe_mailto_with_or_without_the_scheme_gives_one_mailto(tmp_path: Path,
                                                                        written: str) -> None:
    import email
    from email import policy

    base, env, _ = _email_env(tmp_path)
    cfg = Path(base[1])
    text = cfg.read_text("utf-8")
    cfg.write_text(text.replace('unsubscribe_mailto = "unsubscribe@shop.example"',
                                f'unsubscribe_mailto = "{written}"'), "utf-8")
    _subscribe_ann(tmp_path, base, env)
    html = tmp_path / "m.html"
    html.write_text(HTML, "utf-8")
    r = consentry(*_prepare(base, html), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    msg = email.message_from_bytes((tmp_path / "out.eml").read_bytes(), policy=policy.default)
    header = str(msg["List-Unsubscribe"])
    assert "<mailto:unsubscribe@shop.example?subject=unsubscribe-" in header, header
    assert header.lower().count("mailto:") == 1, header


@pytest.mark.parametrize("written", ["mailto:mailto:x@shop.example", "x@shop.example?subject=hi",
                                     "mailto:", "x@localhost", "<x@shop.example>",
                                     "a@b@shop.example"])
def test_check_refuses_an_unsubscribe_mailto_that_is_not_one_address(tmp_path: Path,
                                                                     written: str) -> None:
    cfg, _ = write_config(tmp_path)
    cfg.write_text(cfg.read_text("utf-8").replace('"unsubscribe@shop.example"', f'"{written}"'),
                   "utf-8")
    r = consentry("check", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert "sites.shop.email.unsubscribe_mailto" in r.stdout + r.stderr, r.stdout + r.stderr


# --- the demo shows everything ----------------------------------------------------------------

def test_demo_prints_and_serves_every_side_and_a_sample_tracked_email(tmp_path: Path) -> None:
    import re

    import httpx

    from tests.conftest import CHROME_UA, free_port, server_process

    port = free_port()
    data = tmp_path / "demo-data"
    base = f"http://127.0.0.1:{port}"
    with server_process(["demo", "--port", str(port), "--dir", str(data)], clean_env(), tmp_path,
                        f"{base}/healthz") as proc:
        assert proc.stdout is not None
        lines = []
        while not lines or "Ctrl+C" not in lines[-1]:
            lines.append(proc.stdout.readline())
            assert lines[-1], "".join(lines)
        text = "".join(lines)
        printed = dict(re.findall(r"^\s+(\S+(?: \S+)*?)\s{2,}(\S+)", text, re.M))
        for label, path in (("dashboard", "/dashboard/"), ("tag gate page", "/demo/tags"),
                            ("what ran", "/demo/hits"), ("demo page", "/")):
            assert printed[label] == base + path, (label, text)
        assert httpx.get(f"{base}/demo/tags", timeout=5).status_code == 200
        assert httpx.get(f"{base}/demo/hits", timeout=5).status_code == 200
        assert httpx.get(f"{base}/dashboard/", timeout=5).status_code in (200, 303)
        # the sample message is in the demo folder, and its printed links work
        eml, html = data / "sample-email.eml", data / "sample-email.html"
        assert printed["sample e-mail"] == str(eml) and eml.exists() and html.exists()
        body = html.read_text("utf-8")
        for label in ("open pixel", "click", "unsubscribe"):
            assert printed[label].startswith(base + "/e/"), (label, text)
            assert printed[label].replace("&", "&amp;") in body or label == "unsubscribe"
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in eml.read_bytes()
        pixel = httpx.get(printed["open pixel"], headers={"User-Agent": CHROME_UA}, timeout=5)
        assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
        click = httpx.get(printed["click"], timeout=5)
        assert click.status_code in (302, 303) and click.headers["location"] == base + "/"
        page = httpx.get(printed["unsubscribe"], timeout=5)
        assert page.status_code == 200 and "<form" in page.text
        # each regime from the demo page: EU, US-CA, CN (and back to "unknown": the strictest)
        home = httpx.get(base + "/", timeout=5).text
        for region in ("DE", "US-CA", "CN"):
            assert f'href="/?region={region}"' in home
        regimes = {}
        with httpx.Client(base_url=base, timeout=5) as c:
            for region in ("DE", "US-CA", "CN", "auto"):
                r = c.get(f"/?region={region}")  # the link sets a cookie ...
                assert r.status_code == 200
                regimes[region] = c.get("/v1/sites/demo/config").json()["regime"]  # ... kept
        assert regimes == {"DE": "gdpr", "US-CA": "us_optout", "CN": "pipl", "auto": "pipl"}
        zh = httpx.get(base + "/", headers={"Accept-Language": "zh-CN"}, timeout=5).text
        assert "试试各地区的规则" in zh and "Try each regime" in home


def test_the_demo_config_has_an_email_side() -> None:
    from cmp.config import demo_config_path, load_config

    site = load_config(demo_config_path()).sites["demo"]
    assert site.email is not None and site.email.lists
    for text in (site.email.tracking_text, *(lst.title for lst in site.email.lists.values())):
        assert set(text) >= set(site.languages)


async def test_region_switching_exists_only_in_demo_mode(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from cmp.config import demo_config_path
    from consentry.server import app_from_env

    for k in list(__import__("os").environ):
        if k.startswith("CONSENTRY_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("CONSENTRY_CONFIG", str(demo_config_path()))
    monkeypatch.setenv("CONSENTRY_DATABASE", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CONSENTRY_SECRET", SECRET.decode())
    monkeypatch.setenv("CONSENTRY_COUNTRY_HEADER", "X-Country")

    async def regime(cookie: str, query: str = "") -> tuple[str, str | None]:
        app = app_from_env()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.get(f"/v1/sites/demo/config{query}",
                                headers={"Cookie": f"consentry_demo_region={cookie}"})
                return r.json()["regime"], r.headers.get("set-cookie")

    # outside demo mode neither the cookie nor ?region= does anything: no header, strictest
    assert await regime("DE") == ("pipl", None)
    assert await regime("DE", "?region=US-CA") == ("pipl", None)
    monkeypatch.setenv("CONSENTRY_DEMO", "1")
    assert (await regime("DE"))[0] == "gdpr"
    got, cookie = await regime("DE", "?region=US-CA")
    assert got == "us_optout" and cookie is not None and "US-CA" in cookie
    assert (await regime("nonsense"))[0] == "pipl"  # only the offered places
