"""HTTP access to amoCRM API v4: pacing, retries, typed errors, request stats.

amoCRM allows 7 requests/s per integration and blocks the account (403, an nginx
HTML page) after repeated 429s, so every request of a run, from every thread,
goes through one `RateLimiter` (pacing.py) kept just under the limit, and a 429
holds all threads for as long as the server asks. Configuration mistakes (a bad
base URL, an unknown host, rejected credentials on the first request) fail at
once with `AmoConfigError`/`AmoAuthError`; errors with `retryable = False` are
not retried by Dagster either (pipelines/defs/ingest.py).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

import requests

from pipelines.amocrm import config_check
from pipelines.amocrm.pacing import RateLimiter

__all__ = ["AmoClient", "RateLimiter", "RequestStats", "Page", "AmoError", "AmoConfigError", "AmoAuthError",
           "AmoBlockedError", "AmoRateLimitError", "AmoHTTPError", "AmoPayloadError", "RETRY_STATUSES", "amo_cause"]

log = logging.getLogger(__name__)

# amoCRM documents `retry_after: 300`; three such penalties in one run mean something else is using the
# account's limit, and going on risks the 403 block: stop and say so.
PENALTY_BUDGET_SECONDS = 900.0


class AmoError(Exception):
    """Base of every error the extractor raises on purpose (messages never carry secrets).

    `retryable`: whether running the extraction again soon may succeed (Dagster's retry policy
    applies only then)."""

    retryable = True


class AmoConfigError(AmoError):
    """A configuration mistake (base URL, host, credentials missing or refused on the first request): never retried."""

    retryable = False


class AmoAuthError(AmoError):
    """The credentials were rejected (401 after a refresh, or the token endpoint said no)."""

    retryable = False


class AmoBlockedError(AmoError):
    """amoCRM answered 403: the account/IP is blocked (or the token lacks rights)."""

    retryable = False


class AmoRateLimitError(AmoError):
    """amoCRM kept answering 429 for longer in total than a run waits (`PENALTY_BUDGET_SECONDS`)."""

    retryable = False


class AmoHTTPError(AmoError):
    """A request still failed after all retries, or failed with a status that is not retried (`status`)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AmoPayloadError(AmoError):
    """A response that is not the documented shape. Names the endpoint and page so it can be reported."""

    def __init__(self, endpoint: str, page: int | None, reason: str):
        self.endpoint, self.page, self.reason = endpoint, page, reason
        where = f"{endpoint} page {page}" if page is not None else endpoint
        super().__init__(f"malformed response from {where}: {reason}")


def amo_cause(exc: BaseException | None) -> AmoError | None:
    """The AmoError behind the exceptions dlt (and Dagster) wrap it in, if there is one."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, AmoError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class Auth(Protocol):
    """What the client needs from a credential (see auth.py)."""

    def header(self) -> str: ...

    def handle_unauthorized(self, rejected_header: str) -> None:
        """Called on a 401: refresh and return (the request is retried once), or raise AmoAuthError."""


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
        penalty_budget: float = PENALTY_BUDGET_SECONDS,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        try:
            self.base_url = config_check.account_url(base_url)
        except config_check.ConfigProblem as exc:
            raise AmoConfigError(str(exc)) from None
        self.auth = auth
        self.limiter = limiter
        self.stats = stats or RequestStats()
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.penalty_budget = penalty_budget
        self.timeout = timeout
        self._sleep = sleep
        self._local = threading.local()
        self._server_time: float | None = None
        self._first_lock = threading.Lock()
        self._host_checked = False  # the host resolved and accepted a connection (config_check)
        self._host_answered = False  # any HTTP answer: later connection errors are network blips
        self._verified = False  # a successful answer: the URL and credentials are right

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
        self._check_host()
        refreshed = False
        attempt = 0
        while True:
            header = self.auth.header()  # may refresh the token: before the slot, which must be the last step
            session = self._session()
            try:
                # prepared before the slot too: the limiter counts a request when it leaves, and every
                # millisecond between the slot and the socket narrows the margin amoCRM sees
                request = session.prepare_request(requests.Request("GET", url, params=params,
                                                                   headers={"Authorization": header}))
                settings = session.merge_environment_settings(request.url, {}, None, None, None)
                sent_at = self.limiter.acquire()
                response = session.send(request, timeout=self.timeout, allow_redirects=True, **settings)
            except requests.RequestException as exc:
                self._connection_failed(exc, path, attempt)
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            self._host_answered = True
            self._note_server_time(response)
            status = response.status_code
            if status == 401 and not refreshed:
                self.stats.count(status, retry=True)
                self._unauthorized(header)
                refreshed = True
                continue
            # a 429 says "slow down", not "broken": it gets twice the retries
            retry = status in RETRY_STATUSES and attempt < self.max_retries * (2 if status == 429 else 1)
            self.stats.count(status, retry=retry)
            if status < 400:
                self._verified = True
                return response
            if not retry:
                raise self._final_error(status, path, page, response)
            if status == 429:
                self._hold(response, path, page, attempt, sent_at)
            else:
                delay = self._backoff(attempt)
                log.info("GET %s page %s: HTTP %s, retrying in %.1fs", path, page, status, delay)
                self._sleep(delay)
            attempt += 1

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "?"

    def _check_host(self) -> None:
        """Before the first request of the run: an unknown host or a refused port is a config mistake."""
        if self._host_checked:
            return
        with self._first_lock:
            if not self._host_checked:
                try:
                    config_check.check_reachable(self.base_url, min(self.timeout, config_check.PREFLIGHT_TIMEOUT))
                except config_check.ConfigProblem as exc:
                    raise AmoConfigError(str(exc)) from None
                self._host_checked = True

    def _connection_failed(self, exc: requests.RequestException, path: str, attempt: int) -> None:
        """Raise if the request is not to be retried: a config mistake before the host ever answered,
        or the last attempt."""
        final = attempt >= self.max_retries
        problem = None if self._host_answered else config_check.connection_problem(exc, self.base_url)
        self.stats.count(type(exc).__name__, retry=not (final or problem))
        if problem:
            raise AmoConfigError(f"GET {path}: {problem}") from None
        if final:
            raise AmoHTTPError(f"GET {path}: {type(exc).__name__} talking to host {self.host} after {attempt + 1} "
                               "attempts; check the network (or amoCRM's status) and run again") from None

    def _unauthorized(self, header: str) -> None:
        """Refresh after a 401; a refusal on the run's first answer may just as well be a wrong address."""
        try:
            self.auth.handle_unauthorized(header)
        except AmoAuthError as exc:
            if self._verified:
                raise
            raise AmoAuthError(f"host {self.host}: {exc}; {config_check.first_answer_hint(self.base_url)}") from None

    def _final_error(self, status: int, path: str, page: int | None, response: requests.Response) -> AmoError:
        """The error for a status that is not (or no longer) retried."""
        hint = "" if self._verified else f"; {config_check.first_answer_hint(self.base_url)}"
        if status == 401:
            return AmoAuthError(
                f"GET {path}: 401 Unauthorized from host {self.host} even after refreshing the access token; "
                f"the integration may be disabled or the token revoked: re-authorize{hint}")
        if status == 402:
            return AmoConfigError(f"GET {path}: 402 Payment Required from host {self.host}: the amoCRM account's "
                                  f"subscription has ended; renew it in amoCRM, then run again{hint}")
        if status == 403:
            return AmoBlockedError(f"GET {path}: 403 Forbidden from host {self.host} ({_describe(response)}); "
                                   + _why_forbidden(response) + hint)
        if status == 404 and hint:
            return AmoConfigError(f"GET {path}: 404 from host {self.host} ({_describe(response)}): "
                                  f"not an amoCRM API address{hint}")
        return AmoHTTPError(f"GET {path} (page {page}): HTTP {status} from host {self.host} ({_describe(response)})",
                            status)

    def _hold(self, response: requests.Response, path: str, page: int | None, attempt: int, sent_at: float) -> None:
        """A 429: every thread waits as long as the server asked (the next `acquire` waits it out), or
        backs off when it did not say, unless the waits of this run add up to more than `penalty_budget`."""
        delay = self._retry_after(response) or self._backoff(attempt)
        total = self.limiter.penalize(delay, sent_at)
        if total > self.penalty_budget:
            raise AmoRateLimitError(
                f"GET {path}: amoCRM at host {self.host} kept answering 429 Too Many Requests and asked this run "
                f"to wait {total / 60:.0f} min in total, more than the {self.penalty_budget / 60:.0f} min a run "
                "waits; stopped so that the account is not blocked (403). Something else probably uses this "
                "account's API limit (another integration, or a second copy of this pipeline): check, then run again later")
        log.warning("GET %s%s: 429 Too Many Requests; all requests wait %.0fs (amoCRM asked for %.0fs in total "
                    "this run)", path, f" page {page}" if page is not None else "", delay, total)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt)) + self.backoff_base / 2

    def _retry_after(self, response: requests.Response) -> float:
        """`Retry-After` header (seconds or an HTTP date) or `retry_after` in a JSON body, in full; 0 when absent."""
        value: Any = response.headers.get("Retry-After")
        if value is None:
            try:
                body = response.json()
                value = body.get("retry_after") if isinstance(body, dict) else None
            except ValueError:
                value = None
        if value is None:
            return 0.0
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            pass
        try:
            when = email.utils.parsedate_to_datetime(str(value)).timestamp()
        except (TypeError, ValueError):
            return 0.0
        return max(0.0, when - (self._server_time or time.time()))

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
    return ("amoCRM blocks accounts that exceed 7 requests/s repeatedly; unblocking goes through amoCRM support "
            "(give them the IP, subdomain and account id); runs fail at once until then")


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
