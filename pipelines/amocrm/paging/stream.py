"""The thread pool behind every scan: workers fetch and shape pages, one consumer (dlt) iterates them.

Pages are shaped on the worker threads and handed over through a bounded queue,
so memory does not grow with the account. A `poll` stream does not make its consumer
wait: it yields `None` while no page is ready, so dlt's one thread, which takes an item
from each resource in turn, reads the other resources meanwhile instead of standing on
the slowest one (whose peers would fill their queues and stop requesting).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


class Cancelled(Exception):
    """Raised inside a job when the stream was cancelled (an error elsewhere, or the consumer left)."""


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
    The last worker to exit always hands the consumer the end marker, error or not.
    `poll`: iterating yields `None` whenever no page is ready (see the module docstring).
    """

    _DONE = object()

    def __init__(self, workers: int, buffer_pages: int | None = None, poll: bool = False):
        self.workers = max(1, workers)
        self.poll = poll
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._cv = threading.Condition()
        self._active = 0
        self._exited = 0
        self._out: queue.Queue = queue.Queue(maxsize=buffer_pages or 2 * self.workers)
        self._error: BaseException | None = None
        self._cancelled = False
        self._closed = False  # the consumer stopped iterating

    def submit(self, job: Callable[[], None]) -> None:
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()

    def idle_workers(self) -> int:
        with self._cv:
            return self.workers - self._active - len(self._jobs)

    def wait_alone(self) -> bool:
        """Wait until the calling job is the only one left; True if it had to wait."""
        waited = False
        with self._cv:
            while (self._active > 1 or self._jobs) and not self._cancelled:
                waited = True
                self._cv.wait()
            if self._cancelled:
                raise Cancelled()
        return waited

    def emit(self, rows: list[Any]) -> None:
        while True:
            if self._cancelled:
                raise Cancelled()
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
            except Cancelled:
                pass
            except BaseException as exc:  # handed to the consumer
                with self._cv:
                    self._error = self._error or exc
                    self._cancelled = True
            finally:
                with self._cv:
                    self._active -= 1
                    self._cv.notify_all()
        while last and not self._closed:  # not `emit`: it refuses once cancelled, and the consumer would wait forever
            try:
                self._out.put(self._DONE, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[list[Any] | None]:
        threads = [threading.Thread(target=self._worker, daemon=True, name=f"amocrm-scan-{i}") for i in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            while True:
                try:
                    item = self._out.get(block=not self.poll)
                except queue.Empty:
                    yield None
                    continue
                if item is self._DONE:
                    break
                yield item
        finally:
            with self._cv:
                self._closed = self._cancelled = True
                self._cv.notify_all()
            for thread in threads:
                thread.join(timeout=5)
        if self._error is not None:
            raise self._error
