"""An `AmoClient` from the same dlt configuration the source uses (`[sources.amocrm]`).

No amoCRM setting at all = the embedded simulator, exactly as for the source;
anything partial or misspelled is a `SettingsError` (pipelines/amocrm/settings.py).
"""

from __future__ import annotations

from typing import Any, Optional

from dlt.common.configuration import with_config
from dlt.common.typing import TSecretStrValue

from pipelines import paths
from pipelines.amocrm import settings
from pipelines.amocrm.auth import LongLivedToken, OAuth2Token
from pipelines.amocrm.client import AmoClient, RateLimiter, RequestStats


def connect(
    base_url: Optional[str] = None,
    access_token: Optional[str] = None,
    client_id: Optional[str] = None,
    client_secret: Optional[str] = None,
    redirect_uri: Optional[str] = None,
    refresh_token: Optional[str] = None,
    requests_per_second: float = 7.0,
    max_retries: int = 8,
    stats: Optional[RequestStats] = None,
    account_key: str = settings.DEFAULT_ACCOUNT,
) -> AmoClient:
    """A client for the configured account: long-lived token, or OAuth2 with the rotating token store
    of account `account_key` (`paths.tokens_path(key)`: each account rotates its own pair)."""
    mode = settings.require(base_url, access_token, client_id, client_secret, redirect_uri)
    url, token = base_url, access_token
    if mode is None:
        from pipelines.amocrm import embedded  # the only way in to the simulator

        url, token = embedded.start()
    limiter = RateLimiter(requests_per_second)
    if token:
        auth: Any = LongLivedToken(token)
    else:
        auth = OAuth2Token(url, client_id, client_secret, redirect_uri, refresh_token, paths.tokens_path(account_key),
                           limiter)
    return AmoClient(url, auth, limiter=limiter, stats=stats or RequestStats(), max_retries=max_retries)


@with_config(sections=("sources", "amocrm"))
def configured_values(
    base_url: Optional[str] = None,
    access_token: Optional[TSecretStrValue] = None,
    client_id: Optional[str] = None,
    client_secret: Optional[TSecretStrValue] = None,
    redirect_uri: Optional[str] = None,
    refresh_token: Optional[TSecretStrValue] = None,
    requests_per_second: float = 7.0,
) -> dict[str, Any]:
    """The connection settings as dlt resolves them (`SOURCES__AMOCRM__*`, `.dlt/*.toml`)."""
    return {"base_url": base_url, "access_token": access_token, "client_id": client_id,
            "client_secret": client_secret, "redirect_uri": redirect_uri, "refresh_token": refresh_token,
            "requests_per_second": requests_per_second}


def connect_from_config() -> AmoClient:
    """`connect()` to the configured account (pipelines/amocrm/accounts.py), read from dlt config/secrets."""
    from pipelines.amocrm.accounts import the_account

    account = the_account()
    return connect(**account.values, account_key=account.key)


def configured_target() -> Optional[str]:
    """The configured base URL, or None for the embedded simulator; `SettingsError` before any run starts."""
    from pipelines.amocrm.accounts import the_account

    return the_account().base_url
