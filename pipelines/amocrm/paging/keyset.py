"""`keyset_scan`: lists orderable by their cursor (leads, contacts, companies, notes, trash views).

Ask for `cursor >= pos` in ascending order, page 1 only, and restart from the
last row's second, skipping the ids already seen in that second. No offsets, so
nothing can slide, and a page cut short (a server cap, a hiccup) costs nothing:
the next step starts after its last row. A chain ends only on a step that brings
nothing new: an empty page, or only rows already seen on a page shorter than the
longest seen or than `ServedSize` trusts (a page cannot hold only rows seen
before and be full, unless the page before was all in one second too). A page that is one single second is read by offset inside that
second (`read_second`). Parallel: the range is cut into slices, and a slice is
split again whenever a worker is idle. The open-ended last slice ends only after
the others did (a row edited while they were read moves up into it), reading on
once more if it had to wait for them.
"""

from __future__ import annotations

from typing import Any, Iterator

from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.paging.pages import Endpoint, FiltersIgnored, ServedSize, cursor_values, emit, fetch, window_params
from pipelines.amocrm.paging.stream import PageStream, ScanCounters


def keyset_scan(
    client: AmoClient, endpoint: Endpoint, lo: int, now: int | None, workers: int, counters: ScanCounters,
    poll: bool = False,
) -> Iterator[list[Any] | None]:
    """All items with `cursor >= lo`, as shaped pages (see the module docstring); `poll`: PageStream's."""
    stream = PageStream(workers, poll=poll)
    served = ServedSize(endpoint.page_size)
    stream.submit(_KeysetChain(client, stream, endpoint, counters, served, lo, None, now).run)
    yield from stream


class _KeysetChain:
    """One slice `[pos, hi]` (hi None = open-ended) read by keyset paging."""

    def __init__(self, client, stream, endpoint, counters, served, lo, hi, now):
        self.client, self.stream, self.endpoint, self.counters = client, stream, endpoint, counters
        self.served: ServedSize = served
        self.pos, self.hi, self.now = lo, hi, now
        self.seen_at_pos: set[Any] = set()

    def run(self) -> None:
        ep = self.endpoint
        while True:
            page_no = 1
            params = {**window_params(ep, self.pos, self.hi), f"order[{ep.cursor}]": "asc", "page": 1}
            page = fetch(self.client, ep, params, self.counters)
            values = cursor_values(ep, page.items, page_no)
            self._check(values)
            self.served.saw(len(page.items))
            fresh = [it for it, v in zip(page.items, values) if not (v == self.pos and it.get("id") in self.seen_at_pos)]
            emit(self.stream, ep, fresh, page_no, self.counters)
            if not page.items or (not fresh and (len(page.items) < self.served.largest
                                                 or self.served.trusts_short(len(page.items)))):
                if self.hi is None and self.stream.wait_alone():
                    continue  # rows edited while the other slices were read moved past here: read on
                return
            last = values[-1]
            if last == self.pos:
                seen = self.seen_at_pos | {it.get("id") for it in page.items}
                read_second(self.client, self.stream, ep, self.counters, self.pos, seen)
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
        upper = _KeysetChain(self.client, self.stream, self.endpoint, self.counters, self.served, mid + 1, self.hi,
                             self.now)
        self.hi = mid
        self.stream.submit(upper.run)


def read_second(
    client: AmoClient, stream: PageStream, ep: Endpoint, counters: ScanCounters, second: int, seen: set[Any]
) -> None:
    """More than a page of rows share one second (page 1 already read, ids in `seen`):
    offset pages inside that second up to an empty one, re-read from page 1 until a pass
    finds nothing new. A past second can only lose rows (to later seconds), so the passes end."""
    page_no, found = 2, False
    while True:
        params = {**window_params(ep, second, second), f"order[{ep.order}]": "asc", "page": page_no}
        page = fetch(client, ep, params, counters)
        values = cursor_values(ep, page.items, page_no)
        if any(v != second for v in values):
            raise FiltersIgnored(ep.path)
        fresh = [it for it in page.items if it.get("id") not in seen]
        seen.update(it.get("id") for it in fresh)
        found = found or bool(fresh)
        emit(stream, ep, fresh, page_no, counters)
        if not page.items:
            if not found:
                return
            page_no, found = 1, False
        else:
            page_no += 1
