"""One page of a listing: fetching it (bad pages re-read), checking its rows, and what it says about the end.

See the package docstring for the end-of-listing rule these helpers implement.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipelines.amocrm.client import AmoClient, AmoIncompletePage, AmoPayloadError, Page
from pipelines.amocrm.paging.stream import PageStream, ScanCounters

log = logging.getLogger(__name__)

Item = dict[str, Any]
Shape = Callable[[list[Item], int], list[Any]]  # (raw items, page number) -> rows

REREADS = 2  # an empty 200 / a page without `_embedded` is read up to this many more times, then fails
MIN_SERVED = 50  # amoCRM's default page size (what it serves when it ignores `limit`): no list serves fewer


class FiltersIgnored(Exception):
    """The server returned rows outside the requested filter window."""


@dataclass
class Endpoint:
    """One list endpoint and how to read it."""

    path: str
    collection: str
    cursor: str  # updated_at / created_at
    shape: Shape
    order: str = "updated_at"  # what offset pages are ordered by (tasks cannot order by updated_at)
    params: dict[str, Any] = field(default_factory=dict)
    page_size: int = 250


class ServedSize:
    """The page size the server is known to serve on one listing during one scan.

    `confirmed` is set by a page as long as the `limit` asked, or by a short page
    that more rows followed (the server caps pages below `limit`, as it may do for
    events). Only a page shorter than `confirmed` is trusted to be the whole of
    what matched, or one shorter than `MIN_SERVED` (or `limit`, if less); `largest` is
    the longest page seen at all.
    """

    def __init__(self, asked: int):
        self.asked = asked
        self.floor = min(asked, MIN_SERVED)
        self.confirmed: int | None = None
        self.largest = 0
        self._lock = threading.Lock()

    def saw(self, rows: int) -> None:
        with self._lock:
            self.largest = max(self.largest, rows)
            if rows >= self.asked:
                self.confirmed = max(self.confirmed or 0, rows)

    def followed(self, rows: int) -> None:
        """A page of `rows` rows had more rows after it: the server serves at least that many a page."""
        with self._lock:
            self.confirmed = max(self.confirmed or 0, rows)

    def trusts_short(self, rows: int) -> bool:
        with self._lock:
            return rows < self.floor or (self.confirmed is not None and rows < self.confirmed)


def read_page(client: AmoClient, path: str, collection: str, params: dict[str, Any]) -> Page:
    """`client.get_page`, re-reading a page that came back without its list (it never means "no rows")."""
    for attempt in range(REREADS + 1):
        try:
            return client.get_page(path, collection, params)
        except AmoIncompletePage as exc:
            if attempt == REREADS:
                raise AmoIncompletePage(exc.endpoint, exc.page, f"{exc.reason}, {attempt + 1} times in a row; "
                                        "nothing of this run was kept, the next run reads it again") from None
            log.warning("%s; reading it again", exc)
    raise AssertionError("unreachable")


def fetch(client: AmoClient, endpoint: Endpoint, params: dict[str, Any], counters: ScanCounters) -> Page:
    requested_at = time.monotonic()
    query = {**endpoint.params, **params, "limit": endpoint.page_size}
    page = read_page(client, endpoint.path, endpoint.collection, query)
    counters.fetched(requested_at, len(page.items))
    return page


def cursor_values(endpoint: Endpoint, items: list[Item], page: int) -> list[int]:
    values = []
    for item in items:
        value = item.get(endpoint.cursor)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AmoPayloadError(endpoint.path, page, f"item without an integer {endpoint.cursor!r}")
        values.append(value)
    return values


def window_params(endpoint: Endpoint, lo: int | None, hi: int | None) -> dict[str, Any]:
    params = {}
    if lo is not None:
        params[f"filter[{endpoint.cursor}][from]"] = lo
    if hi is not None:
        params[f"filter[{endpoint.cursor}][to]"] = hi
    return params


def emit(stream: PageStream, endpoint: Endpoint, items: list[Item], page: int, counters: ScanCounters) -> None:
    if items:
        try:
            rows = endpoint.shape(items, page)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise AmoPayloadError(endpoint.path, page, str(exc)) from None
        counters.add(rows=len(items))
        stream.emit(rows)


def check_offset_pages(path: str, lengths: dict[int, int], end: int, asked: int) -> None:
    """Offset pages 1..`end` must all be as long as the longest (and not under `MIN_SERVED`), but the last
    with rows: a shorter page that more rows followed lost rows (a server hiccup, or a cap changed mid-scan)."""
    pages = [p for p in sorted(lengths) if p <= end and lengths[p]]
    if len(pages) < 2:
        return
    size = max([lengths[p] for p in pages] + [min(asked, MIN_SERVED)])
    for p in pages[:-1]:
        if lengths[p] < size:
            raise AmoPayloadError(path, p, f"{lengths[p]} rows where other pages had {size}, and more pages "
                                           "followed: rows of this page are missing (nothing of this run was "
                                           "kept, the next run reads it again)")
