"""A person's identifiers, normalised once and pseudonymised: nothing here is ever stored raw.

Each kind has one spelling that is hashed (an address lower-cased, a phone number in E.164)
and one prefix, so the ledger and the link table tell the kinds apart without the values:

    ref    the customer's own account reference   p_ + HMAC
    email  an e-mail address                      r_ + HMAC (the recipient id of pixel.email)
    phone  a phone number, E.164                  t_ + HMAC
    push   a push subscription / device id        d_ + HMAC
    consent a browser consent id (already random) c_… as issued

The HMAC is the site's pseudonym key (cmp.keys): stable per site, different between sites, not
reversible without the deployment's secret.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from cmp.keys import SiteKeys

Kind = Literal["ref", "email", "phone", "push", "consent"]
LINKABLE: tuple[Kind, ...] = ("email", "phone", "push", "consent")
PREFIX: dict[Kind, str] = {"ref": "p_", "email": "r_", "phone": "t_", "push": "d_",
                           "consent": "c_"}
KIND_OF_PREFIX = {v: k for k, v in PREFIX.items()}

_CONSENT_ID = re.compile(r"c_[A-Za-z0-9_-]{16,43}")
_REF = re.compile(r"[^\x00-\x1f\x7f/]{1,200}")
_PUSH = re.compile(r"[\x21-\x7e]{8,4096}")


class IdentifierError(ValueError):
    """The value is not an identifier of that kind (the message says why, for the 4xx)."""


def normalise_address(address: str) -> str:
    """The one spelling of an address that is hashed: trimmed, NFC, lower-cased, IDNA domain.

    Dots and +tags are kept: they may be different mailboxes, and merging them would attach one
    person's consent to another's address."""
    a = unicodedata.normalize("NFC", address.strip())
    local, at, domain = a.rpartition("@")
    if not at or not local or not domain or len(a) > 320:
        raise IdentifierError("not an e-mail address")
    if any(c.isspace() or ord(c) < 0x20 or c in "<>,;\"" for c in a) or "@" in local:
        raise IdentifierError("not an e-mail address")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise IdentifierError("the domain is not valid") from None
    if "." not in domain:
        raise IdentifierError("the domain is not valid")
    return f"{local.lower()}@{domain}"


def normalise_phone(number: str) -> str:
    """E.164: '+', a country code and the number, 8 to 15 digits in all.

    Spaces, dashes, dots and brackets people type are dropped; '00' before the country code is
    read as '+'. A number without its country code is refused rather than guessed: the same
    digits are different people in different countries."""
    n = re.sub(r"[\s\-.()\u00a0]", "", unicodedata.normalize("NFKC", number))
    if n.startswith("00"):
        n = "+" + n[2:]
    if not re.fullmatch(r"\+[1-9]\d{7,14}", n):
        raise IdentifierError("not a phone number in E.164 form, e.g. +8613800138000")
    return n


def normalise(kind: Kind, value: str) -> str:
    if not isinstance(value, str):
        raise IdentifierError("must be a string")
    if kind == "email":
        return normalise_address(value)
    if kind == "phone":
        return normalise_phone(value)
    if kind == "push":
        if not _PUSH.fullmatch(value):
            raise IdentifierError("a push subscription or device id is 8-4096 printable "
                                  "characters without spaces")
        return value
    if kind == "consent":
        if not _CONSENT_ID.fullmatch(value):
            raise IdentifierError("not a consent id (c_…)")
        return value
    v = unicodedata.normalize("NFC", value)
    if not _REF.fullmatch(v) or v != v.strip():
        raise IdentifierError("an account reference is 1-200 characters, no control "
                              "characters, no '/', no leading or trailing space")
    return v


def pseudonym(keys: SiteKeys, kind: Kind, value: str) -> str:
    """The stored form of an identifier (normalising it first)."""
    v = normalise(kind, value)
    if kind == "consent":
        return v
    # E-mail keeps the recipient id it always had (no kind in the hashed value); the others
    # hash "kind:value" so a phone number and an account ref of the same digits differ.
    material = v if kind == "email" else f"{kind}:{v}"
    return PREFIX[kind] + keys.pseudonym(material)[:32]


def kind_of(identifier: str) -> Kind | None:
    """The kind of a stored identifier, from its prefix."""
    return KIND_OF_PREFIX.get(identifier[:2])
