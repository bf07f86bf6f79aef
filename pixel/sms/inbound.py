"""The inbound-message webhook's domain side: verify the call, read the message, and record an
opt-out reply. No HTTP here (pixel.sms.routes is the thin edge).

    {"from": "+8613800138000", "to": "106900001234", "text": "退订", "id": "provider-msg-1"}

`from` is the member's number (E.164), `to` the site's own number or short code, `id` the
provider's message id (optional; a retried call with the same id records nothing new). An
opt-out is an event of the person the number is linked to, or of the number's own pseudonym
(`t_…`) when it is linked to nobody yet: method `sms_reply`, channel `sms`, list `*`, not
allowed. Any other message is answered and forgotten (only counted). Neither the number nor
the text is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp.config import ChannelConfig, SiteConfig
from cmp.errors import FieldError
from cmp.grants import ALL_LISTS
from cmp.keys import Keyring, b64u
from cmp.people import PeopleService, PersonEventIn
from pixel.outcomes import Counters
from pixel.sms.keywords import matched_keyword
from pixel.sms.signature import SIGNATURE_HEADER, SignatureError, verify

MAX_BODY = 8 * 1024
# What /metrics-style counts call an inbound call (pixel.outcomes.Counters `kind`).
INBOUND_KIND = "sms_inbound"


class InboundIn(BaseModel):
    """Body of POST /v1/sites/{site}/sms/inbound: one received text, provider-neutral."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1, max_length=32,
                       description="the sender's number, E.164 (+8613800138000)")
    to: str = Field(min_length=1, max_length=32,
                    description="the site's number or short code the text was sent to")
    text: str = Field(max_length=1600, description="the message as received")
    id: str | None = Field(None, pattern=r"^[\x21-\x7e]{1,128}$",
                           description="the provider's message id (a retry with it is "
                                       "recognised)")


def parse_inbound(data: Any) -> InboundIn:
    try:
        return InboundIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


@dataclass(frozen=True, slots=True)
class InboundResult:
    opt_out: bool
    event_id: str | None = None
    recorded_for: str | None = None  # "person" (the number is linked) or "number"
    retry: bool = False

    def doc(self) -> dict[str, Any]:
        if not self.opt_out:
            return {"opt_out": False}
        return {"opt_out": True, "event_id": self.event_id, "recorded_for": self.recorded_for,
                "retry": self.retry}


def sms_config(site: SiteConfig) -> ChannelConfig:
    """The site's SMS settings, or the defaults (the standard opt-out words) if it has none."""
    return site.channels.get("sms") or ChannelConfig()


class SmsInbound:
    def __init__(self, people: PeopleService, keyring: Keyring) -> None:
        self.people = people
        self.keyring = keyring
        self.counters = Counters()

    def secret(self, site_id: str) -> str:
        """The site's webhook secret as `consentry keys secrets` prints it."""
        return b64u(self.keyring.site(site_id).webhook_key)

    def verify(self, site_id: str, raw: bytes, signature: str | None, timestamp: str | None, *,
               known: bool = True, now: float | None = None) -> None:
        """SignatureError (naming the header) unless the call is signed and fresh. For a site
        that is not `known` it fails as a wrong signature would, after the same checks."""
        try:
            verify(self.secret(site_id), raw, signature, timestamp, now=now)
            if not known:
                raise SignatureError(SIGNATURE_HEADER, "does not match the body and timestamp "
                                                       "(wrong secret, or the body was changed)")
        except SignatureError:
            self.counters.add(site_id if known else "", INBOUND_KIND, "bad_signature")
            raise

    async def receive(self, site_id: str, data: Any) -> InboundResult:
        """Record the message's opt-out, if it is one; durable on return."""
        try:
            msg = parse_inbound(data)
        except FieldError:
            self.counters.add(site_id, INBOUND_KIND, "malformed")
            raise
        site = self.people.site(site_id)
        keyword = matched_keyword(msg.text, sms_config(site).opt_out_keywords)
        if keyword is None:
            # Still check the number, so a bad one is a 400 whatever the text says.
            self.people.identifier(site_id, "phone", msg.from_, "from")
            self.counters.add(site_id, INBOUND_KIND, "not_opt_out")
            return InboundResult(False)
        body = PersonEventIn.model_validate({
            "method": "sms_reply", "reference": f"sms:{msg.id}" if msg.id else None,
            "channels": [{"channel": "sms", "list": ALL_LISTS, "allowed": False}]})
        event, retry = await self.people.record_identifier(site_id, "phone", msg.from_, body,
                                                           field="from")
        self.counters.add(site_id, INBOUND_KIND, "retry" if retry else "opt_out")
        return InboundResult(True, event.event_id,
                             "person" if (event.subject or "").startswith("p_") else "number",
                             retry)
