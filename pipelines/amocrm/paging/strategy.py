"""Which scan reads an incremental list (`EntitySpec.scan` in endpoints.py), and the loud fallback
when the account ignores list filters (amoCRM's paid "API filter" add-on)."""

from __future__ import annotations

import logging
from typing import Callable, Iterator

from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.paging.keyset import keyset_scan
from pipelines.amocrm.paging.offset import fallback_scan, head_safe_stripe
from pipelines.amocrm.paging.pages import Endpoint, FiltersIgnored
from pipelines.amocrm.paging.stream import ScanCounters
from pipelines.amocrm.paging.windows import window_scan

log = logging.getLogger(__name__)

INCREMENTAL_SCANS = ("keyset", "window", "stripe")


def scan(client: AmoClient, endpoint: Endpoint, kind: str, lo: int, *, filters: bool, now: Callable[[], int | None],
         workers: int, counters: ScanCounters, poll: bool = False) -> Iterator[list | None]:
    """Read one endpoint from `lo` with the scan `kind`; when the account does not honour filters
    (`filters` False, or rows outside the window came back), read it in full and filter here.
    `poll`: yield None while no page is ready (paging.stream.PageStream)."""
    if kind not in INCREMENTAL_SCANS:
        raise ValueError(f"{endpoint.path}: {kind!r} is not an incremental scan ({', '.join(INCREMENTAL_SCANS)})")
    if filters:
        try:
            if kind == "keyset":
                yield from keyset_scan(client, endpoint, lo, now(), workers, counters, poll)
            elif kind == "window":
                yield from window_scan(client, endpoint, lo, now(), workers, counters, poll)
            else:
                yield from head_safe_stripe(client, endpoint, lo, now(), workers, counters, poll)
            return
        except FiltersIgnored:
            log.warning("%s ignores filters: reading it in full and filtering here", endpoint.path)
    yield from fallback_scan(client, endpoint, lo, workers, counters, order_desc=kind == "keyset", poll=poll)
