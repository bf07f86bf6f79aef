"""Which destinations a click may redirect to: absolute http(s) URLs with a plain host.

Checked when a message is prepared (a link that fails is left as it was, never signed) and
again before redirecting. Refused: other schemes (`javascript:`, `data:`), scheme-relative and
backslash tricks (`//evil`, `\\\\evil`, `https:evil`), user info (`https://good@evil`), control
characters and white space, percent-encoded or otherwise odd hosts.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
# What may stay in a path/query/fragment as is; everything else is percent-encoded.
_SAFE = "/:@!$&'()*+,;=-._~?#[]%"


def safe_destination(url: str) -> str | None:
    """The URL to put in a Location header, or None if it must not be redirected to."""
    if not url or len(url) > 4096:
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it validates the port)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not url[len(parts.scheme):].startswith("://"):
        return None
    netloc = parts.netloc
    if not netloc or "@" in netloc or "%" in netloc:
        return None
    host = parts.hostname or ""
    if not _HOST.match(netloc.rsplit(":", 1)[0] if not netloc.startswith("[") else
                       netloc.split("]")[0] + "]") or not host:
        return None
    if not url.isascii():
        # An IRI from an HTML template: send the URI form (the host was ASCII already).
        url = quote(url, safe=_SAFE)
    return url
