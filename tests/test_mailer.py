"""Consentry's own mail through a real local SMTP server (aiosmtpd), or into a folder."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cmp.config import ConfigError
from cmp.errors import FieldError
from cmp.mailer import Mailer, MailError
from cmp.settings import Settings
from tests.conftest import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"cmp", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def smtp() -> Any:
    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                     auth_require_tls=False)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


def settings(**kw: Any) -> Settings:
    return Settings.load(None, mail_from="Privacy <privacy@shop.example>", **kw)


async def test_a_message_reaches_the_smtp_server(smtp: Any) -> None:
    inbox, port = smtp
    m = Mailer(settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                        smtp_user="cmp", smtp_password="s3cret"))
    sent = await m.send("li.lei@example.com", "请确认您的请求", "点击链接确认：https://x/1",
                        html="<p>点击</p>", lang="zh-CN")
    assert sent.via == "smtp"
    (mail_from, to, raw), = inbox.messages
    assert mail_from == "privacy@shop.example" and to == ["li.lei@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "请确认您的请求" and msg["Message-ID"] == sent.message_id
    assert msg["Content-Language"] == "zh-CN" and msg["Auto-Submitted"] == "auto-generated"
    assert "点击链接确认" in msg.get_body(("plain",)).get_content()


async def test_a_wrong_password_or_no_server_is_an_error_not_a_send(smtp: Any) -> None:
    inbox, port = smtp
    # (the server answers a failed login slowly: a short timeout keeps the test short)
    m = Mailer(settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                        smtp_user="cmp", smtp_password="wrong"), timeout=2)
    with pytest.raises(MailError, match="failed"):
        await m.send("a@example.com", "x", "y")
    dead = Mailer(settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none"))
    with pytest.raises(MailError):
        await dead.send("a@example.com", "x", "y")
    assert inbox.messages == []


async def test_without_smtp_the_message_goes_to_the_folder(tmp_path: Path) -> None:
    m = Mailer(settings(mail_dir=str(tmp_path)))
    sent = await m.send("a@example.com", "Confirm", "link")
    files = list(tmp_path.glob("*.eml"))
    assert [str(f) for f in files] == [sent.via]
    assert b"Subject: Confirm" in files[0].read_bytes()


async def test_nothing_configured_and_bad_input_are_refused() -> None:
    with pytest.raises(FieldError, match="no mail is configured"):
        await Mailer(Settings.load(None)).send("a@example.com", "x", "y")
    m = Mailer(settings(mail_dir="/tmp"))
    for to in ("not-an-address", "a@example.com\r\nBcc: b@example.com"):
        with pytest.raises(FieldError) as e:
            m.build(to, "x", "y")
        assert e.value.field == "to"
    with pytest.raises(FieldError):
        m.build("a@example.com", "x\r\nBcc: b@example.com", "y")


def test_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match="smtp_tls"):
        Settings.load(None, smtp_tls="ssl")
    with pytest.raises(ConfigError, match="mail_from"):
        Settings.load(None, smtp_host="smtp.example.com")
