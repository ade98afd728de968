"""Credentials: a long-lived token, or OAuth2 with single-use rotating refresh tokens.

amoCRM refresh tokens work exactly once: every refresh returns a new pair and
kills the old refresh token. Losing the new pair locks the integration out, so
the pair lives in a token store (`paths.tokens_path()`, see `token_store.py`),
rewritten atomically the moment the token endpoint answers, under a file lock
so two processes never spend the same refresh token.

The configured `refresh_token` only seeds the store: once rotated it is dead,
and the store is the truth. Putting a *different* refresh token in the config
reseeds the store; `authorize` records the configured one as superseded.

A refresh token is sent again only when the request provably never left
(connection refused, DNS failure, connect timeout, or a 429, which amoCRM answers
before handling anything). After an ambiguous failure (read timeout, connection
dropped after sending, 5xx) the token may have been rotated: sending it again
would at best be refused and at worst (servers that detect reuse) revoke the
grant, and nothing else tells whether it was spent. So the refresh stops with
"refresh outcome unknown", the store keeps that mark (every later run says the
same without spending anything), and the way out is a new authorization code:
`python -m pipelines.amocrm authorize --code CODE` (`exchange_code`), which works
whatever state the store is in.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from pipelines.amocrm.client import AmoAuthError, RateLimiter
from pipelines.amocrm.token_store import AUTHORIZE_COMMAND, RECOVERY_HINT, TokenStore, fingerprint

__all__ = ["LongLivedToken", "OAuth2Token", "TokenStore", "exchange_code"]

REFRESH_MARGIN_SECONDS = 300
TOKEN_ATTEMPTS = 6
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


def outcome_unknown_message(started_at: float | None = None, why: str | None = None) -> str:
    when = f" at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(started_at))}" if started_at else ""
    cause = f" ({why})" if why else ""
    return (f"amoCRM refresh outcome unknown: a token refresh sent{when} got no usable answer{cause}; "
            f"the refresh token may have been rotated, so it is not sent again. "
            f"Re-authorise with `{AUTHORIZE_COMMAND}` (a new code from the integration's settings)")


class _OutcomeUnknown(Exception):
    """The grant may or may not have been spent: the request left and no clear answer came back."""


class LongLivedToken:
    """A long-lived token (private integrations): nothing to refresh, a 401 is final."""

    def __init__(self, token: str):
        self._header = f"Bearer {token}"

    def header(self) -> str:
        return self._header

    def handle_unauthorized(self, rejected_header: str) -> None:
        raise AmoAuthError("the long-lived access token was rejected (401): it expired or was revoked; issue a new one")


class OAuth2Token:
    """OAuth2 access token backed by the token store; refreshed before expiry and once on a 401."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        refresh_token: str | None,
        store_path: Path,
        limiter: RateLimiter | None = None,
    ):
        self.token_url = f"{base_url.rstrip('/')}/oauth2/access_token"
        self._client = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri}
        self._seed = refresh_token
        self.store = TokenStore(store_path)
        self._limiter = limiter
        self._lock = threading.Lock()
        self._tokens: dict[str, Any] | None = None

    def header(self) -> str:
        with self._lock:
            if self._tokens is None:
                self._tokens = self._load_or_seed()
            if self._tokens.get("access_token") is None or time.time() > self._tokens["expires_at"] - REFRESH_MARGIN_SECONDS:
                self._refresh(stale_access=self._tokens.get("access_token"))
            return f"Bearer {self._tokens['access_token']}"

    def handle_unauthorized(self, rejected_header: str) -> None:
        with self._lock:
            if self._tokens and rejected_header != f"Bearer {self._tokens['access_token']}":
                return  # another thread refreshed meanwhile
            self._refresh(stale_access=rejected_header.removeprefix("Bearer "))

    def _load_or_seed(self) -> dict[str, Any]:
        seed = fingerprint(self._seed)
        with self.store.locked():  # a refresh-in-flight mark means "lost" only to the lock holder
            stored = self.store.load()
            if stored is not None and seed in (None, stored.get("seed")):
                _refuse_if_outcome_unknown(stored)
                return stored
            if seed in self.store.superseded():
                raise AmoAuthError("the configured sources.amocrm.refresh_token was already used (or replaced by "
                                   f"authorize) and the token store that continued it is {_state(stored)}; "
                                   f"it is not sent again. {RECOVERY_HINT}")
        if seed:  # first run, or the user configured a new refresh token: it supersedes the store
            return {"refresh_token": self._seed, "access_token": None, "expires_at": 0, "seed": seed}
        raise AmoAuthError(f"no OAuth2 refresh token: set sources.amocrm.refresh_token, or {RECOVERY_HINT}")

    def _refresh(self, stale_access: str | None) -> None:
        with self.store.locked():
            stored = self.store.load()
            if stored and stored.get("seed") == self._tokens.get("seed"):
                # same lineage: the store holds its newest pair, perhaps rotated by another process
                _refuse_if_outcome_unknown(stored)
                self._tokens = stored
                if stored.get("access_token") not in (None, stale_access) and time.time() < stored["expires_at"] - REFRESH_MARGIN_SECONDS:
                    return
            body = {**self._client, "grant_type": "refresh_token", "refresh_token": self._tokens["refresh_token"]}
            if self._tokens["refresh_token"] == self._seed:
                self.store.supersede(self._tokens["seed"])  # a configured token is sent once, ever
            marked = self.store.mark_refresh_started(self._tokens)
            try:
                answer = _token_request(self.token_url, body, self._limiter)
            except _OutcomeUnknown as exc:
                raise AmoAuthError(outcome_unknown_message(why=str(exc))) from None  # the mark stays
            except AmoAuthError:
                self.store.clear_refresh_mark(self._tokens)  # refused, or never sent: nothing was spent
                raise
            self._tokens = self.store.save(answer, marked.get("seed"))


def _state(stored: dict[str, Any] | None) -> str:
    return "missing" if stored is None else "from another refresh token"


def _refuse_if_outcome_unknown(stored: dict[str, Any]) -> None:
    if stored.get("refresh_started_at"):
        raise AmoAuthError(outcome_unknown_message(started_at=stored["refresh_started_at"]))


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str, store_path: Path,
    configured_refresh_token: str | None = None,
) -> Path | None:
    """Trade an authorization code for a fresh token pair and store it, whatever the store held.

    The configured `refresh_token` (if any; else the one the old store superseded) is recorded as
    superseded: it is never spent again, dead or alive. An unreadable store is moved aside, not
    deleted: returns where to, so the caller can say so.
    """
    store = TokenStore(store_path)
    body = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "grant_type": "authorization_code",
        "code": code,
    }
    with store.locked():
        moved = None
        try:
            previous = store.load() or {}
        except AmoAuthError:
            previous, moved = {}, store.move_aside()
        try:
            answer = _token_request(f"{base_url.rstrip('/')}/oauth2/access_token", body, None)
        except _OutcomeUnknown as exc:
            raise AmoAuthError(f"authorization outcome unknown ({exc}): the code may have been used; "
                               "take a new code from the integration's settings and run authorize again") from None
        seed = fingerprint(configured_refresh_token) or previous.get("seed")
        store.supersede(seed)
        store.save(answer, seed)
    return moved


def _token_request(url: str, body: dict[str, str], limiter: RateLimiter | None) -> dict[str, Any]:
    """POST to the token endpoint. Retried only while the grant was provably not spent;
    `_OutcomeUnknown` when the request left and no clear answer came back."""
    for attempt in range(TOKEN_ATTEMPTS):
        if limiter:
            limiter.acquire()
        try:
            response = requests.post(url, json=body, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.RequestException as exc:
            if not _never_sent(exc):
                raise _OutcomeUnknown(f"{type(exc).__name__} after sending") from None
            failure = f"token endpoint unreachable ({type(exc).__name__})"
        else:
            if response.status_code >= 500:
                raise _OutcomeUnknown(f"HTTP {response.status_code}")
            if response.status_code != 429:
                break
            failure = "token endpoint answered HTTP 429"
        time.sleep(min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5))
    else:
        raise AmoAuthError(f"{failure} {TOKEN_ATTEMPTS} times; try again later")
    if response.status_code != 200:
        raise AmoAuthError(f"token endpoint refused the {body['grant_type']} grant: HTTP {response.status_code} "
                           f"({_hint(response)}); {RECOVERY_HINT}")
    try:
        tokens = response.json()
        return {
            "access_token": str(tokens["access_token"]),
            "refresh_token": str(tokens["refresh_token"]),
            "expires_at": time.time() + int(tokens["expires_in"]),
        }
    except (ValueError, KeyError, TypeError):
        raise _OutcomeUnknown("HTTP 200 without access_token/refresh_token/expires_in") from None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the server: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _hint(response: requests.Response) -> str:
    """The problem-JSON hint/detail of a token error: descriptive, never a token."""
    try:
        body = response.json()
    except ValueError:
        return "non-JSON body"
    if not isinstance(body, dict):
        return "unexpected body"
    return "; ".join(str(body[k]) for k in ("hint", "detail") if isinstance(body.get(k), str))[:200] or "no details"
