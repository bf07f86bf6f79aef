"""Is this SMS reply an opt-out? The whole message must be one of the site's opt-out keywords
(`[sites.X.channels.sms] opt_out_keywords`), compared in one spelling: NFKC (full-width
`ＴＤ` is `TD`, an ideographic space a space), trimmed, case-folded, trailing punctuation
dropped (`退订。`, `Stop!`, `t.`). A keyword inside a longer message does not count: "don't
stop" and "TD是什么" are questions, not opt-outs, and a sender reading them as opt-outs would
lose members who never asked to leave.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


def _edge(c: str) -> bool:
    # Spaces and invisible format characters (a zero-width space a phone keyboard added).
    return c.isspace() or unicodedata.category(c) == "Cf"


def normalise_reply(text: str) -> str:
    """The spelling an opt-out keyword and a reply are compared in."""
    s = unicodedata.normalize("NFKC", text).casefold()
    start, end = 0, len(s)
    while start < end and _edge(s[start]):
        start += 1
    while end > start and (_edge(s[end - 1]) or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[start:end]


def matched_keyword(text: str, keywords: Iterable[str]) -> str | None:
    """The keyword (as configured) the whole reply is, or None."""
    reply = normalise_reply(text)
    if not reply:
        return None
    for kw in keywords:
        if normalise_reply(kw) == reply:
            return kw
    return None
