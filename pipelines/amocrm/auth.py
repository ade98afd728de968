"""Credentials: a long-lived token, or OAuth2 with single-use rotating refresh tokens.

amoCRM refresh tokens work exactly once: every refresh returns a new pair and
kills the old refresh token. Losing the new pair locks the integration out, so
the pair lives in a token store (`paths.tokens_path()`, `<data>/amocrm_tokens.json`,
mode 0600), rewritten atomically (temp file + fsync + rename) the moment the
token endpoint answers, under a file lock so two processes never spend the same
refresh token.

The configured `refresh_token` only seeds the store: once rotated it is dead,
and the store is the truth. Putting a *different* refresh token in the config
reseeds the store. If the pair is lost anyway (a crash in the instant between
the token endpoint's answer and the rename), the next run fails with
`AmoAuthError`; recover with a new authorization code from the integration's
settings: `python -m pipelines.amocrm authorize --code CODE` (see `exchange_code`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import requests

from pipelines.amocrm.client import RETRY_STATUSES, AmoAuthError, RateLimiter

REFRESH_MARGIN_SECONDS = 300
TOKEN_ATTEMPTS = 6
RECOVERY_HINT = "re-authorize: python -m pipelines.amocrm authorize --code <authorization code>"


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
        timeout: float = 30.0,
    ):
        self.token_url = f"{base_url.rstrip('/')}/oauth2/access_token"
        self._client = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri}
        self._seed = refresh_token
        self.store = TokenStore(store_path)
        self._limiter = limiter
        self._timeout = timeout
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
        stored = self.store.load()
        if self._seed and (stored is None or stored.get("seed") != _fingerprint(self._seed)):
            # first run, or the user configured a new refresh token: it supersedes the store
            return {"refresh_token": self._seed, "access_token": None, "expires_at": 0, "seed": _fingerprint(self._seed)}
        if stored is None:
            raise AmoAuthError(f"no OAuth2 refresh token: set sources.amocrm.refresh_token, or {RECOVERY_HINT}")
        return stored

    def _refresh(self, stale_access: str | None) -> None:
        with self.store.locked():
            stored = self.store.load()
            if stored and stored.get("seed") == self._tokens.get("seed"):
                # same lineage: the store holds its newest pair, perhaps rotated by another process
                self._tokens = stored
                if stored.get("access_token") not in (None, stale_access) and time.time() < stored["expires_at"] - REFRESH_MARGIN_SECONDS:
                    return
            body = {**self._client, "grant_type": "refresh_token", "refresh_token": self._tokens["refresh_token"]}
            self._tokens = self.store.save(_token_request(self.token_url, body, self._limiter, self._timeout), self._tokens.get("seed"))


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str, store_path: Path, timeout: float = 30.0
) -> None:
    """Trade an authorization code for the first token pair (or after a lost pair) and store it."""
    store = TokenStore(store_path)
    body = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "grant_type": "authorization_code",
        "code": code,
    }
    with store.locked():
        previous = store.load() or {}
        store.save(_token_request(f"{base_url.rstrip('/')}/oauth2/access_token", body, None, timeout), previous.get("seed"))


def _token_request(url: str, body: dict[str, str], limiter: RateLimiter | None, timeout: float) -> dict[str, Any]:
    """POST to the token endpoint; 429/5xx and connection errors are retried (the grant was not spent)."""
    for attempt in range(TOKEN_ATTEMPTS):
        if limiter:
            limiter.acquire()
        try:
            response = requests.post(url, json=body, timeout=timeout)
        except requests.RequestException as exc:
            failure = f"token endpoint unreachable ({type(exc).__name__})"
        else:
            if response.status_code not in RETRY_STATUSES:
                break
            failure = f"token endpoint answered HTTP {response.status_code}"
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
        raise AmoAuthError("token endpoint answered 200 without access_token/refresh_token/expires_in") from None


def _hint(response: requests.Response) -> str:
    """The problem-JSON hint/detail of a token error: descriptive, never a token."""
    try:
        body = response.json()
    except ValueError:
        return "non-JSON body"
    if not isinstance(body, dict):
        return "unexpected body"
    return "; ".join(str(body[k]) for k in ("hint", "detail") if isinstance(body.get(k), str))[:200] or "no details"


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenStore:
    """A JSON file holding the current pair, replaced atomically, readable by its owner only."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise AmoAuthError(f"token store {self.path} is corrupt; {RECOVERY_HINT}") from None
        return data if isinstance(data, dict) and data.get("refresh_token") else None

    def save(self, tokens: dict[str, Any], seed: str | None) -> dict[str, Any]:
        record = {**tokens, "seed": seed, "saved_at": int(time.time())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".amocrm_tokens.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return record

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock across processes, held while a refresh token is being spent."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
