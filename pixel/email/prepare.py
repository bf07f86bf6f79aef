"""Turn an HTML e-mail for one recipient of a campaign into the tracked, unsubscribable one.

- refused for a recipient without marketing consent for the list, or suppressed;
- links (http/https only) rewritten to signed click URLs carrying destination, message,
  recipient and link index — only when the recipient's regime/consent allows tracking;
  otherwise links are left alone and no pixel is added;
- a hidden honeypot link (tracked mail only) that marks a scanner's burst;
- a visible unsubscribe link, and the headers `List-Unsubscribe` (HTTPS first, optional
  mailto) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058);
- optional DKIM signature (dkimpy) whose `h=` covers both unsubscribe headers;
- a *send* recorded for every message prepared (the sender prepares each message it sends
  once): an engagement row of kind `send`, tracked or not (counting a message sent is not
  tracking the person), stored through the engagement writer before `prepare` returns.
"""

from __future__ import annotations

import builtins
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from cmp.errors import ErrorKind, FieldError
from cmp.ledger import iso
from cmp.storage.base import Engagement
from pixel.email.recipients import ALL, AddressError, EmailConsents, tracking_allowed
from pixel.email.tokens import HONEYPOT, check_id
from pixel.email.urls import safe_destination

ONE_CLICK = "List-Unsubscribe=One-Click"
SEND, SENT = "send", "sent"  # engagement kind and class of a prepared (sent) message
# Headers DKIM signs: the two RFC 8058 demands, plus what makes the message the message.
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                b"content-type", b"list-unsubscribe", b"list-unsubscribe-post")

_A_TAG = re.compile(r"<a\b[^>]*>", re.I | re.S)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I | re.S)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)
_BODY_CLOSE = re.compile(r"</body\s*>", re.I)


class Refused(FieldError):
    """The message must not be sent to this recipient (no consent, suppressed)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, ErrorKind.CONFLICT)


@dataclass(frozen=True)
class DkimKey:
    """A DKIM signing key, checked when made: a key that cannot sign must fail before the
    send is recorded, not after (a phantom send in the campaign's counts)."""

    selector: str
    domain: str
    private_key_pem: bytes

    def __post_init__(self) -> None:
        import dkim  # dkimpy; only needed when signing

        probe = b"From: probe@consentry.invalid\r\nSubject: probe\r\n\r\nprobe\r\n"
        try:
            # Sign a tiny message with the very code that signs the real one, so what is
            # accepted here is exactly what signs later. dkimpy raises a grab bag for bad keys
            # (KeyFormatError, binascii.Error, ASN.1 errors, IndexError …), hence the breadth.
            dkim.sign(probe, self.selector.encode(), self.domain.encode(), self.private_key_pem)
        except Exception as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise FieldError("dkim_key", f"not a PEM RSA private key DKIM can sign with "
                                         f"({why})") from None


@dataclass(frozen=True)
class Prepared:
    site: str
    campaign: str
    list: str
    recipient: str
    message_id: str
    html: str
    headers: dict[str, str]
    tracked: bool
    links: int  # links rewritten
    unsubscribe_url: str
    # hrefs left as they were (not http(s)); `builtins.list`: the field `list` shadows the name
    skipped: builtins.list[str] = field(default_factory=builtins.list)

    def message(self, *, to: str, sender: str, subject: str, dkim_key: DkimKey | None = None,
                text: str | None = None, date: datetime | None = None) -> bytes:
        """The full RFC 5322 message, DKIM-signed when a key is given."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(date or datetime.now(UTC))
        domain = sender.rsplit("@", 1)[-1].strip(">").strip() or "consentry.invalid"
        msg["Message-ID"] = make_msgid(idstring=self.message_id, domain=domain)
        for k, v in self.headers.items():
            msg[k] = v
        msg.set_content(text or f"View this message in an HTML mail client.\n\n"
                                f"Unsubscribe: {self.unsubscribe_url}\n")
        msg.add_alternative(self.html, subtype="html")
        # Long URIs are single tokens: keep each header on one line (up to RFC 5322's 998
        # octets) rather than folding right after the colon, which trips some receivers.
        raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", max_line_length=998))
        if dkim_key is None:
            return raw
        import dkim  # dkimpy; only needed when signing

        sig = dkim.sign(raw, dkim_key.selector.encode(), dkim_key.domain.encode(),
                        dkim_key.private_key_pem, include_headers=list(DKIM_HEADERS),
                        canonicalize=(b"relaxed", b"relaxed"))
        return bytes(sig) + raw


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


class Preparer:
    def __init__(self, consents: EmailConsents) -> None:
        self.consents = consents
        self.tokens = consents.tokens

    async def prepare(self, site_id: str, *, campaign: str, list_id: str, to: str, html_body: str,
                      now: float | None = None, unsubscribe_text: str = "Unsubscribe") -> Prepared:
        site, email = self.consents.site(site_id)
        try:
            check_id("campaign", campaign)
        except ValueError as exc:
            raise FieldError("campaign", str(exc)) from None
        if list_id not in email.lists:
            raise FieldError("list", f"unknown list {list_id!r}")
        try:
            recipient = self.consents.recipient_id(site_id, to)
        except AddressError as exc:
            raise FieldError("to", str(exc)) from None
        suppressed = await self.consents.storage.email_suppressions(site_id, recipient)
        if list_id in suppressed or ALL in suppressed:
            raise Refused("to", f"the recipient unsubscribed from {list_id!r}: do not send")
        state = await self.consents.state(site_id, recipient)
        if not state.subscribed(list_id):
            raise Refused("to", f"no marketing consent for list {list_id!r} in the ledger")
        tracked = tracking_allowed(email, state, suppressed)
        sent_at = now if now is not None else time.time()
        sent = int(sent_at)
        message = secrets.token_urlsafe(9)
        base = self.consents.base_url(email)
        body = html_body
        links = 0
        skipped: list[str] = []

        if tracked:
            def rewrite_tag(m: re.Match[str]) -> str:
                nonlocal links
                tag = m.group(0)
                if "data-consentry-skip" in tag:
                    return tag
                h = _HREF.search(tag)
                if h is None:
                    return tag
                raw = h.group(2) if h.group(2) is not None else (
                    h.group(3) if h.group(3) is not None else h.group(4))
                dest = safe_destination(html.unescape(raw).strip())
                if dest is None:
                    skipped.append(raw)
                    return tag
                tok = self.tokens.click_token(site_id, campaign, message, recipient, list_id,
                                              True, sent, links, dest)
                links += 1
                new = f'{h.group(1)}"{_attr(f"{base}/e/c/{tok}")}"'
                return tag[:h.start()] + new + tag[h.end():]

            body = _A_TAG.sub(rewrite_tag, body)
            honey_dest = site.origins[0] + "/" if site.origins else base + "/"
            honey = self.tokens.click_token(site_id, campaign, message, recipient, list_id,
                                            True, sent, HONEYPOT, honey_dest)
            trap = (f'<a href="{_attr(f"{base}/e/c/{honey}")}" style="display:none!important;'
                    f'max-height:0;overflow:hidden;font-size:0" aria-hidden="true" tabindex="-1">'
                    f'&#8203;</a>')
            mo = _BODY_OPEN.search(body)
            body = body[:mo.end()] + trap + body[mo.end():] if mo else trap + body

        unsub_tok = self.tokens.unsub_token(site_id, recipient, list_id, campaign, message)
        unsub_url = f"{base}/e/u/{unsub_tok}"
        footer = (f'<p style="font-size:12px;color:#555">'
                  f'<a href="{_attr(unsub_url)}" data-consentry-skip>{html.escape(unsubscribe_text)}'
                  f'</a></p>')
        if tracked:
            otok = self.tokens.open_token(site_id, campaign, message, recipient, list_id, True, sent)
            footer += (f'<img src="{_attr(f"{base}/e/o/{otok}.gif")}" width="1" height="1" alt="" '
                       f'style="display:block;width:1px;height:1px;border:0">')
        closes = list(_BODY_CLOSE.finditer(body))
        if closes:
            at = closes[-1].start()
            body = body[:at] + footer + body[at:]
        else:
            body += footer

        uris = [f"<{unsub_url}>"]
        if email.unsubscribe_mailto:
            uris.append(f"<mailto:{email.unsubscribe_mailto}?subject=unsubscribe-{unsub_tok}>")
        headers = {"List-Unsubscribe": ", ".join(uris), "List-Unsubscribe-Post": ONE_CLICK}
        # The send, committed before the message is handed out. The suppression check runs
        # again inside the writer's transaction: an unsubscribe that committed since the check
        # above refuses the message instead of counting it. (#tracking does not stop a send.)
        if not await self.consents.storage.append_engagement(Engagement(
                site=site_id, campaign=campaign, message=message, recipient=recipient,
                list=list_id, kind=SEND, link=None, cls=SENT, machine=False, reason=None,
                ts=iso(datetime.fromtimestamp(sent_at, UTC)), ts_ms=int(sent_at * 1000),
                blocked_by=(list_id, ALL))):
            raise Refused("to", f"the recipient unsubscribed from {list_id!r}: do not send")
        return Prepared(site_id, campaign, list_id, recipient, message, body, headers, tracked,
                        links, unsub_url, skipped)
