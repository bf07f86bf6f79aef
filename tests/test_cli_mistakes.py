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
