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
from cmp.config import SiteConfig, canonical_json
from cmp.keys import SiteKeys, b64u, b64u_decode
from cmp.ledger import StoredEvent, iso, utc_now

RECEIPT_VERSION = "consentry-receipt/1"


def build_receipt(site_id: str, site: SiteConfig, subject: str, events: list[StoredEvent],
                  keys: SiteKeys) -> dict[str, Any]:
    latest = events[-1]
    body = {
        "version": RECEIPT_VERSION,
        "issued_at": iso(utc_now()),
        "cmp": f"{CMP_NAME}/{__version__}",
        "site": site_id,
        "controller": site.name,
        "consent_id": subject,
        "current": latest.payload.get("choices"),
        "events": [
            {k: ev.public()[k] for k in ("event_id", "seq", "kind", "ts", "hash")}
            | {k: ev.payload.get(k) for k in ("action", "regime", "country", "revision",
                                                "texts_hash", "language", "gpc", "choices")}
            for ev in events
        ],
        "key_id": keys.receipt_key_id,
    }
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


def public_key_doc(keys: SiteKeys) -> dict[str, Any]:
    return {
        "alg": "Ed25519",
        "key_id": keys.receipt_key_id,
        "public_key": keys.receipt_public,
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": keys.receipt_public, "kid": keys.receipt_key_id},
    }
