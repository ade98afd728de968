"""Offset scans: `striped_scan` (events, fallbacks), `fallback_scan`, and `all_pages` (small reference lists).

Offset pages suit sets where offsets are stable enough: events are immutable and
only ever added, but added at the head of a newest-first list, which shifts every
offset by one. Pages read in parallel can then miss a row at a page boundary (a
later page served before the insert, an earlier one after it), so `head_safe_stripe`
reads in parallel only what is older than the server's clock, and the newer rows one
page after another (a shift then only repeats a row, merged away on its key).
An offset scan ends only on an empty page (204, or an empty `_embedded` list),
never on a short one: a page capped below `limit` (events) or cut short looks the same. Once it ended, every page but the last with rows must
be as long as the longest (`check_offset_pages`), or the resource fails.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any, Callable, Iterator

from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.paging.pages import (
    Endpoint,
    FiltersIgnored,
    Item,
    check_offset_pages,
    cursor_values,
    emit,
    fetch,
    read_page,
    window_params,
)
from pipelines.amocrm.paging.stream import PageStream, ScanCounters

log = logging.getLogger(__name__)

Keep = Callable[[list[Item], list[int], int], tuple[list[Item], bool]]


def striped_scan(
    client: AmoClient, endpoint: Endpoint, params: dict[str, Any], workers: int, counters: ScanCounters, keep: Keep,
    poll: bool = False,
) -> Iterator[list[Any] | None]:
    """Offset pages 1, 2, ... fetched by `workers` threads at once, up to the first empty page.

    `keep(items, cursor values, page)` returns the items to emit and whether this
    page ends the scan. At most `workers - 1` requests are spent past the end.
    (More threads while the rate has room were tried: the requests sent, and their
    number, then depend on timing, so a run cannot be compared with the last one.)
    `poll`: PageStream's.
    """
    stream = PageStream(max(1, workers), poll=poll)
    lock = threading.Lock()
    pages = itertools.count(1)
    end: list[int] = []
    lengths: dict[int, int] = {}

    def job() -> None:
        while True:
            with lock:
                page_no = next(pages)
                if end and page_no > end[0]:
                    return
            page = fetch(client, endpoint, {**params, "page": page_no}, counters)
            with lock:
                lengths[page_no] = len(page.items)
            values = cursor_values(endpoint, page.items, page_no)
            items, stop = keep(page.items, values, page_no)
            emit(stream, endpoint, items, page_no, counters)
            if not page.items or stop:
                with lock:
                    end[:] = [min(end + [page_no])]

    for _ in range(stream.workers):
        stream.submit(job)
    yield from stream
    if end:
        check_offset_pages(endpoint.path, lengths, end[0], endpoint.page_size)


def head_safe_stripe(
    client: AmoClient, endpoint: Endpoint, lo: int, now: int | None, workers: int, counters: ScanCounters,
    poll: bool = False,
) -> Iterator[list[Any] | None]:
    """All rows with `cursor >= lo` of a newest-first list that grows at its head (events): those newer
    than `now` one page at a time (first: their few requests overlap the other lists instead of ending
    the run), then `[lo, now]` striped over `workers`, where no row can be added any more.
    `now` is the server's clock a second back (the `Date` of its latest answer); without it all is read
    one page at a time. `poll`: PageStream's."""
    split = now is not None and now >= lo
    newer = now + 1 if split else lo
    yield from striped_scan(client, endpoint, window_params(endpoint, newer, None), 1, counters,
                            window_keep(endpoint, newer, None), poll)
    if split:
        yield from striped_scan(client, endpoint, window_params(endpoint, lo, now), workers, counters,
                                window_keep(endpoint, lo, now), poll)


def window_keep(endpoint: Endpoint, lo: int | None, hi: int | None) -> Keep:
    """`keep` for filtered windows: any row outside [lo, hi] means the filter is ignored."""

    def keep(items: list[Item], values: list[int], page: int) -> tuple[list[Item], bool]:
        if any((lo is not None and v < lo) or (hi is not None and v > hi) for v in values):
            raise FiltersIgnored(endpoint.path)
        return items, False

    return keep


def fallback_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, workers: int, counters: ScanCounters, order_desc: bool,
    poll: bool = False,
) -> Iterator[list[Any] | None]:
    """Without server-side filters: read newest first and stop at the first page that reaches below `lo`,
    dropping rows before `lo` on the client.

    `order_desc` asks for `order[cursor]=desc`; events have no order parameter but
    are served newest first. Pages that do not come newest first cannot be cut
    short: the whole list is read, every run, with a warning (amoCRM may block
    integrations that iterate through all data).
    """
    counters.fallback = True
    params = {f"order[{endpoint.cursor}]": "desc"} if order_desc else {}
    warned = threading.Event()

    def keep(items: list[Item], values: list[int], page: int) -> tuple[list[Item], bool]:
        kept = [it for it, v in zip(items, values) if v >= lo]
        counters.add(outside=len(items) - len(kept))
        newest_first = values == sorted(values, reverse=True)
        if not newest_first and not warned.is_set():
            warned.set()
            log.warning("%s ignores filters and does not serve rows newest first: reading all of it on every run "
                        "(enable amoCRM's API filter add-on to read only what changed)", endpoint.path)
        return kept, bool(newest_first and values and values[-1] < lo)

    yield from striped_scan(client, endpoint, params, workers, counters, keep, poll)


def all_pages(client: AmoClient, path: str, collection: str, params: dict[str, Any] | None = None,
              limit: int = 250) -> Iterator[tuple[int, list[Item]]]:
    """(page number, items) of a small list, one page after another, up to `_total_items` rows, an empty
    page, or a page that repeats what was read (a list the server does not page)."""
    read, seen = 0, set()
    for page_no in itertools.count(1):
        page = read_page(client, path, collection, {**(params or {}), "limit": limit, "page": page_no})
        ids = [item.get("id", i) for i, item in enumerate(page.items)]
        if not page.items or set(ids) <= seen:
            return
        seen.update(ids)
        yield page_no, page.items
        read += len(page.items)
        if page.total is not None and read >= page.total:
            return
