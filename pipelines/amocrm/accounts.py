"""Which amoCRM accounts are configured, each read by its exact config path, never a neighbour's.

`[sources.amocrm]` (env `SOURCES__AMOCRM__*`) is the account `default`, as it always was;
`[sources.amocrm.accounts.<key>]` (env `SOURCES__AMOCRM__ACCOUNTS__<KEY>__*`) names more. A named
account's keys are read by their full path only: dlt's section lookup would fall back to the shorter
`sources.amocrm.*` path and give one account another's token without a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

import dlt

from pipelines.amocrm import settings
from pipelines.amocrm.connect import configured_values
from pipelines.amocrm.settings import ACCOUNTS_SECTION, CONNECTION_KEYS, DEFAULT_ACCOUNT, SECTION, SettingsError


@dataclass(frozen=True)
class AccountSettings:
    """One configured account: its key, its connection values (secrets inside: never print them) and
    its mode ("token", "oauth", or None for the embedded simulator)."""

    key: str
    values: dict[str, Any]
    mode: Optional[str]

    @property
    def section(self) -> str:
        return SECTION if self.key == DEFAULT_ACCOUNT else f"{ACCOUNTS_SECTION}.{self.key}"

    @property
    def base_url(self) -> Optional[str]:
        return None if self.mode is None else str(self.values["base_url"])


def account_keys(found: settings.Found) -> list[str]:
    """`default` first when `[sources.amocrm]` holds connection keys (or nothing is set at all: the
    embedded simulator), then the named accounts in name order."""
    named = sorted(found.accounts)
    return ([DEFAULT_ACCOUNT] if found.present or not named else []) + named


def configured_accounts(found: Optional[settings.Found] = None) -> list[AccountSettings]:
    """Every configured account, checked: `SettingsError` for a partial account or two keys on one host."""
    found = settings.inspect() if found is None else found
    if found.bad_accounts:  # an account the user meant to add must not be skipped without a word
        raise SettingsError("amoCRM account settings name no valid account, so nothing was extracted:\n"
                            + "\n".join(f"  {problem}" for problem in found.bad_accounts))
    accounts = []
    for key in account_keys(found):
        values = configured_values() if key == DEFAULT_ACCOUNT else _named_values(key)
        checked = found if key == DEFAULT_ACCOUNT else found.account(key)
        mode = settings.require(*(values[k] for k in CONNECTION_KEYS[:5]), found=checked, account=key)
        accounts.append(AccountSettings(key, values, mode))
    _refuse_shared_hosts(accounts)
    return accounts


def the_account(found: Optional[settings.Found] = None) -> AccountSettings:
    """The one account a single-account path extracts (Dagster, `make demo`, the CLI without `--account`).
    Several are refused, loudly, never one picked without a word: the CLI's `--account KEY`/`--all` loads them."""
    accounts = configured_accounts(found)
    if len(accounts) > 1:
        keys = ", ".join(account.key for account in accounts)
        raise SettingsError(
            f"{len(accounts)} amoCRM accounts are configured ({keys}), so nothing was extracted: this path "
            f"extracts one account. `make demo` extracts every account, then builds their marts (in Dagster: "
            f"the schedule amocrm_daily_schedule, or a run of amocrm_extract_account per account, then "
            f"amocrm_transform); `python -m pipelines.amocrm --all` (or `--account KEY`) loads each into the "
            f"shared warehouse; or keep one account's settings.")
    return accounts[0]


def account(key: str, found: Optional[settings.Found] = None) -> AccountSettings:
    """The configured account `key`; `SettingsError` naming the configured keys when there is none."""
    accounts = {a.key: a for a in configured_accounts(found)}
    if key not in accounts:
        raise SettingsError(f"no amoCRM account '{key}' is configured (configured: {', '.join(accounts)}); "
                            f"add [{ACCOUNTS_SECTION}.{key}] (env SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__BASE_URL, ...)")
    return accounts[key]


def pipeline_name(key: str) -> str:
    """Each account its own dlt pipeline (own cursors and state): `amocrm` for `default` (the legacy
    name, so a warehouse loaded before named accounts keeps its state), `amocrm_<key>` otherwise."""
    return "amocrm" if key == DEFAULT_ACCOUNT else f"amocrm_{key}"


def key_of_pipeline(name: str) -> str:
    return DEFAULT_ACCOUNT if name == "amocrm" else name.removeprefix("amocrm_")


def source_arguments(chosen: Optional[AccountSettings] = None) -> dict[str, Any]:
    """Arguments for `amocrm_source` beyond what dlt injects from `[sources.amocrm]`: the account key and a
    named account's connection values (the default account's are injected by dlt itself). A named account's
    unset credentials are passed empty, not left out: dlt would inject the default account's instead."""
    chosen = chosen or the_account()
    if chosen.key == DEFAULT_ACCOUNT:
        return {"account_key": DEFAULT_ACCOUNT}
    values = {k: ("" if v is None and k in CONNECTION_KEYS else v) for k, v in chosen.values.items()}
    return {**values, "account_key": chosen.key}


def _named_values(key: str) -> dict[str, Any]:
    path = f"{ACCOUNTS_SECTION}.{key}"
    values: dict[str, Any] = {name: dlt.config.get(f"{path}.{name}") for name in CONNECTION_KEYS}
    for name, default in (("requests_per_second", 7.0), ("max_retries", 8)):
        given = dlt.config.get(f"{path}.{name}")
        if given is None:  # tuning may fall back to [sources.amocrm], unlike credentials
            given = dlt.config.get(f"{SECTION}.{name}")
        values[name] = type(default)(given) if given is not None else default
    return values


def _refuse_shared_hosts(accounts: list[AccountSettings]) -> None:
    """Two keys on one amoCRM host would extract one account twice under two names (a port tells
    accounts apart: the simulator serves one account per port)."""
    seen: dict[str, str] = {}
    for account in accounts:
        if account.base_url is None:
            continue
        parts = urlsplit(account.base_url)
        host = (parts.hostname or account.base_url).lower() + (f":{parts.port}" if parts.port else "")
        if host in seen:
            raise SettingsError(f"amoCRM accounts '{seen[host]}' and '{account.key}' both point at {host}; "
                                f"each account needs its own base_url, so nothing was extracted.")
        seen[host] = account.key
