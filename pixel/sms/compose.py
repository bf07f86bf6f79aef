"""The helper a sender calls before each marketing text: may this number be texted, and the
message with the site's opt-out instruction appended (China's convention is that every
marketing SMS carries one, e.g. "回复TD退订"). No HTTP here.

    composed = await compose_sms(people, "shop", "+8613800138000", "新品上架", language="zh-CN")
    composed.text   # "新品上架 回复TD退订"

A number that may not be contacted (opted out, never said yes, unknown) is refused with
ContactRefused, a CONFLICT naming `to` that carries the may-contact reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp.config import SiteConfig
from cmp.errors import DomainError, ErrorKind, FieldError
from cmp.people import PeopleService
from pixel.sms.inbound import sms_config
from pixel.sms.keywords import normalise_reply

# When a site configures no instruction for a language: the conventional ones. Traditional
# Chinese (Taiwan, Hong Kong) writes the same instruction with its own characters.
DEFAULT_OPT_OUT_TEXT = {"zh": "回复TD退订", "zh-Hant": "回覆TD退訂",
                        "en": "Reply STOP to opt out"}
_HANT = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


class ComposeIn(BaseModel):
    """Body of POST /v1/sites/{site}/sms/compose."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=32, description="the number, E.164")
    text: str = Field(min_length=1, max_length=1600, description="the message, without the "
                                                                 "opt-out instruction")
    language: str | None = Field(None, max_length=35,
                                 description="the message's language (default: the site's)")
    list: str | None = Field(None, max_length=64,
                             description="the SMS list it is sent for (default: the channel)")


def parse_compose(data: Any) -> ComposeIn:
    try:
        return ComposeIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


class ContactRefused(DomainError):
    """The number may not be texted; `reason` is may-contact's (opted_out, no_consent …)."""

    def __init__(self, reason: str, event_id: str | None) -> None:
        super().__init__(ErrorKind.CONFLICT, "to", f"this number may not be contacted: {reason}")
        self.reason = reason
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class Composed:
    text: str
    language: str
    list: str
    event_id: str | None  # the event whose answer allows it

    def doc(self) -> dict[str, Any]:
        return {"to_allowed": True, "text": self.text, "language": self.language,
                "list": self.list, "event_id": self.event_id}


def opt_out_text(site: SiteConfig, language: str) -> str:
    """The instruction for messages in `language`: the site's, else the conventional one."""
    configured = sms_config(site).opt_out_text
    if configured.get(language):
        return configured[language]
    tag = language.lower()
    if tag.startswith(_HANT):
        return DEFAULT_OPT_OUT_TEXT["zh-Hant"]
    if tag == "zh" or tag.startswith("zh-"):
        return DEFAULT_OPT_OUT_TEXT["zh"]
    return DEFAULT_OPT_OUT_TEXT["en"]


def with_instruction(text: str, instruction: str) -> str:
    """`text` ending with the instruction (not twice, if the sender already wrote it)."""
    body = text.rstrip()
    if normalise_reply(body).endswith(normalise_reply(instruction)):
        return body
    return f"{body} {instruction}"


async def compose_sms(people: PeopleService, site_id: str, to: str, text: str, *,
                      language: str | None = None, list_id: str | None = None) -> Composed:
    """The message to send to `to`, or ContactRefused; a bad number, language or list is a
    FieldError naming it."""
    site = people.site(site_id)
    lang = language or site.lang_default
    if lang not in site.languages:
        raise FieldError("language", f"{lang!r} is not one of {site.languages}")
    answer = await people.may_contact(site_id, "sms", to=to, list_id=list_id)
    if not answer.allowed:
        raise ContactRefused(str(answer.reason), answer.event_id)
    return Composed(with_instruction(text, opt_out_text(site, lang)), lang, answer.list,
                    answer.event_id)
