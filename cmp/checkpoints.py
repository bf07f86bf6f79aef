"""Signed checkpoints of the ledger, in the manner of Certificate Transparency (RFC 9162).

Per site, a Merkle tree over its events in chain order (leaf data: each event's chain hash,
see cmp.merkle); a checkpoint is a signed tree head: site, tree size, root hash, time and key
id, signed with the site's Ed25519 receipt key. The hash chain makes an edited row evident;
only a tree head kept outside the database makes a *rewrite* evident: anyone who can write the
database can re-hash the whole chain, but cannot make its first `tree_size` leaves give the
root a witness holds, nor sign a new head without the key.

What a checkpoint proves and does not is in the README ("Rewrite-evident ledger").
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cmp.config import canonical_json
from cmp.errors import ErrorKind, FieldError
from cmp.keys import Keyring, SiteKeys, b64u, b64u_decode
from cmp.ledger import StoredEvent, iso, utc_now, verify_site
from cmp.merkle import (
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
)
from cmp.storage.base import CheckpointSource

log = logging.getLogger("consentry.checkpoints")

CHECKPOINT_VERSION = "consentry-checkpoint/1"
HEAD_FIELDS = ("version", "site", "tree_size", "root_hash", "timestamp", "key_id")


def event_leaf(chain_hash: str) -> bytes:
    """The Merkle leaf hash of an event, from its chain hash (hex)."""
    try:
        data = bytes.fromhex(chain_hash)
    except ValueError:  # a mangled row still gives a leaf, just never the signed one
        data = chain_hash.encode()
    return leaf_hash(data)


def sign_tree_head(site: str, tree_size: int, root_hash: bytes, keys: SiteKeys,
                   timestamp: str | None = None) -> dict[str, Any]:
    body = {
        "version": CHECKPOINT_VERSION,
        "site": site,
        "tree_size": tree_size,
        "root_hash": root_hash.hex(),
        "timestamp": timestamp or iso(utc_now()),
        "key_id": keys.receipt_key_id,
    }
    return {"checkpoint": body, "alg": "Ed25519",
            "signature": b64u(keys.receipt_key.sign(canonical_json(body)))}


def verified_head(doc: Any, public_key_b64u: str) -> dict[str, Any] | None:
    """The signed fields of a tree head if `doc` is one, unaltered, signed by that key."""
    if not isinstance(doc, dict) or doc.get("alg") != "Ed25519":
        return None
    body, sig = doc.get("checkpoint"), doc.get("signature")
    if not isinstance(body, dict) or not isinstance(sig, str) or set(body) != set(HEAD_FIELDS):
        return None
    if body["version"] != CHECKPOINT_VERSION or not isinstance(body["site"], str):
        return None
    size, root_hex = body["tree_size"], body["root_hash"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return None
    if not isinstance(root_hex, str) or len(root_hex) != 64:
        return None
    try:
        bytes.fromhex(root_hex)
        key = Ed25519PublicKey.from_public_bytes(b64u_decode(public_key_b64u))
        key.verify(b64u_decode(sig), canonical_json(body))
    except (InvalidSignature, ValueError, TypeError):
        return None
    return body


class Roots:
    """Passes a chain through while building its tree; keeps the root at each size asked for."""

    def __init__(self, sizes: Iterable[int] = ()) -> None:
        self.builder = TreeBuilder()
        self.sizes = set(sizes)
        self.at: dict[int, bytes] = {}

    async def wrap(self, rows: AsyncIterable[StoredEvent]) -> AsyncIterator[StoredEvent]:
        async for ev in rows:
            self.builder.add(event_leaf(ev.hash))
            if self.builder.size in self.sizes:
                self.at[self.builder.size] = self.builder.root()
            yield ev


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    site: str
    tree_size: int
    timestamp: str
    ok: bool
    problem: str | None = None

    def line(self) -> str:
        what = f"{self.site}: checkpoint of {self.tree_size} events ({self.timestamp})"
        if self.ok:
            return f"{what}: ok, the history up to it is unchanged"
        return f"{what}: FAILS: {self.problem}"


class CheckpointService:
    def __init__(self, storage: CheckpointSource, keyring: Keyring) -> None:
        self.storage = storage
        self.keyring = keyring

    async def make(self, site: str) -> tuple[dict[str, Any], bool]:
        """Verify the site's chain, then sign and store a tree head over all of it.

        Returns (tree head, stored now); a head of the same size stored before (by another
        worker, or with no events since) is returned as it is. A broken chain is refused:
        signing it would vouch for the tampering."""
        roots = Roots()
        report = await verify_site(self.storage, site, roots.wrap(self.storage.iter_chain(site)))
        if not report.ok:
            raise FieldError("site", f"not signing a broken chain: {report.line()}",
                             ErrorKind.CONFLICT)
        size = roots.builder.size
        if size == 0:
            raise FieldError("site", f"site {site!r} has no events to checkpoint",
                             ErrorKind.NOT_FOUND)
        stored = await self.storage.checkpoint(site, size)
        if stored is not None:
            return json.loads(stored), False
        doc = sign_tree_head(site, size, roots.builder.root(), self.keyring.site(site))
        body = doc["checkpoint"]
        new = await self.storage.add_checkpoint(site, size, body["root_hash"], body["timestamp"],
                                                body["key_id"], canonical_json(doc).decode())
        if not new:  # another worker stored this size a moment ago: theirs is the one kept
            stored = await self.storage.checkpoint(site, size)
            return (json.loads(stored) if stored else doc), False
        return doc, True

    async def stored(self, site: str, size: int | None = None) -> dict[str, Any] | None:
        doc = await self.storage.checkpoint(site, size)
        return json.loads(doc) if doc is not None else None

    async def _leaves(self, site: str, upto: int) -> list[bytes]:
        return [event_leaf(h) for h in await self.storage.leaf_hashes(site, upto)]

    async def consistency(self, site: str, first: int, second: int) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes of the current history."""
        if first < 1:
            raise FieldError("first", "must be at least 1")
        if second < first:
            raise FieldError("second", "must be at least `first`")
        leaves = await self._leaves(site, second)
        if len(leaves) < second:
            raise FieldError("second", f"the ledger has only {len(leaves)} events",
                             ErrorKind.NOT_FOUND)
        return {"site": site, "first": first, "second": second,
                "first_root": root(leaves[:first]).hex(), "second_root": root(leaves).hex(),
                "proof": [h.hex() for h in consistency_proof(first, leaves)]}

    async def inclusion(self, site: str, events: list[StoredEvent]) -> dict[str, Any] | None:
        """Audit paths of `events` against the latest tree head that holds them all.

        The latest stored checkpoint when it covers them; otherwise a head signed now over the
        current tree (`"stored": false`; the next checkpoint will be consistent with it)."""
        if not events:
            return None
        head = await self.stored(site)
        need = max(ev.seq for ev in events)
        fresh = head is None or int(head["checkpoint"]["tree_size"]) < need
        if fresh:
            tip = await self.storage.chain_head(site)
            size = tip[0] if tip else need
        else:
            assert head is not None
            size = int(head["checkpoint"]["tree_size"])
        leaves = await self._leaves(site, size)
        if len(leaves) < max(size, need):
            return None  # the chain is shorter than its head says: verify will report it
        if fresh:
            head = sign_tree_head(site, size, root(leaves), self.keyring.site(site))
        return {
            "tree_head": head,
            "stored": not fresh,
            "events": [{"seq": ev.seq, "leaf_index": ev.seq - 1, "event_id": ev.event_id,
                        "kind": ev.kind, "ts": ev.ts, "payload": ev.payload,
                        "personal_digest": ev.personal_digest, "prev_hash": ev.prev_hash,
                        "hash": ev.hash,
                        "audit_path": [h.hex() for h in inclusion_proof(ev.seq - 1, leaves)]}
                       for ev in events],
        }


async def check_checkpoints(storage: CheckpointSource, keyring: Keyring,
                            docs: list[Any]) -> tuple[list[str], bool]:
    """`ledger verify --checkpoint`: each head's signature, then whether the current history
    still gives its root over its first tree_size events. Returns (report lines, all ok)."""
    lines: list[str] = []
    ok = True
    by_site: dict[str, list[dict[str, Any]]] = {}
    for i, doc in enumerate(docs):
        site = doc.get("checkpoint", {}).get("site") if isinstance(doc, dict) else None
        if not isinstance(site, str):
            lines.append(f"checkpoint #{i + 1}: not a Consentry checkpoint")
            ok = False
            continue
        body = verified_head(doc, keyring.site(site).receipt_public)
        if body is None:
            lines.append(f"{site}: checkpoint #{i + 1}: FAILS: its signature does not verify "
                         f"with site {site!r}'s receipt key (forged or altered)")
            ok = False
            continue
        by_site.setdefault(site, []).append(body)
    for site, heads in sorted(by_site.items()):
        roots = Roots(h["tree_size"] for h in heads)
        report = await verify_site(storage, site, roots.wrap(storage.iter_chain(site)))
        lines.append(report.line())
        ok &= report.ok
        for h in sorted(heads, key=lambda h: int(h["tree_size"])):
            size = int(h["tree_size"])
            got = roots.at.get(size)
            if got is None:
                problem = (f"the chain has only {roots.builder.size} events (history cut)"
                           if report.ok else "the chain breaks before it (see above)")
                check = CheckpointCheck(site, size, h["timestamp"], False, problem)
            elif got.hex() != h["root_hash"]:
                check = CheckpointCheck(site, size, h["timestamp"], False,
                                        f"the first {size} events no longer give its root "
                                        "(history rewritten since)")
            else:
                check = CheckpointCheck(site, size, h["timestamp"], True)
            lines.append(check.line())
            ok &= check.ok
    return lines, ok


def load_checkpoint_file(text: str) -> list[Any]:
    """A checkpoint file: one signed tree head (JSON object) or a list of them."""
    doc = json.loads(text)
    return doc if isinstance(doc, list) else [doc]


def _post(url: str, body: bytes, timeout: float) -> None:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "consentry-checkpoints"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (an operator's URL)
        if not 200 <= resp.status < 300:
            raise OSError(f"answered {resp.status}")


async def export_checkpoint(doc: dict[str, Any], directory: str = "", webhook: str = "",
                            timeout: float = 10.0) -> list[str]:
    """Hand a new tree head to witnesses: a file in `directory`, a POST to `webhook`.

    Returns what failed, in words (empty: all done). A failure never loses the checkpoint
    (it is stored already); it only means no copy left the database this time."""
    problems = []
    head = doc["checkpoint"]
    body = json.dumps(doc, indent=2).encode() + b"\n"
    if directory:
        folder = Path(directory)
        target = folder / f"{head['site']}-{int(head['tree_size']):012d}.json"
        try:
            if not folder.is_dir():  # never create folders: a typo must not go unnoticed
                raise OSError(f"{folder} is not a folder")
            await asyncio.to_thread(target.write_bytes, body)
        except OSError as exc:
            problems.append(f"checkpoint_dir: cannot write {target}: {exc}")
    if webhook:
        try:
            await asyncio.to_thread(_post, webhook, body, timeout)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            problems.append(f"checkpoint_webhook: POST to {webhook} failed: {exc}")
    for p in problems:
        log.warning("%s", p)
    return problems


async def checkpoint_all(service: CheckpointService, sites: Iterable[str], directory: str = "",
                         webhook: str = "") -> int:
    """One round of the server's automatic checkpoints; returns how many were new.

    A site with no new events since its last checkpoint gets none (same size: already
    stored); a broken chain gets none and is logged (signing it would vouch for it)."""
    made = 0
    for site in sites:
        try:
            doc, new = await service.make(site)
        except FieldError as exc:
            if exc.kind != ErrorKind.NOT_FOUND:
                log.error("checkpoint of %s refused: %s", site, exc.message)
            continue
        if new:
            made += 1
            await export_checkpoint(doc, directory, webhook)
    return made


async def run_periodically(service: CheckpointService, sites: Iterable[str], minutes: float,
                           directory: str = "", webhook: str = "") -> None:
    """The server's checkpoint loop (cancelled at shutdown). Several workers may each run it:
    the table keeps one head per size, and only the worker that stored it exports it."""
    sites = list(sites)
    while True:
        await asyncio.sleep(minutes * 60)
        try:
            await checkpoint_all(service, sites, directory, webhook)
        except Exception:  # a database hiccup must not end the loop for good
            log.exception("automatic checkpoint failed")
