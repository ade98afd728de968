"""`Session`: one extraction's client and the account facts every resource needs, made on first use."""

from __future__ import annotations

import threading
from typing import Any, Callable

from pipelines import paths
from pipelines.amocrm import embedded, origin
from pipelines.amocrm.client import AmoClient, AmoError

ACCOUNT_WITH = "users_groups,task_types,datetime_settings,is_api_filter_enabled"


def fetch_account(client: AmoClient) -> dict[str, Any]:
    body = client.get_json("/api/v4/account", {"with": ACCOUNT_WITH})
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise AmoError("malformed response from /api/v4/account: not an account object")
    return body


class Session:
    """The client and the account facts every resource needs, created on first use (not at definition time),
    so defining the source (Dagster does it at import) sends no request."""

    def __init__(self, make_client: Callable[[], AmoClient], account_key: str = paths.DEFAULT_ACCOUNT):
        self._make_client = make_client
        self.account_key = account_key
        self._lock = threading.Lock()
        self._client: AmoClient | None = None
        self._cache: dict[str, Any] = {}

    @property
    def client(self) -> AmoClient:
        with self._lock:
            if self._client is None:
                client = self._make_client()
                self._cache["account"] = fetch_account(client)
                # the data folder must hold this account before anything is loaded (pipelines/amocrm/origin.py)
                origin.claim(self._cache["account"], client.base_url, embedded.is_embedded(client.base_url),
                             key=self.account_key)
                self._client = client
            return self._client

    def cached(self, key: str, fetch: Callable[[AmoClient], Any]) -> Any:
        """`fetch(client)`, once per session: a list two resources are made from is read once."""
        client = self.client
        with self._lock:
            if key not in self._cache:
                self._cache[key] = fetch(client)
            return self._cache[key]

    def account(self) -> dict[str, Any]:
        return self.cached("account", fetch_account)

    def filters_enabled(self) -> bool:
        return self.account().get("is_api_filter_enabled") is not False

    def now(self) -> int | None:
        """The server's clock, to cut scans into slices (correctness never depends on it)."""
        self.account()
        server_time = self.client.server_time
        return int(server_time) - 1 if server_time else None
