"""The HTTP server (`Simulator`): auth, rate limits and faults around `api.Api`.

Stdlib `ThreadingHTTPServer` on loopback in a daemon thread. The `Date` header
carries the simulated clock, so a client that reads server time sees simulated
time. Request handling order: connection reset, block / rate limit, 429 storm,
latency (constant and spikes), injected failures, then auth and the API, then
malformed-body faults.
"""

from __future__ import annotations

import email.utils
import io
import json
import os
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from . import reference as ref
from .account import SimulatedAccount
from .api import Api, Response, problem
from .auth import ADMIN_ID, ConnectionDropped, OAuthApp, OAuthError, Tokens
from . import arrival
from .clock import Clock
from .faults import Faults, corrupt, with_fields
from .limits import BLOCKED, TOO_MANY, RateLimiter
from .truth import Truth

NGINX_PAGE = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
              "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
REASONS = {403: "Forbidden", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
           504: "Gateway Time-out"}


def nginx(status: int) -> Response:
    return Response(status, NGINX_PAGE.format(status=status, reason=REASONS[status]).encode(), "text/html")


class Stats:
    """Request counters: total, by path (no query) and by status."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_path: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_path[path] += 1
            self.by_status[status] += 1

    def count(self, prefix: str) -> int:
        """Requests whose path starts with `prefix`."""
        with self._lock:
            return sum(n for path, n in self.by_path.items() if path.startswith(prefix))


class Simulator:
    """A running simulated amoCRM: `with Simulator(account) as sim: requests.get(sim.base_url + ...)`."""

    def __init__(self, account: SimulatedAccount, *, host: str = "127.0.0.1", port: int = 0,
                 rate_limit: int | None = 7, block_after: int = 20, block_seconds: float = 300.0,
                 access_token_ttl: int = 86_400, events_max_limit: int = 250, retry_after: int = 1,
                 monotonic: Callable[[], float] = time.monotonic):
        self.account = account
        self.clock = Clock(account.now, account.start, account.end)
        self.tokens = Tokens(self.clock, access_token_ttl, account.profile.account_id)
        self.limiter = RateLimiter(rate_limit, block_after=block_after, block_seconds=block_seconds,
                                   monotonic=monotonic)
        self.faults = Faults(account.seed)
        self.stats = Stats()
        self.api = Api(account, events_max_limit=events_max_limit)
        self.retry_after = retry_after
        self._rejections = 0
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "Simulator":
        self._server = ThreadingHTTPServer((self._host, self._port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="amocrm-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self) -> None:
        """Block until interrupted (the command line)."""
        assert self._thread is not None
        self._thread.join()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the simulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- credentials and controls -----------------------------------------------------------

    @property
    def long_lived_token(self) -> str:
        return self.tokens.long_lived_token

    @property
    def oauth(self) -> OAuthApp:
        return self.tokens.oauth

    def issue_authorization_code(self, user_id: int = ADMIN_ID) -> str:
        """A code as when `user_id` (default: the admin) installs the integration; its tokens act as that user."""
        return self.tokens.issue_code(user_id)

    def issue_refresh_token(self, user_id: int = ADMIN_ID) -> str:
        return self.tokens.issue_refresh_token(user_id)

    def revoke_tokens(self) -> None:
        """An admin switched the integration off: every token is rejected from now on."""
        self.tokens.revoke_all()

    def block(self) -> None:
        """amoCRM blocked the account (after repeated 429s): every request gets the nginx 403 page."""
        self.limiter.block()

    def unblock(self) -> None:
        self.limiter.unblock()

    def truth(self) -> Truth:
        return self.account.truth(self.clock.now)

    # -- one request ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers, body: bytes) -> Response:
        url = urlsplit(target)
        path = url.path
        # counted when it arrived (the kernel's time is real time: a test's hand-moved clock counts on handling)
        arrived = getattr(_arrived, "at", None) if self.limiter.real_clock else None
        verdict = self.limiter.check(age=arrival.age(arrived))
        if verdict == BLOCKED:
            return nginx(403)
        if verdict == TOO_MANY:
            return self._too_many()
        storm = self.faults.take_storm()
        if storm:
            return self._too_many(*storm)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        spike_ms = self.faults.take_spike(path)
        if spike_ms:
            time.sleep(spike_ms / 1000)
        failure = self.faults.take_failure(path)
        if failure is not None:
            # the gateway answers 502-504 with its own HTML page; the API itself answers problem-JSON
            return nginx(failure) if failure in (502, 503, 504) else problem(failure, "Error", "Injected failure")
        if path.rstrip("/") == "/oauth2/access_token":
            if method != "POST":
                return problem(405, "Method Not Allowed", "Use POST")
            return self._token(headers, body)
        if not path.startswith("/api/v4/"):
            return problem(404, "Not Found", "Unknown method")
        if method != "GET":
            return problem(405, "Method Not Allowed", "The simulator is read-only")
        user_id = self.tokens.user_of(headers.get("Authorization"))
        if user_id is None:
            return problem(401, "Unauthorized", "Invalid user name or password")
        if path.rstrip("/") == "/api/v4/users" and not ref.is_admin(user_id):
            return problem(403, "Forbidden", "Access denied")  # lists the users for account admins only
        at = self.clock.now
        honour = not self.faults.ignore_filters
        with self.account.lock:
            self.api.hidden = dict(self.faults.hidden)
            response = self.api.get(path, url.query, at, self.base_url, honour, self.faults.next_always,
                                    self.faults.events_page_cap)
            if response.status == 200 and self.faults.mutate_while_paging:
                self._mutate(path, url.query, at, honour)
        if response.status == 200:
            added = self.faults.new_fields.get(path.rstrip("/"))
            if added:
                response.body = with_fields(response.body, added)
            response.body = self.faults.spoil_page(path, response.body)
            kind = self.faults.take_malformed(path)
            if kind:
                response.body = corrupt(response.body, kind)
        return response

    def _too_many(self, retry_after: int | None = None, header: bool = False) -> Response:
        """429; every third one is plain text, as some real 429s are not JSON (unless a storm armed with
        `retry_after`: JSON, or plain text with a `Retry-After` header). A wait it names opens the
        penalty window the limiter watches."""
        self._rejections += 1
        if header and retry_after is not None:
            self.limiter.penalize(retry_after)
            return Response(429, b"Too Many Requests", "text/plain", headers={"Retry-After": str(retry_after)})
        if retry_after is None and self._rejections % 3 == 0:
            return Response(429, b"Too Many Requests", "text/plain")
        wait = self.retry_after if retry_after is None else retry_after
        self.limiter.penalize(wait)
        return problem(429, "Too Many Requests", "Превышено допустимое количество запросов в секунду",
                       retry_after=wait)

    def _token(self, headers, body: bytes) -> Response:
        content_type = headers.get("Content-Type", "")
        try:
            form = json.loads(body or b"{}") if "json" in content_type else dict(parse_qsl(body.decode()))
            if not isinstance(form, dict):
                raise ValueError
            return Response(200, json.dumps(self.tokens.exchange({k: str(v) for k, v in form.items()})).encode(),
                            "application/json")
        except (ValueError, UnicodeDecodeError):
            hint = "Request body is not valid"
        except OAuthError as exc:
            hint = exc.hint
        return Response(400, json.dumps({
            "hint": hint, "title": "Некорректный запрос", "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": 400, "detail": "В запросе отсутствует ряд параметров или параметры невалидны"},
            ensure_ascii=False).encode(), "application/problem+json")

    def _mutate(self, path: str, query: str, at: int, honour: bool) -> None:
        """A user edits a lead the paging client has not read yet (fault `mutate_while_paging`)."""
        unread = self.api.unread(path, query, at, honour)
        if len(unread):
            lead_id = ref.LEAD_ID_BASE + int(unread[self.faults.pick(len(unread))])
            self.account.edit_lead_price(lead_id, at, by=ref.USERS[1].id)
            self.faults.mutated.append(lead_id)


_arrived = threading.local()  # `at`: Unix time the request being handled on this thread arrived


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes
        server_version = "nginx"
        sys_version = ""

        def setup(self) -> None:
            """Read the socket through arrival.StampedReader, so the limiter counts when requests arrived."""
            super().setup()
            self._stamps = arrival.stamped_reader(self.connection)
            if self._stamps is not None:
                plain, self.rfile = self.rfile, io.BufferedReader(self._stamps)
                plain.close()

        def _serve(self) -> None:
            _arrived.at = self._stamps.take() if self._stamps else None
            if sim.faults.take_reset(urlsplit(self.path).path):
                self._reset()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self._stamps:
                self._stamps.take()  # the body's bytes are not the next request's
            try:
                response = sim.handle(self.command, self.path, self.headers, body)
            except ConnectionDropped:  # the answer is lost in transit: close without a word
                self.close_connection = True
                return
            finally:
                _arrived.at = None
            sim.stats.record(urlsplit(self.path).path, response.status)
            self.send_response(response.status)
            self.send_header("X-Request-Id", uuid.uuid4().hex)
            if response.content_type:
                self.send_header("Content-Type", f"{response.content_type}; charset=utf-8")
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def _reset(self) -> None:
            """Close with SO_LINGER 0, so the kernel sends RST instead of an orderly FIN."""
            sim.stats.record(urlsplit(self.path).path, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())  # not close(): the handler's rfile would keep it open
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def date_time_string(self, timestamp=None) -> str:
            return email.utils.formatdate(sim.clock.now if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler

