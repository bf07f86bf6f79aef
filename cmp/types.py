"""The small vocabulary shared by every Consentry module (no I/O, no framework imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Model(StrEnum):
    """How a regime treats non-essential processing before a choice."""

    OPT_IN = "opt_in"  # nothing non-essential until the person says yes (GDPR, PIPL)
    OPT_OUT = "opt_out"  # allowed until the person (or GPC) says no (US state laws)
    NOTICE = "notice"  # inform only


class EventKind(StrEnum):
    GRANT = "grant"  # first choice recorded for a subject
    UPDATE = "update"  # a later change of choices
    WITHDRAW = "withdraw"  # every non-essential choice withdrawn
    EXPIRE = "expire"  # lifetime elapsed (written by purge)
    ERASE = "erase"  # a subject's personal fields were anonymised (data-subject request)
    LINK = "link"  # identifiers (browser, e-mail, phone, push) linked to a person
    CASE = "case"  # a data-subject request case opened or moved (cmp/cases.py)
    # A person's account closed, a minor flag, a guardian's consent, a deletion needed
    # (cmp/people.py): facts about the person, no choices.
    LIFECYCLE = "lifecycle"


class UIAction(StrEnum):
    ACCEPT_ALL = "accept_all"
    REJECT_ALL = "reject_all"
    CUSTOM = "custom"
    WITHDRAW = "withdraw"
    GPC = "gpc"  # choices taken from the browser signal alone
    API = "api"  # recorded server-side (import, backend)
    # A member signed in on this browser: their choice made elsewhere applies here (method
    # person_hint); the banner showed nothing, so it is not a banner decision.
    SIGN_IN = "sign_in"


class SeparateKind(StrEnum):
    """PIPL items that need their own explicit consent (单独同意)."""

    CROSS_BORDER = "cross_border"  # Art. 39
    SENSITIVE = "sensitive"  # Art. 28-29 (biometrics, minors' data ...)
    THIRD_PARTY = "third_party"  # Art. 23, another independent controller
    PUBLIC_DISCLOSURE = "public_disclosure"  # Art. 25


GCM_TYPES: tuple[str, ...] = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)


@dataclass(frozen=True, slots=True)
class Choices:
    """Resulting choices per purpose, vendor and separate-consent item."""

    purposes: dict[str, bool] = field(default_factory=dict)
    vendors: dict[str, bool] = field(default_factory=dict)
    separate: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, bool]]:
        return {
            "purposes": dict(sorted(self.purposes.items())),
            "vendors": dict(sorted(self.vendors.items())),
            "separate": dict(sorted(self.separate.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, bool]]) -> Choices:
        return cls(
            purposes=dict(d.get("purposes", {})),
            vendors=dict(d.get("vendors", {})),
            separate=dict(d.get("separate", {})),
        )


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the policy engine knows about the person asking (from the request, not stored raw)."""

    ip: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2 from a trusted CDN header
    subdivision: str | None = None  # ISO 3166-2 suffix from a trusted CDN header, e.g. "CA"
    gpc: bool = False
    accept_language: str | None = None
    user_agent: str | None = None
