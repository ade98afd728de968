"""Bearer tokens and the OAuth2 token endpoint, on the simulated clock.

Long-lived token: never expires. OAuth: authorization codes live 20 minutes and
are single-use; access tokens expire after `access_token_ttl`; each refresh
token works once (rotation) and dies after 3 months. `revoke_all` is an admin
switching the integration off. Every token acts as a user: the long-lived key
as the admin, OAuth tokens as the user the code was issued to (`user_of`).

`lose_next_answers` is the network losing the token endpoint's answer after the
grant was spent: the server rotates, then answers too late for the client
(`"slow"`) or drops the connection unanswered (`"drop"`). `presented` lists every
code and refresh token the endpoint received, in order, so a test can tell
whether a client spent a token twice.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from . import reference as ref
from .clock import Clock

CODE_TTL = 20 * 60
REFRESH_TTL = 90 * 86_400
ADMIN_ID = next(u.id for u in ref.USERS if u.is_admin)  # the account admin who installed the integration


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str


LOST_ANSWER_KINDS = ("slow", "drop")


class ConnectionDropped(Exception):
    """The server closes the connection without answering (raised after the grant was spent)."""


class OAuthError(Exception):
    """A rejected token request; `hint` is what amoCRM puts in its OAuthProblemJson."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Tokens:
    def __init__(self, clock: Clock, access_token_ttl: int = 86_400,
                 account_id: int = ref.DEFAULT_PROFILE.account_id):
        self.clock = clock
        self.account_id = account_id  # the `account_id` claim of the JWTs it issues
        self.access_token_ttl = int(access_token_ttl)
        self.oauth = OAuthApp(str(uuid.uuid4()), secrets.token_urlsafe(48), "https://kpi.example/amocrm/oauth")
        self._lock = threading.Lock()
        self._access: dict[str, tuple[int, int]] = {}  # token -> (expires at (simulated), user id)
        self._refresh: dict[str, tuple[int, int]] = {}  # token -> (issued at, user id)
        self._codes: dict[str, tuple[int, int]] = {}  # code -> (issued at, user id)
        self._spent: set[str] = set()  # used codes and refresh tokens
        self.presented: list[str] = []  # every code / refresh token received by the token endpoint
        self._lost_answers: list[str] = []  # "slow" / "drop", for the next token answers
        self.slow_answer_seconds = 2.0
        self.long_lived_token = self._jwt(self.clock.now + 5 * 365 * 86_400)

    def _jwt(self, expires: int, user_id: int = ADMIN_ID) -> str:
        head = {"typ": "JWT", "alg": "RS256"}
        claims = {"aud": self.oauth.client_id, "jti": secrets.token_hex(20), "iat": self.clock.now,
                  "nbf": self.clock.now, "exp": expires, "sub": str(user_id), "account_id": self.account_id,
                  "base_domain": "amocrm.ru", "scopes": ["crm", "notifications"]}
        return ".".join([_b64(json.dumps(head).encode()), _b64(json.dumps(claims).encode()),
                         _b64(secrets.token_bytes(64))])

    def issue_code(self, user_id: int = ADMIN_ID) -> str:
        """An authorization code, as when `user_id` installs the integration."""
        code = "def50200" + secrets.token_hex(100)
        with self._lock:
            self._codes[code] = (self.clock.now, user_id)
        return code

    def issue_refresh_token(self, user_id: int = ADMIN_ID) -> str:
        token = "def50200" + secrets.token_hex(150)
        with self._lock:
            self._refresh[token] = (self.clock.now, user_id)
        return token

    def user_of(self, authorization: str | None) -> int | None:
        """The user a valid `Authorization: Bearer ...` acts as; None when the token is not valid."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):].strip()
        with self._lock:
            if token == self.long_lived_token:
                return ADMIN_ID
            expires, user_id = self._access.get(token, (0, None))
        return user_id if self.clock.now < expires else None

    def lose_next_answers(self, kind: str, n: int = 1, seconds: float = 2.0) -> None:
        """The next `n` successful grants are spent, but their answer is lost ("slow": sent after `seconds`)."""
        if kind not in LOST_ANSWER_KINDS:
            raise ValueError(f"kind must be one of {LOST_ANSWER_KINDS}")
        with self._lock:
            self._lost_answers += [kind] * n
            self.slow_answer_seconds = seconds

    def exchange(self, form: dict[str, str]) -> dict:
        """POST /oauth2/access_token: a new access/refresh pair, or OAuthError."""
        answer = self._exchange(form)
        with self._lock:
            lost = self._lost_answers.pop(0) if self._lost_answers else None
        if lost == "drop":
            raise ConnectionDropped()
        if lost == "slow":
            time.sleep(self.slow_answer_seconds)
        return answer

    def _exchange(self, form: dict[str, str]) -> dict:
        grant = form.get("grant_type")
        with self._lock:
            self.presented.append(form.get("code") or form.get("refresh_token") or "")
        if grant not in ("authorization_code", "refresh_token"):
            raise OAuthError("Check the `grant_type` parameter")
        if form.get("client_id") != self.oauth.client_id:
            raise OAuthError("Check the `client_id` parameter")
        if form.get("client_secret") != self.oauth.client_secret:
            raise OAuthError("Check the `client_secret` parameter")
        if form.get("redirect_uri") != self.oauth.redirect_uri:
            raise OAuthError("Redirect URI is not associated with client")
        now = self.clock.now
        with self._lock:
            if grant == "authorization_code":
                code = form.get("code", "")
                if code in self._spent:
                    raise OAuthError("Authorization code has been revoked")
                if code not in self._codes:
                    raise OAuthError("Cannot decrypt the authorization code")
                issued, user_id = self._codes.pop(code)
                if now - issued > CODE_TTL:
                    raise OAuthError("Authorization code has expired")
                self._spent.add(code)
            else:
                token = form.get("refresh_token", "")
                if token in self._spent:
                    raise OAuthError("Token has been revoked")
                issued, user_id = self._refresh.pop(token, (None, None))
                if issued is None or now - issued > REFRESH_TTL:
                    raise OAuthError("Invalid refresh token")
                self._spent.add(token)
        access = self._jwt(now + self.access_token_ttl, user_id)
        refresh = self.issue_refresh_token(user_id)
        with self._lock:
            self._access[access] = (now + self.access_token_ttl, user_id)
        return {"token_type": "Bearer", "expires_in": self.access_token_ttl, "server_time": now,
                "access_token": access, "refresh_token": refresh}

    def revoke_all(self) -> None:
        """The integration was switched off: every token and code dies; a new long-lived token replaces the old."""
        with self._lock:
            self._spent.update(self._codes, self._refresh)
            self._access.clear()
            self._refresh.clear()
            self._codes.clear()
            self.long_lived_token = self._jwt(self.clock.now + 5 * 365 * 86_400)
