"""Reading the dashboard rollups: the views' numbers from the count tables storage keeps.

Nothing here writes: the storage writers keep the rollups in the transactions that store the
rows they count (cmp/storage/rollups.py decides what a batch adds), so a count never disagrees
with its events. The views ask only for a `RollupStore`.
"""

from __future__ import annotations

from cmp.storage.base import RollupStore
from dashboards.metrics import Campaign, ConsentSummary, campaigns, consent_summary


async def consent_rollups(store: RollupStore, site_id: str, *, since: str, until: str,
                          purposes: list[str]) -> ConsentSummary:
    """The consent view's counts for the days `since`..`until` (UTC, inclusive)."""
    return consent_summary(await store.dash_consent_daily(site_id, since),
                           await store.dash_purpose_daily(site_id, since),
                           since=since, until=until, purposes=purposes)


async def email_rollups(store: RollupStore, site_id: str) -> list[Campaign]:
    """The e-mail view's campaigns, newest first."""
    return campaigns(await store.dash_email_daily(site_id))
