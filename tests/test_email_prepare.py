"""Prepared messages: RFC 8058 headers audited by `listunsub` (whose provider POST then
unsubscribes), DKIM signatures verified by dkimpy with h= covering both headers, refusals, and
the `consentry email import` / `email prepare` commands as a sender would run them."""

from __future__ import annotations

import base64
import email
import sqlite3
import subprocess
from email import policy
from pathlib import Path

import dkim
import listunsub
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import clean_env, consentry_cmd, db_rows
from tests.test_email_flow import BASE, HTML, SECRET, Env, path, write_config
from tests.test_email_flow import env as env  # noqa: F401  (the fixture)


def rsa_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_for(txt: bytes, selector: str = "s1", domain: str = "shop.example"):
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == f"{selector}._domainkey.{domain}.".encode() else None
    return dnsfunc


async def test_headers_pass_listunsub_audit_and_its_provider_post_unsubscribes(env: Env) -> None:
    await env.subscribe("ann@example.com", ["news"], tracking=True)
    prep = await env.prepare("ann@example.com", HTML)
    lu, post = prep.headers["List-Unsubscribe"], prep.headers["List-Unsubscribe-Post"]
    assert listunsub.audit(lu, post) == []
    parsed = listunsub.parse_header(lu, strict=True)
    assert parsed.uris[0].startswith("https://") and parsed.mailto  # HTTPS first, then mailto
    action = listunsub.choose(lu, post, dkim_verified=True)
    assert action is not None and action.kind == "one-click"
    for form in ("multipart", "urlencoded"):
        req = listunsub.one_click_request(action.uri, form=form)  # type: ignore[arg-type]
        env.client.cookies.clear()
        r = await env.client.request(req.method, path(req.url), content=req.body,
                                     headers=req.headers)
        assert r.status_code == 200 and "location" not in r.headers
    rows = env.rows("SELECT kind, payload FROM consent_events WHERE kind = 'withdraw'")
    assert len(rows) == 1 and '"news":false' in rows[0][1]
    assert env.rows("SELECT scope FROM email_suppressions") == [("news",)]


async def test_dkim_signed_message_verifies_and_covers_both_headers(env: Env) -> None:
    from pixel.email.prepare import DkimKey

    await env.subscribe("bob@example.com", ["news"], tracking=True)
    prep = await env.prepare("bob@example.com", HTML)
    pem, txt = rsa_key()
    raw = prep.message(to="bob@example.com", sender="Shop <news@shop.example>",
                       subject="Spring sale", dkim_key=DkimKey("s1", "shop.example", pem))
    assert dkim.verify(raw, dnsfunc=dns_for(txt))
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    sig = str(msg["DKIM-Signature"])
    assert listunsub.dkim_covers(sig)
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(listunsub.signed_headers(sig))
    assert listunsub.audit(msg.get_all("List-Unsubscribe"), msg.get_all("List-Unsubscribe-Post"),
                           dkim_signatures=msg.get_all("DKIM-Signature")) == []
    # Tampering with the one-click header breaks the signature.
    forged = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                         b"List-Unsubscribe-Post: List-Unsubscribe=One-Clock")
    assert forged != raw and not dkim.verify(forged, dnsfunc=dns_for(txt))
    html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    body = html_part.get_payload(decode=True).decode()
    assert "/e/o/" in body and "Unsubscribe" in body


async def test_refused_without_consent_or_when_suppressed(env: Env) -> None:
    from pixel.email.prepare import Refused

    with pytest.raises(Refused, match="no marketing consent"):
        await env.prepare("nobody@example.com", HTML)
    await env.subscribe("cy@example.com", ["news"], tracking=True)
    with pytest.raises(Refused, match="no marketing consent"):
        await env.prepare("cy@example.com", HTML, list_id="deals")
    prep = await env.prepare("cy@example.com", HTML)
    await env.client.post(path(prep.unsubscribe_url), data={"List-Unsubscribe": "One-Click"})
    with pytest.raises(Refused, match="unsubscribed"):
        await env.prepare("CY@Example.com ", HTML)  # same recipient after normalisation


def _sends(env: Env) -> list[tuple[object, ...]]:
    return env.rows("SELECT campaign, message, recipient, list, link, class, machine, reason, ts, "
                    "ts_ms FROM email_engagement WHERE kind = 'send' ORDER BY id")


async def test_each_prepared_message_is_one_send_and_a_refused_one_none(env: Env) -> None:
    from pixel.email.prepare import Refused

    await env.subscribe("ann@example.com", ["news"], tracking=True)
    await env.subscribe("bob@example.com", ["news"], tracking=False)
    with pytest.raises(Refused):
        await env.prepare("nobody@example.com", HTML)
    with pytest.raises(Refused):
        await env.prepare("ann@example.com", HTML, list_id="deals")
    assert _sends(env) == []
    preps = [await env.prepare("ann@example.com", HTML, now=1_700_000_000.5),
             await env.prepare("ann@example.com", HTML, now=1_700_000_001),
             await env.prepare("bob@example.com", HTML, campaign="summer", now=1_700_000_002)]
    assert [p.tracked for p in preps] == [True, True, False]  # untracked mail is a send too
    assert _sends(env) == [
        (p.campaign, p.message_id, p.recipient, "news", None, "sent", 0, None, ts, ms)
        for p, ts, ms in zip(preps, ("2023-11-14T22:13:20.500Z", "2023-11-14T22:13:21.000Z",
                                     "2023-11-14T22:13:22.000Z"),
                             (1_700_000_000_500, 1_700_000_001_000, 1_700_000_002_000),
                             strict=True)]
    assert all(str(r[2]).startswith("r_") and "@" not in str(r[2]) for r in _sends(env))
    # Sends are not opens or clicks: nothing else was stored.
    assert env.rows("SELECT COUNT(*) FROM email_engagement WHERE kind <> 'send'") == [(0,)]

    # A suppression the pre-check missed (committed by another worker in between) is seen by
    # the writer's transaction: refused, and no send.
    ann = preps[0].recipient
    stale = env.email.consents.storage.email_suppressions

    async def before_the_unsubscribe(site: str, recipient: str) -> set[str]:
        return set()

    conn = sqlite3.connect(env.db)
    with conn:
        conn.execute("INSERT INTO email_suppressions VALUES ('shop', ?, '#all', 'test', 't')",
                     (ann,))
    conn.close()
    env.email.consents.storage.email_suppressions = before_the_unsubscribe  # type: ignore[method-assign]
    try:
        with pytest.raises(Refused, match="unsubscribed"):
            await env.prepare("ann@example.com", HTML)
    finally:
        env.email.consents.storage.email_suppressions = stale  # type: ignore[method-assign]
    assert len(_sends(env)) == 3
    # Stopping tracking does not stop the send being counted (it is not tracking).
    with sqlite3.connect(env.db) as conn:
        conn.execute("INSERT INTO email_suppressions VALUES ('shop', ?, '#tracking', 't', 't')",
                     (preps[2].recipient,))
    conn.close()
    p = await env.prepare("bob@example.com", HTML, campaign="summer")
    assert not p.tracked and len(_sends(env)) == 4

    # Erasure unlinks the sends from the recipient; the counts stay.
    r = await env.client.delete(f"/v1/sites/shop/subjects/{ann}",
                                headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 200, r.text
    assert env.rows("SELECT COUNT(*) FROM email_engagement WHERE recipient = ?", (ann,)) == [(0,)]
    assert len(_sends(env)) == 4


def test_cli_import_then_prepare_with_dkim(tmp_path: Path) -> None:
    cfg, _ = write_config(tmp_path)
    db = tmp_path / "cli.db"
    csv_file = tmp_path / "consents.csv"
    csv_file.write_text(
        "email,lists,tracking,country,language,consented_at,source\n"
        "Ann@Example.com,news;deals,yes,DE,en,2024-03-01T10:00:00Z,shop checkout\n"
        "bob@example.com,news,no,US,,2024-03-02T10:00:00Z,fair\n"
        "broken,news,yes,DE,en,,\n"
        "dan@example.com,nosuch,yes,DE,en,,\n", "utf-8")
    penv = clean_env(CONSENTRY_SECRET=SECRET.decode(), CONSENTRY_PUBLIC_URL=BASE)
    base = [*consentry_cmd(), "email"]
    r = subprocess.run([*base, "import", "--config", str(cfg), "--database", f"sqlite:///{db}",
                        "--site", "shop", str(csv_file)], env=penv, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr  # two rows refused, named by line and column
    assert "2 consent event(s) recorded" in r.stdout
    assert "consents.csv:4: email:" in r.stderr and "consents.csv:5: nosuch: unknown list" in r.stderr
    payloads = [p for (p,) in db_rows(db, "SELECT payload FROM consent_events")]
    assert all("example.com" not in p for p in payloads)
    assert '"csv_import"' in payloads[0] and '"shop checkout"' in payloads[0]
    r = subprocess.run([*base, "import", "--config", str(cfg), "--database", f"sqlite:///{db}",
                        "--site", "shop", str(csv_file)], env=penv, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert "0 consent event(s) recorded, 2 unchanged" in r.stdout  # re-import adds nothing

    pem, txt = rsa_key()
    (tmp_path / "k.pem").write_bytes(pem)
    (tmp_path / "m.html").write_text(HTML, "utf-8")
    out = tmp_path / "out.eml"
    r = subprocess.run([*base, "prepare", "--config", str(cfg), "--database", f"sqlite:///{db}",
                        "--site", "shop", "--campaign", "spring", "--list", "news",
                        "--to", "ann@example.com", "--subject", "Spring", "--html",
                        str(tmp_path / "m.html"), "--out", str(out), "--dkim-key",
                        str(tmp_path / "k.pem"), "--dkim-selector", "s1", "--dkim-domain",
                        "shop.example"], env=penv, cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert dkim.verify(raw, dnsfunc=dns_for(txt))
    assert b"/e/o/" in raw  # Ann consented to tracking
    r = subprocess.run([*base, "prepare", "--config", str(cfg), "--database", f"sqlite:///{db}",
                        "--site", "shop", "--campaign", "spring", "--list", "deals",
                        "--to", "bob@example.com", "--subject", "x", "--html",
                        str(tmp_path / "m.html")], env=penv, cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "no marketing consent" in r.stderr
    # One send for the message written, none for the refused one.
    sends = db_rows(db, "SELECT campaign, list, kind, class, machine, link, recipient "
                        "FROM email_engagement")
    assert [row[:6] for row in sends] == [("spring", "news", "send", "sent", 0, None)]
    assert str(sends[0][6]).startswith("r_")
