"""The `consentry` command: check, init, export, erase, purge, demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from consentry import cli

from .conftest import (
    TwoSites,
    build_services,
    clean_env,
    consentry_cmd,
    db_rows,
    free_port,
    running,
    server_process,
)

STARTER = Path(__file__).resolve().parents[1] / "cmp" / "data" / "starter.toml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CONSENTRY_* from outside; secrets and default files land in tmp_path."""
    for k in list(os.environ):
        if k.startswith("CONSENTRY_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONSENTRY_SECRET_FILE", str(tmp_path / "cli.secret"))


# --- check / init -----------------------------------------------------------------------------


def test_init_writes_a_config_that_checks_clean(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["init", str(tmp_path / "site")], capsys)
    assert code == 0
    cfg = tmp_path / "site" / "consentry.toml"
    assert cfg.exists() and str(cfg) in out
    code, out, _ = run(["check", "--config", str(cfg)], capsys)
    assert code == 0, out
    assert "ok" in out
    # A second init does not overwrite the first (its key would be lost) ...
    before = cfg.read_text()
    code, _, err = run(["init", str(tmp_path / "site")], capsys)
    assert code == 1 and "--force" in err and cfg.read_text() == before
    # ... unless asked to, and then with a fresh key.
    code, _, _ = run(["init", str(tmp_path / "site"), "--force"], capsys)
    assert code == 0 and cfg.read_text() != before


def _starter_with(tmp_path: Path, old: str, new: str) -> Path:
    text = STARTER.read_text("utf-8")
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "key"), [
    ("accept_days = 365", "accept_days = 800", "sites.example.cookie.accept_days"),
    ('purposes = ["marketing"]', 'purposes = ["ads"]', "sites.example.vendors.meta_pixel.purposes"),
    # a vendor the grant rule could never grant
    ('purposes = ["marketing"]', 'purposes = []', "sites.example.vendors.meta_pixel.purposes"),
    ('reject_all.fr = ', 'ignored.fr = ', "sites.example.texts.reject_all"),
    ("accept_days = 365", 'accept_days = "a year"', "sites.example.cookie.accept_days"),
    ("[sites.example]", "[server]\nbogus = 1\n\n[sites.example]", "server.bogus"),
    ('name = "Example Shop"', 'name = "Example Shop', "bad.toml"),
])
def test_check_names_the_key_of_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          old: str, new: str, key: str) -> None:
    path = _starter_with(tmp_path, old, new)
    code, out, err = run(["check", "--config", str(path)], capsys)
    assert code == 1
    lines = (out + err).strip().splitlines()
    assert lines and any(ln.startswith(key) or key in ln.split(":")[0] for ln in lines), lines


def test_check_subprocess(tmp_path: Path) -> None:
    bad = _starter_with(tmp_path, "reject_days = 180", "reject_days = 500")
    r = subprocess.run([*consentry_cmd(), "check", "--config", str(bad)], capture_output=True,
                       text=True, cwd=tmp_path, env=clean_env(), timeout=60)
    assert r.returncode == 1
    assert "sites.example.cookie.reject_days" in r.stdout


async def test_init_key_works_as_the_admin_key(tmp_path: Path) -> None:
    # cli.main is synchronous; init does no asyncio, so it can run inside this test's loop.
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["init", str(tmp_path / "site")]) == 0
    m = re.search(r"admin key for site '(\w+)'.*:\n\s+(\S+)", buf.getvalue())
    assert m, buf.getvalue()
    site, key = m.group(1), m.group(2)
    svc = build_services(tmp_path / "init.db", tmp_path / "site" / "consentry.toml")
    async with running(svc) as c:
        r = await c.post(f"/v1/sites/{site}/consent", json={"action": "accept_all", "revision": 1})
        assert r.status_code == 201
        url = f"/v1/sites/{site}/subjects/{r.json()['consent_id']}"
        ok = await c.get(url, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["events"][0]["kind"] == "grant"
        assert (await c.get(url, headers={"Authorization": "Bearer x" + key})).status_code == 401
        assert (await c.get(url, headers={"Authorization": "Bearer "})).status_code == 401
    assert key not in (tmp_path / "site" / "consentry.toml").read_text()


# --- data-subject operations on a database ----------------------------------------------------


def _populate(db: Path, config: Path) -> list[str]:
    async def go() -> list[str]:
        svc = build_services(db, config)
        async with running(svc) as c:
            ids = []
            for action in ("accept_all", "reject_all"):
                r = await c.post("/v1/sites/alpha/consent",
                                 json={"action": action, "revision": 3})
                ids.append(r.json()["consent_id"])
            return ids

    return asyncio.run(go())


def test_export_erase_purge(two_sites: TwoSites, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ops.db"
    ids = _populate(db, two_sites.config_path)
    base = ["--config", str(two_sites.config_path), "--database", f"sqlite:///{db}"]

    code, out, _ = run(["export", *base, "--site", "alpha", "--subject", ids[0]], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["subject"] == ids[0] and [e["action"] for e in doc["events"]] == ["accept_all"]
    assert doc["notices"] and all("banner" in t for t in doc["notices"].values())

    code, _, err = run(["export", *base, "--site", "alpha", "--subject", "c_nobody"], capsys)
    assert code == 1 and "c_nobody" in err
    code, _, err = run(["export", *base, "--site", "nope", "--subject", ids[0]], capsys)
    assert code == 1 and "nope" in err and "Traceback" not in err

    code, out, _ = run(["erase", *base, "--site", "alpha", "--subject", ids[0], "--yes"], capsys)
    assert code == 0 and "anonymised 1 event" in out
    assert db_rows(db, "SELECT COUNT(*) FROM consent_events WHERE subject = ?", (ids[0],)) == [(0,)]
    code, _, _ = run(["export", *base, "--site", "alpha", "--subject", ids[0]], capsys)
    assert code == 1
    code, _, _ = run(["erase", *base, "--site", "alpha", "--subject", ids[0], "--yes"], capsys)
    assert code == 1
    # the other subject is still there
    code, out, _ = run(["export", *base, "--site", "alpha", "--subject", ids[1]], capsys)
    assert code == 0 and json.loads(out)["events"][0]["erased"] is False

    code, out, _ = run(["purge", *base], capsys)
    assert code == 0
    # nothing is past its lifetime or retention yet (expiry itself: test_storage, with `now`)
    assert ("alpha: 0 consent(s) expired, 0 ledger event(s) past retention anonymised, "
            "0 beacon/e-mail event(s) past retention deleted") in out
    assert "beta: 0 consent(s) expired" in out

    code, out, _ = run(["ledger", "verify", *base], capsys)
    assert code == 0, out
    assert "alpha: ok, 3 events" in out  # two consents and the erasure


def test_ledger_verify_needs_only_the_database_and_honours_storage_settings(
        two_sites: TwoSites, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "only.db"
    _populate(db, two_sites.config_path)
    assert not (tmp_path / "consentry.toml").exists()  # no config: verification needs none
    code, out, _ = run(["ledger", "verify", "--database", f"sqlite:///{db}"], capsys)
    assert code == 0 and "alpha: ok, 2 events" in out
    # the same CONSENTRY_* storage settings as the server (checked before the database opens)
    monkeypatch.setenv("CONSENTRY_PG_POOL_SIZE", "0")
    code, _, err = run(["ledger", "verify", "--database", f"sqlite:///{db}"], capsys)
    assert code == 1 and "server.pg_pool_size" in err


def test_serve_refuses_a_bad_config_with_the_key(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = _starter_with(tmp_path, 'purposes = ["marketing"]', 'purposes = ["ads"]')
    code, _, err = run(["serve", "--config", str(bad), "--port", str(free_port())], capsys)
    assert code == 1 and "sites.example.vendors.meta_pixel.purposes" in err


# --- demo -------------------------------------------------------------------------------------


def test_demo_serves_the_printed_config_url(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env()
    args = ["demo", "--port", str(port), "--dir", str(tmp_path / "demo-data")]
    with server_process(args, env, tmp_path, f"http://127.0.0.1:{port}/healthz") as proc:
        assert proc.stdout is not None
        printed = []
        for _ in range(40):
            line = proc.stdout.readline()
            printed.append(line)
            if "Ctrl+C" in line:
                break
        text = "".join(printed)
        assert "Ctrl+C" in text, text
        urls = dict(re.findall(r"^\s+(config API|demo page|admin key)\s+(\S+)", text, re.M))
        assert f":{port}/" in urls["config API"], text
        r = httpx.get(urls["config API"], timeout=5)
        assert r.status_code == 200
        cfg = r.json()
        assert cfg["site"] == "demo" and cfg["languages"] == ["en", "zh-CN"]
        page = httpx.get(urls["demo page"], timeout=5)
        assert page.status_code == 200 and "/cmp.js" in page.text
        v = httpx.get(f"http://127.0.0.1:{port}/v1/sites/demo/ledger/verify",
                      headers={"Authorization": f"Bearer {urls['admin key']}"}, timeout=5)
        assert v.status_code == 200 and v.json()["ok"] is True
        # The demo member, asked about with the printed curls as a person pastes them.
        curls = dict(re.findall(r"^\s+(person|may-contact)\s+(curl .+)$", text, re.M))
        assert set(curls) == {"person", "may-contact"}, text
        member = json.loads(_curl(curls["person"]))
        assert member["linked"] == {"email": 1, "phone": 1}
        assert member["channels"]["sms"]["*"]["allowed"] is True
        assert member["channels"]["email"]["news"]["allowed"] is True  # the sample recipient's
        answer = json.loads(_curl(curls["may-contact"]))
        assert answer["allowed"] is True and answer["reason"] == "allowed"
        assert answer["event_id"] == member["channels"]["sms"]["*"]["event_id"]
        export = httpx.get(f"http://127.0.0.1:{port}/v1/sites/demo/people/M-1001/export",
                           headers={"Authorization": f"Bearer {urls['admin key']}"}, timeout=5)
        opt_in = [e for doc in export.json()["subjects"].values() for e in doc["events"]
                  if e["event_id"] == answer["event_id"]]
        assert [e["method"] for e in opt_in] == ["signup_form"], export.text
    assert (tmp_path / "demo-data" / "consentry.db").exists()


def _curl(command: str) -> str:
    """Run a printed curl command line as a shell would split it (no shell)."""
    argv = shlex.split(command)
    assert argv[0] == "curl"
    done = subprocess.run([*argv, "--silent", "--show-error", "--fail-with-body",
                           "--max-time", "10"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout
