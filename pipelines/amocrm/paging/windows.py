"""`window_scan`: lists filterable by their cursor but not orderable by it (tasks).

The range is cut into windows small enough for one page each: a single request
is a consistent snapshot, so nothing can slide between pages. A full page means
the window was too wide: it is re-planned and re-read (a full one-second window
is read like `keyset.read_second`). A short page is taken as the whole window
only when `ServedSize` trusts it (shorter than the page size the server was seen
to serve, or than 50 rows); otherwise page 2 of the window must come back empty.
Rows updated during the scan leave their
window for a later second and are read by the open-ended last window or the next
run. Every request is a page that is either kept whole or re-planned, so the cost
is in the window sizes: see `_WindowPlanner`.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator

from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.paging.keyset import read_second
from pipelines.amocrm.paging.pages import Endpoint, FiltersIgnored, ServedSize, cursor_values, emit, fetch, window_params
from pipelines.amocrm.paging.stream import PageStream, ScanCounters

DENSITY_DECAY = 0.7  # weight of the previous windows in the density estimate, per window
WINDOW_FILL = 0.85  # window widths aim at pages this full: nearer 1, more of them come back full and are re-read


def window_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, now: int | None, workers: int, counters: ScanCounters,
    poll: bool = False,
) -> Iterator[list[Any] | None]:
    """All items with `cursor >= lo` from a list that cannot be ordered by the cursor (see the module docstring);
    `poll`: PageStream's."""
    stream = PageStream(workers, poll=poll)
    served = ServedSize(endpoint.page_size)
    planner = _WindowPlanner(lo, now, int(endpoint.page_size * WINDOW_FILL))

    def read(a: int, b: int | None) -> None:
        params = {**window_params(endpoint, a, b), f"order[{endpoint.order}]": "asc", "page": 1}
        page = fetch(client, endpoint, params, counters)
        values = cursor_values(endpoint, page.items, 1)
        if any(v < a or (b is not None and v > b) for v in values):
            raise FiltersIgnored(endpoint.path)
        rows = len(page.items)
        served.saw(rows)
        complete = rows < endpoint.page_size
        if complete and (page.has_next or not served.trusts_short(rows)):
            # `next` on a short page (a quirk, or a clamped limit), or a page size not known yet: page 2 tells
            complete = not rows or not fetch(client, endpoint, {**params, "page": 2}, counters).items
            if not complete:
                served.followed(rows)
                planner.target_page(rows)
        if complete:
            emit(stream, endpoint, page.items, 1, counters)
            planner.done(a, b, rows)
        elif a == b:
            emit(stream, endpoint, page.items, 1, counters)
            read_second(client, stream, endpoint, counters, a, {it.get("id") for it in page.items})
        else:
            planner.overflow(a, b, values)
        plan(stream.idle_workers() + 1)  # this job's worker is about to be free too

    def plan(slots: int) -> None:
        """Hand out up to `slots` windows, one per free worker."""
        for _ in range(slots):
            window = planner.next()
            if window is None:
                return
            stream.submit(lambda window=window: read(*window))

    plan(stream.workers)
    yield from stream


class _WindowPlanner:
    """Hands out `[a, b]` windows from `lo` up to `now`, then one open-ended `[a, None]`.

    The first window is the open one `[lo, None]`: a single request when little
    changed. When it comes back full, the sequence restarts at its oldest row
    (the rows before it, if any, get a window of their own): on a first load
    that skips the empty years before the account's first row. A full closed
    window is split in two. Widths aim at `target` rows from the density of the
    windows read so far (the recent ones weigh more), and grow at most 4-fold
    from one window to the next: a window too narrow costs a page less full, one
    too wide costs the page and two half-full ones.
    """

    def __init__(self, lo: int, now: int | None, target_rows: int):
        self._lock = threading.Lock()
        self._next = lo
        self._now = now
        self._target = target_rows
        self._width: int | None = None  # unknown until the first open window comes back full
        self._floor = lo  # windows before it (before the data) say nothing about the density
        self._rows = self._span = 0.0  # rows and seconds of the windows read, older ones decayed
        self._retry: list[tuple[int, int | None]] = []
        self._open_issued = False

    def next(self) -> tuple[int, int | None] | None:
        with self._lock:
            if self._retry:
                return self._retry.pop()
            if self._open_issued:
                return None
            a = self._next
            if self._width is None or self._now is None or a > self._now:
                self._open_issued = True
                return a, None
            b = min(a + self._width - 1, self._now)
            self._next = b + 1
            return a, b

    def target_page(self, served: int) -> None:
        """The server serves `served` rows a page at most (below `limit`): aim windows at that."""
        with self._lock:
            self._target = max(1, min(self._target, int(served * WINDOW_FILL)))

    def done(self, a: int, b: int | None, rows: int) -> None:
        with self._lock:
            if b is None or a < self._floor:
                return
            self._rows = self._rows * DENSITY_DECAY + rows
            self._span = self._span * DENSITY_DECAY + (b - a + 1)
            self._width = max(1, int(min(4 * (b - a + 1), self._target * self._span / max(self._rows, 1))))

    def overflow(self, a: int, b: int | None, values: list[int]) -> None:
        """Re-plan a window whose page came back full."""
        with self._lock:
            if b is None:
                oldest, newest = min(values), max(values)
                if oldest > a:
                    self._retry.append((a, oldest - 1))
                self._next, self._open_issued, self._floor = oldest, False, oldest
                self._rows = self._span = 0.0
                self._now = max(self._now or newest, newest)  # closed windows up to its newest row at least
                # narrow on purpose (its page may be a thin sample of its span); `done` widens it 4-fold a window
                self._width = max(1, (newest - oldest + 1) // self._target)
                return
            mid = a + (b - a) // 2
            self._retry += [(mid + 1, b), (a, mid)]
            self._width = max(1, min(self._width, (b - a + 1) // 2))  # known by now: closed windows come after it

