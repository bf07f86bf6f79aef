"""People on SQLite: identifier links and the latest contact answers, kept by the ledger
writer's transaction (`apply_people`), and the reads the people service and `may-contact`
make."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence

from cmp.contacts import contact_changes, item_people_changes, link_changes
from cmp.grants import Permission, supersedes
from cmp.ledger import StoredEvent
from cmp.storage.base import StorageError
from cmp.storage.records import ContactRow, LinkRow, RecipientCount
from cmp.storage.sqlite.connection import SQLiteConnection, immediate

_GET = ("SELECT allowed, at, event_id, seq FROM contact_state "
        "WHERE site = ? AND subject = ? AND channel = ? AND scope = ?")
_PUT = ("INSERT INTO contact_state (site, subject, channel, scope, allowed, at, event_id, seq) "
        "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (site, subject, channel, scope) DO UPDATE SET "
        "allowed = excluded.allowed, at = excluded.at, event_id = excluded.event_id, "
        "seq = excluded.seq")
# Per (item, recipient): people whose standing answer is an agreement given in the year,
# and the latest such row (its event names the recipient as shown).
_RECIPIENTS = (
    "SELECT channel, scope, n, subject, event_id FROM ("
    " SELECT channel, scope, subject, event_id,"
    " COUNT(*) OVER (PARTITION BY channel, scope) AS n,"
    " ROW_NUMBER() OVER (PARTITION BY channel, scope ORDER BY seq DESC) AS rk"
    " FROM contact_state WHERE site = ? AND channel LIKE 'separate:%' AND allowed = 1"
    " AND at >= ? AND at < ?) a WHERE rk = 1 ORDER BY n DESC, channel, scope LIMIT ?")


def apply_people(db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
    """Inside the writer's open transaction: links, then each answer if it supersedes the one
    held (cmp.grants.supersedes decides, not SQL)."""
    links = link_changes(events)
    if links:
        db.executemany(
            "INSERT INTO person_links (site, identifier, person, kind, linked_at, seq) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (site, identifier) DO UPDATE SET "
            "person = excluded.person, kind = excluded.kind, linked_at = excluded.linked_at, "
            "seq = excluded.seq",
            [(x.site, x.identifier, x.person, x.kind, x.linked_at, x.seq) for x in links])
    agreed = item_people_changes(events)
    if agreed:
        db.executemany("INSERT OR IGNORE INTO dash_item_people (site, item, year, person) "
                       "VALUES (?,?,?,?)", agreed)
    for c in contact_changes(events):
        row = db.execute(_GET, (c.site, c.subject, c.channel, c.scope)).fetchone()
        old = Permission(bool(row[0]), row[1], row[2], row[3]) if row else None
        if supersedes(c.permission, old):
            p = c.permission
            db.execute(_PUT, (c.site, c.subject, c.channel, c.scope, int(p.allowed), p.at,
                              p.event_id, p.seq))


# One statement, not three (21 -> 15 us a lookup at 10,000 people): the identifier's person,
# every answer of either on the channel (a row each, or one row of NULLs), and whether the
# identifier has answers on any channel (`known` when it has no person).
_LOOKUP = (
    "SELECT p.person, c.subject, c.channel, c.scope, c.allowed, c.at, c.event_id, c.seq, "
    "EXISTS (SELECT 1 FROM contact_state WHERE site = ?1 AND subject = ?2) "
    "FROM (SELECT (SELECT person FROM person_links WHERE site = ?1 AND identifier = ?2) "
    "AS person) p LEFT JOIN contact_state c ON c.site = ?1 AND c.channel = ?3 "
    "AND c.subject IN (?2, p.person)")


def _contact_row(r: Sequence[object]) -> ContactRow:
    return ContactRow(str(r[0]), str(r[1]), str(r[2]),
                      Permission(bool(r[3]), str(r[4]), str(r[5]), int(str(r[6]))))


class SQLitePeople(SQLiteConnection):
    async def person_links(self, site: str, person: str) -> list[LinkRow]:
        async with self._rconn.execute(
                "SELECT identifier, kind, linked_at, seq FROM person_links "
                "WHERE site = ? AND person = ? ORDER BY seq, identifier", (site, person)) as cur:
            return [LinkRow(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]

    async def person_of(self, site: str, identifier: str) -> str | None:
        async with self._rconn.execute(
                "SELECT person FROM person_links WHERE site = ? AND identifier = ?",
                (site, identifier)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def closed_accounts(self, site: str) -> list[tuple[str, str]]:
        async with self._rconn.execute(
                "SELECT subject, json_extract(payload, '$.at') FROM consent_events "
                "WHERE site = ? AND kind = 'lifecycle' AND subject IS NOT NULL "
                "AND json_extract(payload, '$.lifecycle') = 'account_closed' ORDER BY seq",
                (site,)) as cur:
            return [(str(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def contact_rows(self, site: str, subjects: list[str]) -> list[ContactRow]:
        if not subjects:
            return []
        marks = ",".join("?" * len(subjects))
        async with self._rconn.execute(
                "SELECT subject, channel, scope, allowed, at, event_id, seq FROM contact_state "
                f"WHERE site = ? AND subject IN ({marks}) ORDER BY channel, scope, subject",
                (site, *subjects)) as cur:
            return [_contact_row(r) for r in await cur.fetchall()]

    async def item_people(self, site: str, year: int) -> dict[str, int]:
        async with self._rconn.execute(
                "SELECT item, COUNT(*) FROM dash_item_people WHERE site = ? AND year = ? "
                "GROUP BY item", (site, year)) as cur:
            return {str(r[0]): int(r[1]) for r in await cur.fetchall()}

    async def recipient_people(self, site: str, year: int, limit: int
                               ) -> list[RecipientCount]:
        # Standing agreements only (a withdrawal replaces the row): who may receive data now.
        async with self._rconn.execute(_RECIPIENTS, (site, f"{year:04d}", f"{year + 1:04d}",
                                                     limit)) as cur:
            return [RecipientCount(str(r[0]).removeprefix("separate:"), str(r[1]), int(r[2]),
                                   str(r[3]), str(r[4])) for r in await cur.fetchall()]

    async def contact_lookup(self, site: str, identifier: str, channel: str
                             ) -> tuple[str | None, list[ContactRow], bool]:
        """(person, the channel's answers of the identifier and its person, whether either is
        known at all) in one read on the event loop's thread: `may-contact` runs before every
        message a sender sends. The stdlib connection answers a point lookup in microseconds
        where a hop to aiosqlite's thread costs tens; it is the writer's connection, whose
        batches also run on this thread, so the read never sees half a batch."""
        db = self._db
        if db is None:
            return None, [], False
        try:
            rows = db.execute(_LOOKUP, (site, identifier, channel)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"read failed: {exc}") from exc
        person = str(rows[0][0]) if rows and rows[0][0] is not None else None
        found = [_contact_row(r[1:8]) for r in rows if r[1] is not None]
        known = person is not None or bool(found) or bool(rows and rows[0][8])
        return person, found, known

    async def people_forget(self, site: str, person: str, keep: list[ContactRow]) -> int:
        """Erasure of a person: drop their links and every answer held for them and their
        identifiers, then store `keep` (the opt-outs, re-keyed to the identifiers so they still
        refuse after the person is gone). One transaction; returns rows removed."""
        def fn(db: sqlite3.Connection) -> int:
            with immediate(db):
                idents = [r[0] for r in db.execute(
                    "SELECT identifier FROM person_links WHERE site = ? AND person = ?",
                    (site, person))]
                subjects = [person, *idents]
                marks = ",".join("?" * len(subjects))
                n = int(db.execute(f"DELETE FROM contact_state WHERE site = ? AND subject IN "
                                   f"({marks})", (site, *subjects)).rowcount)
                n += int(db.execute("DELETE FROM person_links WHERE site = ? AND person = ?",
                                    (site, person)).rowcount)
                # The yearly count keeps them (the data did go abroad); the pseudonym goes.
                db.execute("UPDATE dash_item_people SET person = ? WHERE site = ? AND person = ?",
                           ("x_" + secrets.token_hex(16), site, person))
                db.executemany(_PUT, [(site, k.subject, k.channel, k.scope,
                                       int(k.permission.allowed), k.permission.at,
                                       k.permission.event_id, k.permission.seq)
                                      for k in keep])
            return n
        return await self._write(fn)
