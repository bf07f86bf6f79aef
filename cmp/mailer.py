"""Consentry's own mail (identity confirmation links of data-subject requests): sent through
the deployment's SMTP server with aiosmtplib, or, without one, written to `mail_dir` as .eml
files (the demo and test systems: a message nobody configured must not leave the machine).

No HTTP here. A message is built with the standard library (plain text plus optional HTML,
UTF-8, a Message-ID, no tracking of any kind: this mail is about a person's rights)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import aiosmtplib

from cmp.errors import ErrorKind, FieldError
from cmp.settings import Settings


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    via: str  # "smtp" or the .eml file written


class MailError(Exception):
    """The SMTP server refused or could not be reached; nothing was sent."""


class Mailer:
    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout  # per SMTP command: a server that hangs is an error, not a wait

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host or self.settings.mail_dir)

    def build(self, to: str, subject: str, text: str, html: str | None = None,
              lang: str = "en") -> EmailMessage:
        if "@" not in parseaddr(to)[1] or any(c in to for c in "\r\n"):
            raise FieldError("to", "not an e-mail address")
        if any(c in subject for c in "\r\n"):
            raise FieldError("subject", "one line")
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.settings.mail_from)[1].rpartition("@")[2] or "consentry.invalid"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        # after add_alternative, which moves Content-* headers into the first part
        msg["Content-Language"] = lang
        return msg

    async def send(self, to: str, subject: str, text: str, html: str | None = None,
                   lang: str = "en") -> Sent:
        if not self.configured:
            raise FieldError("smtp_host", "no mail is configured (set smtp_host, or mail_dir "
                             "to write messages to a folder)", ErrorKind.CONFLICT)
        msg = self.build(to, subject, text, html, lang)
        s = self.settings
        if not s.smtp_host:
            folder = Path(s.mail_dir)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
            (folder / name).write_bytes(bytes(msg))
            return Sent(str(msg["Message-ID"]), str(folder / name))
        try:
            await aiosmtplib.send(
                msg, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_user or None, password=s.smtp_password or None,
                use_tls=s.smtp_tls == "tls", start_tls=True if s.smtp_tls == "starttls" else False,
                timeout=self.timeout)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"mail to the SMTP server {s.smtp_host}:{s.smtp_port} failed: "
                            f"{exc}") from exc
        return Sent(str(msg["Message-ID"]), "smtp")
