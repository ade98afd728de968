"""`window_scan` (tasks) against an in-memory list: every row read, and pages mostly full."""

from __future__ import annotations

import random
import threading

import pytest

from amocrm_checks import NOW
from pipelines.amocrm.client import Page
from pipelines.amocrm.paging import Endpoint, ScanCounters, window_scan


class TaskList:
    """The tasks list as the API serves it: `filter[updated_at]` honoured, ordered by id, `limit` <= 250."""

    def __init__(self, updated_at: list[int]):
        self.rows = [{"id": i, "updated_at": t} for i, t in enumerate(updated_at)]
        self.requests = 0
        self._lock = threading.Lock()

    def get_page(self, path: str, collection: str, params: dict) -> Page:
        with self._lock:
            self.requests += 1
        lo, hi = params.get("filter[updated_at][from]", 0), params.get("filter[updated_at][to]", 2**62)
        matching = [row for row in self.rows if lo <= row["updated_at"] <= hi]
        limit, page = params["limit"], params["page"]
        items = matching[(page - 1) * limit:page * limit]
        return Page(items, len(items) == limit)


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
