"""Scans against in-memory lists: `window_scan` (tasks) reads every row with pages mostly full, also from a
server that caps pages below `limit` without saying so; `all_pages` and `PageStream` end when they should."""

from __future__ import annotations

import random
import threading
import time

import pytest

from amocrm_checks import NOW
from pipelines.amocrm.client import Page
from pipelines.amocrm.client import AmoPayloadError
from pipelines.amocrm.paging import (
    Endpoint, PageStream, ScanCounters, all_pages, head_safe_stripe, striped_scan, window_keep, window_scan,
)


class TaskList:
    """The tasks list as the API serves it: `filter[updated_at]` honoured, ordered by id, `limit` <= 250."""

    def __init__(self, updated_at: list[int], cap: int | None = None):
        self.rows = [{"id": i, "updated_at": t} for i, t in enumerate(updated_at)]
        self.cap = cap  # pages hold at most this many, and then never carry `next`
        self.requests = 0
        self._lock = threading.Lock()

    def get_page(self, path: str, collection: str, params: dict) -> Page:
        with self._lock:
            self.requests += 1
        lo, hi = params.get("filter[updated_at][from]", 0), params.get("filter[updated_at][to]", 2**62)
        matching = [row for row in self.rows if lo <= row["updated_at"] <= hi]
        limit, page = min(params["limit"], self.cap or params["limit"]), params["page"]
        items = matching[(page - 1) * limit:page * limit]
        return Page(items, len(items) == limit and not self.cap)


def scan(tasks: TaskList, lo: int = 0) -> list[int]:
    endpoint = Endpoint("/api/v4/tasks", "tasks", "updated_at", lambda items, page: items, order="id")
    return [row["id"] for rows in window_scan(tasks, endpoint, lo, NOW, 4, ScanCounters()) for row in rows]


def spread(n: int, days: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [NOW - rng.randrange(days * 86_400) for _ in range(n)]


@pytest.mark.parametrize("updated_at", [
    [],
    spread(100, 30),
    spread(5_000, 365),
    spread(3_000, 2) + [NOW - 86_400 * 100] * 600,  # a burst: 600 rows in one second, more than a page
], ids=["empty", "one page", "a year", "burst"])
def test_every_row_is_read(updated_at):
    tasks = TaskList(updated_at)
    assert sorted(set(scan(tasks))) == list(range(len(updated_at)))


def test_little_changed_is_one_request():
    tasks = TaskList(spread(5_000, 365))
    lo = NOW - 3_600
    assert sorted(scan(tasks, lo)) == [r["id"] for r in tasks.rows if r["updated_at"] >= lo]
    assert tasks.requests == 1


def test_pages_are_mostly_full_from_a_first_load():
    """From `lo = 0`: the empty decades before the first row cost a request or two, not dozens."""
    tasks = TaskList(spread(20_000, 365))
    scan(tasks)
    assert tasks.requests <= 1.4 * 20_000 / 250


@pytest.mark.parametrize("cap", [100, 249])
def test_a_server_capping_pages_below_the_limit_without_next_loses_nothing(cap):
    tasks = TaskList(spread(3_000, 30), cap=cap)
    assert sorted(set(scan(tasks))) == list(range(3_000))
    assert tasks.requests <= 2 * 3_000 / cap + 5  # windows learn the cap: pages stay mostly full


@pytest.mark.parametrize("days, requests", [(1, 1), (10, 2)])
def test_a_short_page_is_confirmed_unless_shorter_than_any_page_size(days, requests):
    """~14 rows: fewer than amoCRM ever serves a page, whole. ~137: the server may cap pages there (page
    size not known yet), so page 2 (empty) must say the window was whole."""
    tasks = TaskList(spread(5_000, 365))
    lo = NOW - days * 86_400
    assert sorted(scan(tasks, lo)) == [r["id"] for r in tasks.rows if r["updated_at"] >= lo]
    assert tasks.requests == requests


class StaticList:
    """A reference list: `total` = `_total_items` (None: not sent); `paged=False` answers every page in full."""

    def __init__(self, n: int, total: bool, paged: bool):
        self.items = [{"id": i} for i in range(n)]
        self.total, self.paged, self.requests = total, paged, 0

    def get_page(self, path: str, collection: str, params: dict) -> Page:
        self.requests += 1
        limit, page = params["limit"], params["page"]
        items = self.items[(page - 1) * limit:page * limit] if self.paged else self.items
        return Page(items, False, len(self.items) if self.total else None)


@pytest.mark.parametrize("total, paged, requests", [(True, True, 3), (False, True, 4), (False, False, 2)])
def test_all_pages_reads_everything_and_stops(total, paged, requests):
    source = StaticList(120 if paged else 30, total, paged)
    got = [item["id"] for _, items in all_pages(source, "/api/v4/users", "users", limit=50) for item in items]
    assert got == [item["id"] for item in source.items] and source.requests == requests


def test_a_failing_job_reaches_the_consumer():
    stream = PageStream(2)

    def fails() -> None:
        raise ValueError("page 3 is broken")

    stream.submit(lambda: stream.emit([1]))
    stream.submit(fails)
    with pytest.raises(ValueError, match="page 3"):
        list(stream)


def test_a_resource_waiting_for_its_page_does_not_hold_dlt_from_the_others():
    """dlt's one thread takes an item from each resource in turn. A stream that made it wait for a slow
    page would hold it there, and the other resources, their queues full, would stop requesting."""
    import dlt

    fast_done = threading.Event()

    def resource(job_of):
        def gen():
            stream = PageStream(1, buffer_pages=1, poll=True)
            stream.submit(lambda: job_of(stream))
            yield from stream
        return gen

    def slow_job(stream: PageStream) -> None:
        if not fast_done.wait(10):
            raise TimeoutError("the fast resource was held while the slow one waited for its page")
        stream.emit([{"id": 0}])

    def fast_job(stream: PageStream) -> None:
        for i in range(1, 6):
            stream.emit([{"id": i}])
        fast_done.set()

    @dlt.source
    def both():
        return [dlt.resource(resource(slow_job), name="slow"), dlt.resource(resource(fast_job), name="fast")]

    assert sorted(row["id"] for row in both()) == list(range(6))


class EventList:
    """Events as offset pages, newest first: at most `served` a page whatever `limit` asked, never `next`."""

    def __init__(self, n: int, served: int):
        self.rows = [{"id": i, "created_at": NOW - i} for i in range(n)]
        self.served = served

    def get_page(self, path: str, collection: str, params: dict) -> Page:
        size, page = min(params["limit"], self.served), params["page"]
        return Page(self.rows[(page - 1) * size:page * size], False)


def stripe(events: EventList) -> list[int]:
    endpoint = Endpoint("/api/v4/events", "events", "created_at", lambda items, page: items, page_size=250)
    pages = striped_scan(events, endpoint, {}, 3, ScanCounters(), window_keep(endpoint, None, None))
    return sorted(row["id"] for rows in pages for row in rows)


def test_events_capped_without_next_are_read_to_the_end():
    assert stripe(EventList(1_234, served=100)) == list(range(1_234))


def test_pages_cut_shorter_than_any_page_size_fail_naming_the_page():
    with pytest.raises(AmoPayloadError, match=r"/api/v4/events page 1: 20 rows where other pages had 50"):
        stripe(EventList(1_234, served=20))


class GrowingEvents:
    """Events newest first, `filter[created_at]` honoured. A new event lands at the head right after the
    first page 2 is served, and a page 1 of older events waits for that (5 s at most): parallel pages
    served out of order."""

    def __init__(self, n: int):
        self.rows = [{"id": i, "created_at": NOW - i} for i in range(n)]
        self.page2_served = threading.Event()
        self._lock = threading.Lock()

    def get_page(self, path: str, collection: str, params: dict) -> Page:
        page, limit = params["page"], params["limit"]
        lo, hi = params.get("filter[created_at][from]", 0), params.get("filter[created_at][to]", 2**62)
        if page == 1 and lo <= NOW:
            self.page2_served.wait(5)
        with self._lock:
            items = [row for row in self.rows if lo <= row["created_at"] <= hi][(page - 1) * limit:page * limit]
            if page == 2 and not self.page2_served.is_set():
                self.rows.insert(0, {"id": -1, "created_at": NOW + 1})  # a user acts meanwhile
                self.page2_served.set()
        return Page(items, False)


def test_events_added_while_striping_shift_no_row_out_of_the_scan():
    """Offsets of a newest-first list move by one with every new event: page 1 served after the insert and
    page 2 before it skip the row at their boundary (the plain stripe below). The events scan stripes only
    rows older than the server's clock, where nothing is added, and reads the newer ones page by page."""
    endpoint = Endpoint("/api/v4/events", "events", "created_at", lambda items, page: items, page_size=50)
    plain = striped_scan(GrowingEvents(200), endpoint, {}, 3, ScanCounters(), window_keep(endpoint, None, None))
    assert 49 not in {row["id"] for rows in plain for row in rows}  # the race this guards against
    pages = head_safe_stripe(GrowingEvents(200), endpoint, NOW - 500, NOW, 3, ScanCounters())
    assert set(range(200)) <= {row["id"] for rows in pages for row in rows}


def test_without_the_server_clock_every_event_is_still_read():
    endpoint = Endpoint("/api/v4/events", "events", "created_at", lambda items, page: items, page_size=50)
    events = EventList(120, served=50)
    assert sorted(row["id"] for rows in head_safe_stripe(events, endpoint, 0, None, 3, ScanCounters())
                  for row in rows) == list(range(120))


def test_the_open_ended_slice_waits_for_the_others_before_it_ends():
    """A row edited while a lower keyset slice is read moves up into the open-ended one: that one may end
    only when it is the last job left (and then reads on once)."""
    stream = PageStream(2)
    lower_done = threading.Event()
    waited: list[bool] = []

    def lower() -> None:
        time.sleep(0.3)
        lower_done.set()

    def upper() -> None:
        stream.submit(lower)
        waited.append(stream.wait_alone())
        waited.append(lower_done.is_set())
        waited.append(stream.wait_alone())

    stream.submit(upper)
    assert list(stream) == []
    assert waited == [True, True, False]  # it waited for the lower slice; alone, it does not wait again
