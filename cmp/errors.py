"""Domain errors: what kind of refusal, and which field is at fault. No HTTP here.

Domain code says *why* it refuses (the site is unknown, the banner showed a stale revision,
the link has expired …); the HTTP edge (cmp.api.http.STATUS) alone turns a kind into a status
code, and the CLI into a message and exit code.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"  # the input is malformed or names something that does not exist in it
    UNKNOWN_SITE = "unknown_site"  # the site in the path is not in the config
    NOT_FOUND = "not_found"  # what the request names (a link, a record) is not there
    STALE_REVISION = "stale_revision"  # made against a config revision that is no longer current
    FORBIDDEN = "forbidden"  # who asks may not do this (another person's ask)
    CONFLICT = "conflict"  # the current state forbids it (e.g. sending to an unsubscribed recipient)
    GONE = "gone"  # it existed but has expired
    TOO_LARGE = "too_large"  # the body is over its limit
    UNSUPPORTED_MEDIA = "unsupported_media"  # a body of a type we do not read


class DomainError(Exception):
    """A refusal of the domain, naming the field (dotted path) it is about."""

    def __init__(self, kind: ErrorKind, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.kind = kind
        self.field = field
        self.message = message


class FieldError(DomainError):
    """Bad input naming the field; `kind` says what is wrong with it beyond plain invalid."""

    def __init__(self, field: str, message: str, kind: ErrorKind = ErrorKind.INVALID) -> None:
        super().__init__(kind, field, message)
