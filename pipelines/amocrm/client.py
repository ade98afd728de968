"""HTTP access to amoCRM API v4: pacing, retries, typed errors, request stats.

amoCRM allows 7 requests/s per integration and blocks the account (403, an nginx
HTML page) after repeated 429s, so every request of a run, from every thread,
goes through one `RateLimiter` kept just under the limit, and a 429 pauses all
threads, not just the one that got it.
"""

from __future__ import annotations

import email.utils
import gc
import logging
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import requests

log = logging.getLogger(__name__)


class AmoError(Exception):
    """Base of every error the extractor raises on purpose (messages never carry secrets)."""


class AmoAuthError(AmoError):
    """The credentials were rejected (401 after a refresh, or the token endpoint said no)."""


class AmoBlockedError(AmoError):
    """amoCRM answered 403: the account/IP is blocked (or the token lacks rights)."""


class AmoHTTPError(AmoError):
    """A request still failed after all retries, or failed with a status that is not retried."""


class AmoPayloadError(AmoError):
    """A response that is not the documented shape. Names the endpoint and page so it can be reported."""

    def __init__(self, endpoint: str, page: int | None, reason: str):
        self.endpoint, self.page, self.reason = endpoint, page, reason
        where = f"{endpoint} page {page}" if page is not None else endpoint
        super().__init__(f"malformed response from {where}: {reason}")


class Auth(Protocol):
    """What the client needs from a credential (see auth.py)."""

    def header(self) -> str: ...

    def handle_unauthorized(self, rejected_header: str) -> None:
        """Called on a 401: refresh and return (the request is retried once), or raise AmoAuthError."""


GC_SEND_SLACK = 0.05  # seconds a thread may take from being counted to reaching its socket
_gc_started = 0.0
_gc_pause = (0.0, 0.0)  # time.monotonic() at the start and the end of the latest collection that stood out


def _note_gc(phase: str, info: dict) -> None:
    """Threads stand still while the collector runs (~0.1 s for a full collection here)."""
    global _gc_started, _gc_pause
    now = time.monotonic()
    if phase == "start":
        _gc_started = now
    elif now - _gc_started > GC_SEND_SLACK / 10:  # the frequent short ones hide in the margin
        _gc_pause = (_gc_started, now)


gc.callbacks.append(_note_gc)


class RateLimiter:
    """Lets a request go when fewer than `rate` went in the last `1 + margin` seconds, to all threads.

    It counts when requests really leave, not slots planned ahead: a thread that
    oversleeps its planned slot (a garbage collection stops every thread for
    ~0.1 s) would leave late, into the 1 s window of the requests planned after
    it, and the server would see `rate + 1` requests in a second (429). A request
    counted just before or during a collection may reach its socket only when
    the collection ends, so it counts from then. Requests are at least half an
    even spacing apart (no bursts), so the time a pause costs is caught up within
    the window. The margin absorbs network jitter. `pause` holds every thread
    after a 429.
    """

    def __init__(self, rate: float | None, margin: float = 0.03):
        count = max(1, int(rate)) if rate else 0
        self.window = (1.0 + margin) * count / rate if rate else 0.0
        self._gap = self.window / count / 2 if rate else 0.0
        self._sent: deque[float] = deque(maxlen=count or None)
        self._paused_until = 0.0
        self._gc_seen = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.window:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                started, ended = _gc_pause
                if ended > self._gc_seen:
                    self._gc_seen = ended
                    cutoff = started - GC_SEND_SLACK
                    self._sent = deque((max(t, ended) if t > cutoff else t for t in self._sent), self._sent.maxlen)
                ready = self._paused_until
                if self._sent:
                    ready = max(ready, self._sent[-1] + self._gap)
                if len(self._sent) == self._sent.maxlen:
                    ready = max(ready, self._sent[0] + self.window)
                if now >= ready:
                    self._sent.append(now)
                    return
            time.sleep(ready - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


@dataclass
class RequestStats:
    """Counters of one run, shared by all threads."""

    requests: int = 0
    retries: int = 0
    statuses: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, status: int | str, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            self.statuses[status] += 1
            if retry:
                self.retries += 1


@dataclass
class Page:
    """One list page: the items, whether the server offered a next page, and `_total_items` when it says."""

    items: list[dict[str, Any]]
    has_next: bool
    total: int | None = None


class AmoIncompletePage(AmoPayloadError):
    """A 200 list answer without its list (an empty body, or no `_embedded.<collection>`): not an empty list
    (amoCRM answers 204 for that), so it must never end a listing. Worth reading again."""


RETRY_STATUSES = {429, 500, 502, 503, 504}


class AmoClient:
    """GET requests against one account, safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        limiter: RateLimiter,
        stats: RequestStats | None = None,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limiter = limiter
        self.stats = stats or RequestStats()
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.timeout = timeout
        self._sleep = sleep
        self._local = threading.local()
        self._server_time: float | None = None

    @property
    def server_time(self) -> float | None:
        """Unix time of the server (from the `Date` header of the latest response), if known."""
        return self._server_time

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "amocrm-kpi-extractor"
        return session

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, page: int | None = None) -> Any:
        """GET `path`; returns the decoded JSON, or None for 204 No Content."""
        response = self._request(path, params or {}, page)
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise AmoPayloadError(path, page, f"body is not JSON ({exc.__class__.__name__})") from None

    def get_page(self, path: str, collection: str, params: dict[str, Any]) -> Page:
        """One page of a HAL list. 204 is the empty list; a 200 must carry `_embedded.<collection>` (it may be
        an empty list): an empty 200, or an envelope without it, raises `AmoIncompletePage`."""
        page_no = int(params.get("page", 1))
        response = self._request(path, params, page_no)
        if response.status_code == 204:
            return Page([], False)
        if not response.content.strip():
            raise AmoIncompletePage(path, page_no, f"HTTP {response.status_code} with an empty body "
                                                   "(amoCRM answers 204 for an empty list)")
        try:
            body = response.json()
        except ValueError as exc:
            raise AmoPayloadError(path, page_no, f"body is not JSON ({exc.__class__.__name__})") from None
        if not isinstance(body, dict):
            raise AmoPayloadError(path, page_no, f"expected a JSON object, got {type(body).__name__}")
        embedded = body.get("_embedded")
        if not isinstance(embedded, dict) or collection not in embedded:
            raise AmoIncompletePage(path, page_no, f"HTTP {response.status_code} without _embedded.{collection}")
        items = embedded[collection]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise AmoPayloadError(path, page_no, f"_embedded.{collection} is not a list of objects")
        links = body.get("_links")
        has_next = isinstance(links, dict) and isinstance(links.get("next"), dict)
        total = body.get("_total_items")
        return Page(items, has_next, total if isinstance(total, int) and not isinstance(total, bool) else None)

    def _request(self, path: str, params: dict[str, Any], page: int | None) -> requests.Response:
        url = f"{self.base_url}{path}"
        refreshed = False
        attempt = 0
        while True:
            self.limiter.acquire()
            header = self.auth.header()
            try:
                response = self._session().get(url, params=params, headers={"Authorization": header}, timeout=self.timeout)
            except requests.RequestException as exc:
                self.stats.count(type(exc).__name__, retry=attempt < self.max_retries)
                if attempt >= self.max_retries:
                    raise AmoHTTPError(f"GET {path}: {type(exc).__name__} after {attempt + 1} attempts") from None
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            self._note_server_time(response)
            status = response.status_code
            if status == 401 and not refreshed:
                self.stats.count(status, retry=True)
                self.auth.handle_unauthorized(header)
                refreshed = True
                continue
            # a 429 says "slow down", not "broken": it gets twice the retries
            retry = status in RETRY_STATUSES and attempt < self.max_retries * (2 if status == 429 else 1)
            self.stats.count(status, retry=retry)
            if status < 400:
                return response
            if status == 401:
                raise AmoAuthError(
                    f"GET {path}: 401 Unauthorized even after refreshing the access token; "
                    "the integration may be disabled or the token revoked: re-authorize"
                )
            if status == 403:
                raise AmoBlockedError(f"GET {path}: 403 Forbidden ({_describe(response)}); " + _why_forbidden(response))
            if not retry:
                raise AmoHTTPError(f"GET {path} (page {page}): HTTP {status} ({_describe(response)})")
            delay = self._backoff(attempt)
            if status == 429:
                delay = max(delay, self._retry_after(response))
                self.limiter.pause(delay)
            log.info("GET %s page %s: HTTP %s, retrying in %.1fs", path, page, status, delay)
            self._sleep(delay)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt)) + self.backoff_base / 2

    def _retry_after(self, response: requests.Response) -> float:
        """`Retry-After` header or `retry_after` in a JSON body, capped; 0 when absent."""
        value: Any = response.headers.get("Retry-After")
        if value is None:
            try:
                body = response.json()
                value = body.get("retry_after") if isinstance(body, dict) else None
            except ValueError:
                value = None
        try:
            return min(float(value), self.retry_after_max) if value is not None else 0.0
        except (TypeError, ValueError):
            return 0.0

    def _note_server_time(self, response: requests.Response) -> None:
        date = response.headers.get("Date")
        if date:
            try:
                self._server_time = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass


def _why_forbidden(response: requests.Response) -> str:
    """A 403 is either amoCRM's block for too many requests (an nginx HTML page) or an API answer
    that the token's user lacks the rights (listing users, for one, needs an account admin)."""
    if "json" in response.headers.get("Content-Type", ""):
        return ("the token's user lacks the rights for this (listing users needs an account admin): "
                "authorize the integration as an account admin (`python -m pipelines.amocrm authorize --code ...` "
                "with a code an admin issued) or use an admin's long-lived token")
    return "amoCRM blocks accounts that exceed 7 requests/s repeatedly; unblocking goes through amoCRM support"


def _describe(response: requests.Response) -> str:
    """A short, secret-free description of an error response (problem+json title/detail, or content type)."""
    try:
        body = response.json()
    except ValueError:
        return f"non-JSON {response.headers.get('Content-Type', 'body')}"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("title", "detail", "hint") if isinstance(body.get(k), (str, int))]
        return "; ".join(parts)[:200] or "JSON body"
    return "JSON body"
