"""Webhook signatures: how an SMS provider's call (or the customer's relay of it) proves it
comes from someone holding the site's webhook secret.

    X-Consentry-Timestamp: <unix seconds>
    X-Consentry-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

`secret` is the site's webhook secret exactly as `consentry keys secrets --site S` prints it
(its ASCII text is the HMAC key, so `openssl dgst -sha256 -hmac "$SECRET"` makes the same).
The timestamp is signed with the body, and a call older than MAX_AGE is refused, so a
captured call cannot be replayed later. Standard library only: a relay may copy `sign`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "X-Consentry-Signature"
TIMESTAMP_HEADER = "X-Consentry-Timestamp"
MAX_AGE = 300  # seconds, either way (a relay's clock may run a little ahead of ours)
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """Why a call is refused; `field` names the header at fault (for the 401)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _mac(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("ascii"), timestamp.encode("ascii") + b"." + body,
                    hashlib.sha256).digest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign `body` (the exact bytes sent) at `now` (default: now)."""
    ts = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: "sha256=" + _mac(secret, ts, body).hex()}


def verify(secret: str, body: bytes, signature: str | None, timestamp: str | None, *,
           now: float | None = None) -> None:
    """Return if `body` was signed with `secret` less than MAX_AGE ago; SignatureError else."""
    if not timestamp:
        raise SignatureError(TIMESTAMP_HEADER, "missing: the unix time the call was signed")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError(TIMESTAMP_HEADER, "must be unix seconds (digits only)")
    if not signature:
        raise SignatureError(SIGNATURE_HEADER, "missing: sha256=<hex HMAC-SHA256 of "
                                               "'<timestamp>.<body>' with the webhook secret>")
    m = _SIGNATURE.fullmatch(signature.strip())
    if m is None:
        raise SignatureError(SIGNATURE_HEADER, "must be sha256= followed by 64 hex digits")
    if not hmac.compare_digest(bytes.fromhex(m.group(1)), _mac(secret, timestamp, body)):
        raise SignatureError(SIGNATURE_HEADER, "does not match the body and timestamp "
                                               "(wrong secret, or the body was changed)")
    age = (time.time() if now is None else now) - int(timestamp)
    if age > MAX_AGE:
        raise SignatureError(TIMESTAMP_HEADER, f"older than {MAX_AGE // 60} minutes: "
                                               "refused as a possible replay")
    if age < -MAX_AGE:
        raise SignatureError(TIMESTAMP_HEADER, f"more than {MAX_AGE // 60} minutes ahead of "
                                               "our clock")
