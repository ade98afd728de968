"""Scan strategies: how to read a changing list completely, fast, without skips.

amoCRM lists only have offset paging (`page`, `limit`). Offset paging over a set
that changes while it is read skips rows: when a row before the current offset
leaves the set, every later row slides back one place and the first row of the
next page lands on a page already read. Each strategy below is built so that
the changes it can meet cannot cause that:

* `keyset_scan` (leads, contacts, companies, notes, trash views: orderable by
  `updated_at`): ask for `updated_at >= pos` in ascending order, page 1 only,
  and restart from the last row's second, skipping the ids already seen in that
  second. No offsets, so nothing can slide. A page that is one single second is
  read by offset inside that second and re-read until a pass finds nothing new
  (a past second only loses rows, so this ends). Parallel: the range is cut into
  slices, and a slice is split again whenever a worker is idle.
* `window_scan` (tasks: filterable by `updated_at`, not orderable by it): one
  page per `updated_at` window, each a consistent snapshot, so nothing can slide.
* `striped_scan` (events, fallbacks): offset pages fetched in parallel by page
  number, for sets where offsets are stable enough: events are immutable and
  only ever added (new rows can duplicate a row, never hide one).
* Every row is checked against the requested window. A row outside it means the
  account ignores filters (amoCRM's paid "API filter" add-on): `FiltersIgnored`
  is raised and the caller re-reads with `fallback_scan`, filtering client-side.

Pages are shaped on the worker threads and handed to the single consumer (dlt)
through a bounded queue, so memory does not grow with the account.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pipelines.amocrm.client import AmoClient, AmoPayloadError, Page

log = logging.getLogger(__name__)

Item = dict[str, Any]
Shape = Callable[[list[Item], int], list[Any]]  # (raw items, page number) -> rows


class FiltersIgnored(Exception):
    """The server returned rows outside the requested filter window."""


class _Cancelled(Exception):
    pass


@dataclass
class ScanCounters:
    """What one resource's scans did; read by the run summary."""

    pages: int = 0
    rows: int = 0
    outside_window: int = 0
    fallback: bool = False
    largest_page: int = 0  # the page size the server actually served (it may clamp `limit`)
    first_request: float | None = None  # time.monotonic() of the first page request ...
    last_response: float | None = None  # ... and of the last page received: the resource's active span
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, pages: int = 0, rows: int = 0, outside: int = 0) -> None:
        with self._lock:
            self.pages += pages
            self.rows += rows
            self.outside_window += outside

    def fetched(self, requested_at: float, items: int) -> None:
        with self._lock:
            self.pages += 1
            self.largest_page = max(self.largest_page, items)
            self.first_request = min(self.first_request or requested_at, requested_at)
            self.last_response = time.monotonic()


class PageStream:
    """Runs scan jobs on `workers` threads; the consumer iterates their pages in completion order.

    Jobs may submit more jobs. The first error cancels everything and is raised
    to the consumer once the queue is drained; closing the iterator cancels too.
    """

    _DONE = object()

    def __init__(self, workers: int, buffer_pages: int | None = None):
        self.workers = max(1, workers)
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._cv = threading.Condition()
        self._active = 0
        self._exited = 0
        self._out: queue.Queue = queue.Queue(maxsize=buffer_pages or 2 * self.workers)
        self._error: BaseException | None = None
        self._cancelled = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()

    def idle_workers(self) -> int:
        with self._cv:
            return self.workers - self._active - len(self._jobs)

    def emit(self, rows: list[Any]) -> None:
        while True:
            if self._cancelled:
                raise _Cancelled()
            try:
                self._out.put(rows, timeout=0.2)
                return
            except queue.Full:
                continue

    def _worker(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and self._active and not self._cancelled:
                    self._cv.wait()
                if self._cancelled or not self._jobs:
                    self._exited += 1
                    last = self._exited == self.workers
                    self._cv.notify_all()
                    break
                job = self._jobs.popleft()
                self._active += 1
            try:
                job()
            except _Cancelled:
                pass
            except BaseException as exc:  # handed to the consumer
                with self._cv:
                    self._error = self._error or exc
                    self._cancelled = True
            finally:
                with self._cv:
                    self._active -= 1
                    self._cv.notify_all()
        if last:
            try:
                self.emit(self._DONE)  # type: ignore[arg-type]
            except _Cancelled:
                pass

    def __iter__(self) -> Iterator[list[Any]]:
        threads = [threading.Thread(target=self._worker, daemon=True, name=f"amocrm-scan-{i}") for i in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            while True:
                item = self._out.get()
                if item is self._DONE:
                    break
                yield item
        finally:
            with self._cv:
                self._cancelled = True
                self._cv.notify_all()
            for thread in threads:
                thread.join(timeout=5)
        if self._error is not None:
            raise self._error


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


def _cursor_values(endpoint: Endpoint, items: list[Item], page: int) -> list[int]:
    values = []
    for item in items:
        value = item.get(endpoint.cursor)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AmoPayloadError(endpoint.path, page, f"item without an integer {endpoint.cursor!r}")
        values.append(value)
    return values


def _window(endpoint: Endpoint, lo: int | None, hi: int | None) -> dict[str, Any]:
    params = {}
    if lo is not None:
        params[f"filter[{endpoint.cursor}][from]"] = lo
    if hi is not None:
        params[f"filter[{endpoint.cursor}][to]"] = hi
    return params


def _fetch(client: AmoClient, endpoint: Endpoint, params: dict[str, Any], counters: ScanCounters) -> Page:
    requested_at = time.monotonic()
    page = client.get_page(endpoint.path, endpoint.collection, {**endpoint.params, **params, "limit": endpoint.page_size})
    counters.fetched(requested_at, len(page.items))
    return page


def _emit(stream: PageStream, endpoint: Endpoint, items: list[Item], page: int, counters: ScanCounters) -> None:
    if items:
        try:
            rows = endpoint.shape(items, page)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise AmoPayloadError(endpoint.path, page, str(exc)) from None
        counters.add(rows=len(items))
        stream.emit(rows)


def _is_last(page: Page, size: int) -> bool:
    """204/empty, or a short page without `next` (a short page *with* `next` may be a server-clamped limit)."""
    return not page.items or (len(page.items) < size and not page.has_next)


def keyset_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, now: int | None, workers: int, counters: ScanCounters
) -> Iterator[list[Any]]:
    """All items with `cursor >= lo`, as shaped pages (see module docstring)."""
    stream = PageStream(workers)
    stream.submit(_KeysetChain(client, stream, endpoint, counters, lo, None, now).run)
    yield from stream


class _KeysetChain:
    """One slice `[pos, hi]` (hi None = open-ended) read by keyset paging."""

    def __init__(self, client, stream, endpoint, counters, lo, hi, now):
        self.client, self.stream, self.endpoint, self.counters = client, stream, endpoint, counters
        self.pos, self.hi, self.now = lo, hi, now
        self.seen_at_pos: set[Any] = set()

    def run(self) -> None:
        ep, size = self.endpoint, self.endpoint.page_size
        while True:
            page_no = 1
            page = _fetch(self.client, ep, {**_window(ep, self.pos, self.hi), f"order[{ep.cursor}]": "asc", "page": 1}, self.counters)
            values = _cursor_values(ep, page.items, page_no)
            self._check(values)
            fresh = [it for it, v in zip(page.items, values) if not (v == self.pos and it.get("id") in self.seen_at_pos)]
            _emit(self.stream, ep, fresh, page_no, self.counters)
            if _is_last(page, size) or (not fresh and len(page.items) < size):
                return
            last = values[-1]
            if last == self.pos:
                seen = self.seen_at_pos | {it.get("id") for it in page.items}
                _read_second(self.client, self.stream, ep, self.counters, self.pos, seen)
                self.pos, self.seen_at_pos = self.pos + 1, set()
            else:
                self.pos = last
                self.seen_at_pos = {it.get("id") for it, v in zip(page.items, values) if v == last}
                self._maybe_split(values)
            if self.hi is not None and self.pos > self.hi:
                return

    def _check(self, values: list[int]) -> None:
        """Rows outside [pos, hi] or out of order: the server ignores filters/order."""
        if any(v < self.pos or (self.hi is not None and v > self.hi) for v in values) or values != sorted(values):
            raise FiltersIgnored(self.endpoint.path)

    def _maybe_split(self, values: list[int]) -> None:
        """Hand the upper half of what is left to an idle worker, if it is worth a page or two."""
        end = self.hi if self.hi is not None else self.now
        if end is None or self.stream.idle_workers() <= 0:
            return
        span = max(1, values[-1] - values[0])
        remaining = end - self.pos
        if remaining < 2 or remaining * len(values) / span < 2 * self.endpoint.page_size:
            return
        mid = self.pos + remaining // 2
        upper = _KeysetChain(self.client, self.stream, self.endpoint, self.counters, mid + 1, self.hi, self.now)
        self.hi = mid
        self.stream.submit(upper.run)


def _read_second(
    client: AmoClient, stream: PageStream, ep: Endpoint, counters: ScanCounters, second: int, seen: set[Any]
) -> None:
    """More than a page of rows share one second (page 1 already read, ids in `seen`):
    offset pages inside that second, re-read from page 1 until a pass finds nothing new.
    A past second can only lose rows (to later seconds), so the passes end."""
    page_no, found = 2, False
    while True:
        params = {**_window(ep, second, second), f"order[{ep.order}]": "asc", "page": page_no}
        page = _fetch(client, ep, params, counters)
        values = _cursor_values(ep, page.items, page_no)
        if any(v != second for v in values):
            raise FiltersIgnored(ep.path)
        fresh = [it for it in page.items if it.get("id") not in seen]
        seen.update(it.get("id") for it in fresh)
        found = found or bool(fresh)
        _emit(stream, ep, fresh, page_no, counters)
        if _is_last(page, ep.page_size):
            if not found:
                return
            page_no, found = 1, False
        else:
            page_no += 1


DENSITY_DECAY = 0.7  # weight of the previous windows in the density estimate, per window
WINDOW_FILL = 0.85  # window widths aim at pages this full: nearer 1, more of them come back full and are re-read


def window_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, now: int | None, workers: int, counters: ScanCounters
) -> Iterator[list[Any]]:
    """All items with `cursor >= lo` from a list that cannot be ordered by the cursor (tasks).

    The range is cut into windows small enough for one page each: a single
    request is a consistent snapshot, so nothing can slide between pages. A
    full page means the window was too wide: it is re-planned and re-read (a
    full one-second window is read like `_KeysetChain._read_second`). Every
    request is a page that is either kept whole or re-planned, so the cost is
    in the window sizes: see `_WindowPlanner`. Rows updated during the scan
    leave their window for a later second and are read by the open-ended last
    window or the next run.
    """
    stream = PageStream(workers)
    planner = _WindowPlanner(lo, now, int(endpoint.page_size * WINDOW_FILL))

    def read(a: int, b: int | None) -> None:
        params = {**_window(endpoint, a, b), f"order[{endpoint.order}]": "asc", "page": 1}
        page = _fetch(client, endpoint, params, counters)
        values = _cursor_values(endpoint, page.items, 1)
        if any(v < a or (b is not None and v > b) for v in values):
            raise FiltersIgnored(endpoint.path)
        complete = len(page.items) < endpoint.page_size
        if complete and page.has_next:  # `next` on a short page: a quirk, or a server-clamped limit
            complete = not _fetch(client, endpoint, {**params, "page": 2}, counters).items
        if complete:
            _emit(stream, endpoint, page.items, 1, counters)
            planner.done(a, b, len(page.items))
        elif a == b:
            _emit(stream, endpoint, page.items, 1, counters)
            _read_second(client, stream, endpoint, counters, a, {it.get("id") for it in page.items})
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


def striped_scan(
    client: AmoClient,
    endpoint: Endpoint,
    params: dict[str, Any],
    workers: int,
    counters: ScanCounters,
    keep: Callable[[list[Item], list[int], int], tuple[list[Item], bool]],
) -> Iterator[list[Any]]:
    """Offset pages 1, 2, ... fetched by `workers` threads at once, until the first last page.

    `keep(items, cursor values, page)` returns the items to emit and whether this
    page ends the scan. At most `workers - 1` requests are spent past the end.
    """
    stream = PageStream(workers)
    lock = threading.Lock()
    pages = itertools.count(1)
    end: list[int] = []

    def job() -> None:
        while True:
            with lock:
                page_no = next(pages)
                if end and page_no > end[0]:
                    return
            page = _fetch(client, endpoint, {**params, "page": page_no}, counters)
            values = _cursor_values(endpoint, page.items, page_no)
            items, stop = keep(page.items, values, page_no)
            _emit(stream, endpoint, items, page_no, counters)
            if _is_last(page, endpoint.page_size) or stop:
                with lock:
                    end[:] = [min(end + [page_no])]

    for _ in range(stream.workers):
        stream.submit(job)
    yield from stream


def window_keep(endpoint: Endpoint, lo: int | None, hi: int | None):
    """`keep` for filtered windows: any row outside [lo, hi] means the filter is ignored."""

    def keep(items: list[Item], values: list[int], page: int) -> tuple[list[Item], bool]:
        if any((lo is not None and v < lo) or (hi is not None and v > hi) for v in values):
            raise FiltersIgnored(endpoint.path)
        return items, False

    return keep


def fallback_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, workers: int, counters: ScanCounters, order_desc: bool
) -> Iterator[list[Any]]:
    """Without server-side filters: scan everything (newest first when the list can be ordered
    by the cursor, stopping below `lo`), and drop rows before `lo` on the client."""
    counters.fallback = True
    params = {f"order[{endpoint.cursor}]": "desc"} if order_desc else {}

    def keep(items: list[Item], values: list[int], page: int) -> tuple[list[Item], bool]:
        kept = [it for it, v in zip(items, values) if v >= lo]
        counters.add(outside=len(items) - len(kept))
        ordered = order_desc and values == sorted(values, reverse=True)
        return kept, bool(ordered and values and values[-1] < lo)

    yield from striped_scan(client, endpoint, params, workers, counters, keep)


def all_pages(client: AmoClient, path: str, collection: str, params: dict[str, Any] | None = None, limit: int = 250) -> Iterator[tuple[int, list[Item]]]:
    """(page number, items) of a small list, read one page after another."""
    for page_no in itertools.count(1):
        page = client.get_page(path, collection, {**(params or {}), "limit": limit, "page": page_no})
        if page.items:
            yield page_no, page.items
        if _is_last(page, limit):
            return
