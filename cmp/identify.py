"""Cross-device consent: a signed-in page names the member with a person hint (cmp.hints), and
the member's choice follows them to every browser they sign in on. No HTTP here.

What a valid hint does, in the order it is done:
1. This browser's consent id (from its verified token) is linked to the person (a `link`
   event, PeopleService.link_browser), unless it already is, or is another member's (a
   shared computer: that choice stays theirs, and this member's comes through a new id).
2. The person's web choices are read over every identifier linked to them, this browser's
   included, and resolved by the grant rule (PeopleService.choices_for_browser): so a newer
   choice made on this browser already stands for the person, and an older one gives way.
3. If they differ from what this browser's token carries (or it has no choice, or one of an
   older revision), the browser gets them: a ledger event of its consent id (a new `c_` id
   if it had none, linked as in 1) with method `person_hint`, and a new token. Otherwise
   nothing is written.

A hint that is forged, expired, another site's or no hint at all changes nothing and is
answered like no hint; every hint is counted by outcome (`consentry_person_hints_total`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp.consent import ConsentIn, ConsentService, Recorded
from cmp.errors import FieldError
from cmp.hints import HintError
from cmp.people import PeopleService
from cmp.tokens import ConsentState
from cmp.types import Choices, Visitor

# Outcomes a hint is counted under: "ok", or why cmp.hints refused it.
HINT_OUTCOMES = ("ok", "forged", "expired", "other_site", "too_long", "malformed")


class IdentifyIn(BaseModel):
    """Body of POST /v1/sites/{site}/identify."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # No length limit here: any string that is not a good hint is answered like no hint (and
    # counted), never a 400 that would tell a page its hint failed; the body limit bounds it.
    hint: str | None = Field(None, description="The person hint the customer's backend made "
                             "(cmp.hints); absent or null: no member is signed in")
    language: str | None = Field(None, max_length=35,
                                 description="Language to record, resolved like ?lang=")
    gpc: bool = Field(False, description="navigator.globalPrivacyControl as the page saw it")


def parse_identify_in(data: Any) -> IdentifyIn:
    try:
        return IdentifyIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


# Asked once before a request writes: None to go ahead, else the seconds to wait (the
# consent rate limit). Most signed-in page views write nothing, so they are not limited.
Admit = Callable[[], Awaitable[float | None]]


class Limited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry in {retry_after} s")
        self.retry_after = retry_after


async def _go_ahead() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Identified:
    identified: bool  # the hint was good
    state: ConsentState | None  # the consent this browser applies now (None: no choice)
    recorded: Recorded | None  # the event and token written for this browser, if any


def same_choices(state: ConsentState, choices: Choices) -> bool:
    def on(m: dict[str, bool]) -> frozenset[str]:
        return frozenset(k for k, v in m.items() if v)

    return (state.purposes == on(choices.purposes) and state.vendors == on(choices.vendors)
            and state.separate == on(choices.separate))


class IdentifyService:
    def __init__(self, people: PeopleService, consent: ConsentService) -> None:
        self.people = people
        self.consent = consent
        self.hints: Counter[tuple[str, str]] = Counter()  # (site, outcome) -> hints seen

    def person(self, site_id: str, hint: str) -> str | None:
        """The person (p_…) a page's hint names, or None for a hint that is no good."""
        try:
            ref = self.people.verify_hint(site_id, hint).ref
            person = self.people.person_id(site_id, ref)
        except HintError as exc:
            self.hints[(site_id, exc.reason)] += 1
            return None
        except FieldError:  # signed, but its ref is not an account reference
            self.hints[(site_id, "malformed")] += 1
            return None
        self.hints[(site_id, "ok")] += 1
        return person

    async def _owner(self, site_id: str, state: ConsentState | None) -> str | None:
        return await self.people.storage.person_of(site_id, state.subject) if state else None

    async def identify(self, site_id: str, visitor: Visitor, hint: str | None,
                       token: str | None, *, language: str | None = None, gpc: bool = False,
                       origin: str | None = None, admit: Admit = _go_ahead) -> Identified:
        """What a signed-in page's hint does (the module's docstring); Limited if it would
        write and `admit` says wait, before anything is written."""
        state = self.consent.state_from_token(site_id, token)
        person = self.person(site_id, hint) if hint is not None else None
        if person is None:
            return Identified(False, state, None)
        site = self.consent.site(site_id)
        owner = await self._owner(site_id, state)
        mine = state if owner in (None, person) else None
        if mine is not None and owner is None:
            await self._admit(admit)
            admit = _go_ahead  # one request, one admission
            await self.people.link_browser(site_id, person, mine.subject)
        # read with this browser linked: its own choice may be the newest (it is the person's)
        wanted = await self.people.choices_for_browser(site_id, person)
        if wanted is None:
            return Identified(True, state, None)
        choices, chosen_at = wanted
        if mine is not None and mine.revision == site.revision and same_choices(mine, choices):
            return Identified(True, state, None)
        await self._admit(admit)
        rec = await self.consent.adopt(site_id, visitor, mine, choices, language=language,
                                       gpc=gpc, origin=origin,
                                       extra={"collected_at": chosen_at})
        if mine is None:
            await self.people.link_browser(site_id, person, rec.subject)
        return Identified(True, self.consent.state_from_token(site_id, rec.token), rec)

    @staticmethod
    async def _admit(admit: Admit) -> None:
        wait = await admit()
        if wait is not None:
            raise Limited(wait)

    async def record(self, site_id: str, visitor: Visitor, body: ConsentIn, token: str | None,
                     *, origin: str | None = None) -> Recorded:
        """A banner choice; with a good hint its consent id is linked to the member too. On
        another member's browser the choice starts a new consent id rather than change
        theirs."""
        person = self.person(site_id, body.hint) if body.hint is not None else None
        if person is not None:
            owner = await self._owner(site_id, self.consent.state_from_token(site_id, token))
            if owner not in (None, person):
                token = None
        rec = await self.consent.record(site_id, visitor, body, token, origin=origin)
        if person is not None:
            await self.people.link_browser(site_id, person, rec.subject)
        return rec
