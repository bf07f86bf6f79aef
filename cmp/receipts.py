"""Consent receipts: a signed JSON record a visitor keeps and anyone can verify.

Signed with the site's Ed25519 key (derived in cmp.keys), so verification needs only the public
key published at /v1/sites/{site}/receipt-key — no shared secret, no trust in our server's word.
Shape inspired by the Kantara Consent Receipt: who, when, what was shown, what was chosen, and
the ledger hashes that anchor it to the chain.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cmp import CMP_NAME, __version__
from cmp.checkpoints import event_leaf, verified_head
from cmp.config import SiteConfig, canonical_json
from cmp.grants import Permission, supersedes
from cmp.keys import SiteKeys, b64u, b64u_decode
from cmp.ledger import StoredEvent, iso, link_hash, utc_now
from cmp.merkle import verify_inclusion

RECEIPT_VERSION = "consentry-receipt/1"


_PERSON_FIELDS = ("channel", "method", "item", "recipient", "contact", "operator", "reference")


def current_recipients(events: list[StoredEvent]) -> list[dict[str, Any]]:
    """Per item and recipient, the answer that stands (per-recipient asks, cmp/asks.py)."""
    held: dict[tuple[str, str], tuple[Permission, dict[str, Any]]] = {}
    for ev in events:
        p = ev.payload
        if p.get("channel") != "ask" or not isinstance(p.get("recipient"), dict):
            continue
        key = (str(p.get("item")), str(p["recipient"].get("id")))
        perm = Permission(p.get("action") == "agree", ev.ts, ev.event_id, ev.seq)
        if supersedes(perm, held[key][0] if key in held else None):
            held[key] = (perm, p["recipient"])
    return [{"item": item, "recipient": rec, "agreed": perm.allowed, "event_id": perm.event_id,
             "at": perm.at} for (item, _), (perm, rec) in sorted(held.items())]


def build_receipt(site_id: str, site: SiteConfig, subject: str, events: list[StoredEvent],
                  keys: SiteKeys, ledger_proof: dict[str, Any] | None = None) -> dict[str, Any]:
    with_choices = [ev for ev in events if ev.payload.get("choices") is not None]
    body: dict[str, Any] = {
        "version": RECEIPT_VERSION,
        "issued_at": iso(utc_now()),
        "cmp": f"{CMP_NAME}/{__version__}",
        "site": site_id,
        "controller": site.name,
        "consent_id": subject,
        "current": with_choices[-1].payload["choices"] if with_choices else None,
        "events": [
            {k: ev.public()[k] for k in ("event_id", "seq", "kind", "ts", "hash")}
            | {k: ev.payload.get(k) for k in ("action", "regime", "country", "revision",
                                                "texts_hash", "language", "gpc", "choices")}
            # what a person's event also says (a channel, a method, a recipient), when it does
            | {k: ev.payload[k] for k in _PERSON_FIELDS if k in ev.payload}
            for ev in events
        ],
        "key_id": keys.receipt_key_id,
    }
    recipients = current_recipients(events)
    if recipients:
        body["recipients"] = recipients
    if ledger_proof is not None:
        # Each event's fields as hashed, its audit path and the signed tree head it is in:
        # enough to check offline, with the public key only (verify_ledger_proof).
        body["ledger_proof"] = ledger_proof
    signature = keys.receipt_key.sign(canonical_json(body))
    return {"receipt": body, "alg": "Ed25519", "signature": b64u(signature)}


def verify_receipt(doc: Any, public_key_b64u: str) -> bool:
    """True only for an unaltered receipt signed by the key given."""
    if not isinstance(doc, dict) or not isinstance(doc.get("receipt"), dict):
        return False
    sig = doc.get("signature")
    if doc.get("alg") != "Ed25519" or not isinstance(sig, str):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(b64u_decode(public_key_b64u))
        key.verify(b64u_decode(sig), canonical_json(doc["receipt"]))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_ledger_proof(doc: Any, public_key_b64u: str) -> str | None:
    """Check a receipt's ledger proof offline; None when it holds, else what fails.

    Each event is re-hashed from its fields (so an altered event no longer gives its chain
    hash), then its leaf must sit at its index of the tree whose root the head signs."""
    receipt = doc.get("receipt") if isinstance(doc, dict) else None
    proof = receipt.get("ledger_proof") if isinstance(receipt, dict) else None
    if not isinstance(receipt, dict) or not isinstance(proof, dict) or \
            not isinstance(proof.get("events"), list):
        return "the receipt carries no ledger proof"
    head = verified_head(proof.get("tree_head"), public_key_b64u)
    if head is None:
        return "the tree head's signature does not verify with this key"
    if head["site"] != receipt.get("site"):
        return "the tree head is of another site"
    root_hash = bytes.fromhex(head["root_hash"])
    try:
        for ev in proof["events"]:
            seq = ev["seq"]
            if link_hash(head["site"], seq, ev["event_id"], ev["kind"], ev["ts"], ev["payload"],
                         ev["personal_digest"], ev["prev_hash"]) != ev["hash"]:
                return f"event seq {seq}: its fields do not give its hash (altered)"
            path = [bytes.fromhex(h) for h in ev["audit_path"]]
            if ev["leaf_index"] != seq - 1 or not verify_inclusion(
                    seq - 1, head["tree_size"], event_leaf(ev["hash"]), path, root_hash):
                return f"event seq {seq}: not in the signed tree of {head['tree_size']} events"
        proven = {(ev["seq"], ev["hash"]) for ev in proof["events"]}
        for ev in receipt.get("events") or []:
            if (ev["seq"], ev["hash"]) not in proven:
                return f"event seq {ev['seq']}: the proof does not cover it"
    except (KeyError, TypeError, ValueError):
        return "the ledger proof is malformed"
    return None


def public_key_doc(keys: SiteKeys) -> dict[str, Any]:
    return {
        "alg": "Ed25519",
        "key_id": keys.receipt_key_id,
        "public_key": keys.receipt_public,
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": keys.receipt_public, "kid": keys.receipt_key_id},
    }
