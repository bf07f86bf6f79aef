"""The consent ledger: append-only events, hash-chained per site, and the state derived from them.

Chain link: hash = sha256(canonical_json([site, seq, event_id, kind, ts, payload,
personal_digest, prev_hash])). Personal fields (subject id, truncated IP) are covered only
through `personal_digest` = sha256(canonical_json(personal)), and `personal` carries a random
salt, so erasing a person (nulling `personal`) leaves every link verifiable while the digest
alone reveals nothing guessable about the truncated IP.

Erasure is recorded before it is applied: an `erase` event lists the seqs it anonymises
(`erased_seqs`), a retention sweep names its cutoff (`before`, for events older than it and
earlier in the chain). Verify accepts an anonymised row only when such a record covers it, and
an anonymised row must carry no subject, so neither an unrecorded anonymisation (hiding who
chose) nor a re-attribution (giving an erased event a subject again) passes. Verify also
recomputes the hash of every notice (the texts shown) an event points at.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cmp.config import canonical_json
from cmp.types import Choices, EventKind

GENESIS = "0" * 64
# The personal digest of an event that never had personal fields (a retention record): the
# digest of JSON null, which no salted personal object can have, so an erased row cannot pass
# for one.
NO_PERSONAL_DIGEST = hashlib.sha256(b"null").hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Notice:
    """The exact texts a person was shown (stored once per hash)."""

    hash: str
    site: str
    revision: int
    language: str
    texts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event before the writer gives it its place in the chain."""

    site: str
    subject: str | None  # None only for records about the ledger itself
    kind: EventKind
    payload: dict[str, Any]  # proof fields: regime, revision, texts_hash, action, choices ...
    personal: dict[str, Any] | None  # subject and truncated IP; erased on request
    notice: Notice | None = None
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: str = field(default_factory=lambda: iso(utc_now()))

    @classmethod
    def build(
        cls,
        *,
        site: str,
        subject: str,
        kind: EventKind,
        payload: dict[str, Any],
        ip_truncated: str | None = None,
        notice: Notice | None = None,
        extra_personal: dict[str, Any] | None = None,
    ) -> NewEvent:
        # `extra_personal`: more fields erased with the subject (linked identifiers, a note)
        personal = {"subject": subject, "ip": ip_truncated, "salt": secrets.token_hex(16),
                    **(extra_personal or {})}
        return cls(site=site, subject=subject, kind=kind, payload=payload, personal=personal,
                   notice=notice)

    @classmethod
    def record(cls, *, site: str, kind: EventKind, payload: dict[str, Any]) -> NewEvent:
        """An event about the ledger itself (a retention sweep): no subject, no personal fields."""
        return cls(site=site, subject=None, kind=kind, payload=payload, personal=None)

    @property
    def personal_digest(self) -> str:
        return hashlib.sha256(canonical_json(self.personal)).hexdigest()

    def serialised(self) -> tuple[bytes, bytes, str]:
        """(payload JSON, personal JSON, personal digest), each computed once."""
        personal = canonical_json(self.personal)
        return canonical_json(self.payload), personal, hashlib.sha256(personal).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    site: str
    seq: int
    event_id: str
    subject: str | None
    kind: str
    ts: str
    payload: dict[str, Any]
    personal: dict[str, Any] | None
    personal_digest: str
    prev_hash: str
    hash: str
    # Serialised forms the writer computed for the hash, reused for the row (not compared).
    payload_json: bytes | None = field(default=None, compare=False, repr=False)
    personal_json: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def choices(self) -> Choices | None:
        c = self.payload.get("choices")
        return Choices.from_dict(c) if c is not None else None

    def public(self) -> dict[str, Any]:
        """The event as shown to its subject, an admin export or a receipt."""
        return {
            "event_id": self.event_id,
            "seq": self.seq,
            "kind": self.kind,
            "ts": self.ts,
            **self.payload,
            "ip_truncated": (self.personal or {}).get("ip"),
            "erased": self.personal is None,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def link_hash(site: str, seq: int, event_id: str, kind: str, ts: str, payload: dict[str, Any],
              personal_digest: str, prev_hash: str) -> str:
    return link_hash_json(site, seq, event_id, kind, ts, canonical_json(payload),
                          personal_digest, prev_hash)


def link_hash_json(site: str, seq: int, event_id: str, kind: str, ts: str, payload_json: bytes,
                   personal_digest: str, prev_hash: str) -> str:
    """sha256 of canonical_json([site, seq, event_id, kind, ts, payload, digest, prev]).

    Built by concatenation (identical bytes: canonical JSON of a list is its items' canonical
    JSON joined by commas) so the writer serialises each payload once for hash and row."""
    head = canonical_json([site, seq, event_id, kind, ts])[:-1]
    tail = canonical_json([personal_digest, prev_hash])[1:]
    return hashlib.sha256(head + b"," + payload_json + b"," + tail).hexdigest()


def chain(events: Iterable[NewEvent], heads: dict[str, tuple[int, str]]) -> list[StoredEvent]:
    """Give each new event its seq and links, continuing each site's head (mutates `heads`)."""
    out = []
    for ev in events:
        seq, prev = heads.get(ev.site, (0, GENESIS))
        seq += 1
        payload_json, personal_json, digest = ev.serialised()
        h = link_hash_json(ev.site, seq, ev.event_id, str(ev.kind), ev.ts, payload_json, digest, prev)
        heads[ev.site] = (seq, h)
        out.append(StoredEvent(ev.site, seq, ev.event_id, ev.subject, str(ev.kind), ev.ts,
                               ev.payload, ev.personal, digest, prev, h, payload_json, personal_json))
    return out


@dataclass(frozen=True, slots=True)
class ChainReport:
    site: str
    checked: int
    ok: bool
    problem: str | None = None  # the first broken link, in words

    def line(self) -> str:
        if self.ok:
            return f"{self.site}: ok, {self.checked} events"
        return f"{self.site}: BROKEN after {self.checked} good events: {self.problem}"


Head = tuple[int, str] | None


async def verify_chain(site: str, rows: AsyncIterable[StoredEvent],
                       head: Head | Callable[[], Awaitable[Head]],
                       notice: NoticeLookup | None = None) -> ChainReport:
    """Walk one site's events in seq order and report the first broken link.

    `notice` looks a texts_hash up in the notices table; without it the texts shown are not
    checked (only tests of the chain alone leave it out: use `verify_site`). `head` may be a
    function read after the walk, so events appended during a walk of a live ledger do not look
    like a cut chain."""
    expected_seq, prev = 1, GENESIS
    checked = 0
    anonymised: dict[int, str] = {}  # seq -> ts of anonymised rows no erase record covers yet
    erased_seqs: set[int] = set()  # seqs erase events said they anonymise
    notices: dict[str, str | None] = {}  # texts_hash -> problem (None: checked, fine)
    async for ev in rows:
        where = f"event seq {ev.seq} (id {ev.event_id})"
        if ev.seq != expected_seq:
            what = "missing (deleted?)" if ev.seq > expected_seq else "duplicated or reordered"
            return ChainReport(site, checked, False,
                               f"expected seq {expected_seq}, found {ev.seq}: events {what}")
        if ev.prev_hash != prev:
            return ChainReport(site, checked, False,
                               f"{where}: prev_hash does not match the previous event's hash "
                               "(rows edited, reordered or removed)")
        recomputed = link_hash(site, ev.seq, ev.event_id, ev.kind, ev.ts, ev.payload,
                               ev.personal_digest, ev.prev_hash)
        if recomputed != ev.hash:
            return ChainReport(site, checked, False, f"{where}: content does not match its hash (row edited)")
        if ev.personal is not None:
            if hashlib.sha256(canonical_json(ev.personal)).hexdigest() != ev.personal_digest:
                return ChainReport(site, checked, False,
                                   f"{where}: personal fields do not match their digest (row edited)")
            if ev.personal.get("subject") != ev.subject:
                return ChainReport(site, checked, False, f"{where}: subject column edited")
        else:
            if ev.subject is not None:
                return ChainReport(site, checked, False,
                                   f"{where}: an anonymised event was given a subject "
                                   "(re-attributed)")
            if ev.personal_digest != NO_PERSONAL_DIGEST:
                anonymised[ev.seq] = ev.ts
        if ev.kind == EventKind.ERASE:
            listed = ev.payload.get("erased_seqs")
            if isinstance(listed, list):
                erased_seqs.update(s for s in listed if isinstance(s, int) and s < ev.seq)
            before = ev.payload.get("before")
            if isinstance(before, str):
                # A retention record covers what is older than its cutoff and came before it.
                for seq in [s for s, ts in anonymised.items() if ts < before]:
                    del anonymised[seq]
        h = ev.payload.get("texts_hash")
        if notice is not None and isinstance(h, str):
            if h not in notices:
                notices[h] = await _notice_problem(h, notice)
            if notices[h] is not None:
                return ChainReport(site, checked, False, f"{where}: {notices[h]}")
        prev = ev.hash
        expected_seq += 1
        checked += 1
    if callable(head):
        head = await head()
    if head is None and checked:
        return ChainReport(site, checked, False,
                           "the site has events but no chain head (head deleted, and perhaps "
                           "events cut from the end)")
    if head is not None and (head[0] != checked or head[1] != prev):
        return ChainReport(site, checked, False,
                           f"chain head says seq {head[0]} but the chain ends at seq {checked} "
                           "(events removed from the end, or head edited)")
    unrecorded = sorted(s for s in anonymised if s not in erased_seqs)
    if unrecorded:
        return ChainReport(site, checked, False,
                           f"event seq {unrecorded[0]}: personal fields removed without a "
                           f"recorded erasure ({len(unrecorded)} such event(s))")
    return ChainReport(site, checked, True)


class NoticeLookup(Protocol):
    async def __call__(self, texts_hash: str, /) -> Notice | None: ...


async def _notice_problem(texts_hash: str, notice: NoticeLookup) -> str | None:
    n = await notice(texts_hash)
    if n is None:
        return f"the notice it points at ({texts_hash[:16]}…) is missing (texts deleted)"
    if hashlib.sha256(canonical_json(n.texts)).hexdigest() != texts_hash:
        return f"the notice it points at ({texts_hash[:16]}…) does not match its hash (texts edited)"
    return None


class ChainSource(Protocol):
    """What verification reads: the ledger part of a store (cmp.storage.base.LedgerStore)."""

    def iter_chain(self, site: str) -> AsyncIterator[StoredEvent]: ...

    async def chain_head(self, site: str) -> tuple[int, str] | None: ...

    async def notice(self, texts_hash: str) -> Notice | None: ...


async def verify_site(store: ChainSource, site: str,
                      rows: AsyncIterable[StoredEvent] | None = None) -> ChainReport:
    """Everything verify checks for one site: chain, head, erasure records, notices.

    `rows` replaces the store's chain (e.g. the chain passed through a Merkle accumulator)."""
    return await verify_chain(site, rows if rows is not None else store.iter_chain(site),
                              lambda: store.chain_head(site), store.notice)


def current_choices(events: Iterable[StoredEvent]) -> tuple[Choices | None, StoredEvent | None]:
    """State derived from events: the choices of the latest event that carries choices."""
    latest: StoredEvent | None = None
    for ev in events:
        if ev.payload.get("choices") is not None:
            latest = ev
    if latest is None:
        return None, None
    return latest.choices, latest


def row_to_event(row: Any) -> StoredEvent:
    """Build a StoredEvent from a storage row in column order of `EVENT_COLUMNS`."""
    site, seq, event_id, subject, kind, ts, payload, personal, digest, prev, h = row
    return StoredEvent(site, seq, event_id, subject, kind, ts, json.loads(payload),
                       json.loads(personal) if personal is not None else None, digest, prev, h)


EVENT_COLUMNS = ("site, seq, event_id, subject, kind, ts, payload, personal, personal_digest, "
                 "prev_hash, hash")
