"""Which amoCRM account to read: a configured one, or the embedded simulator, never a guess.

The embedded simulator is the default only when *no* amoCRM setting exists at
all (env vars, `.dlt/secrets.toml`, `.dlt/config.toml`). A token without a URL,
a misspelled name (`SOURCES__AMOCRM__BASEURL`, `AMOCRM_BASE_URL`, `[amocrm]`...)
or a half-configured OAuth2 would otherwise publish the simulator's numbers as
if they were the account's, so each is a `SettingsError` that lists the names
that are set (never their values), what is missing, and the accepted names.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from pipelines.amocrm.client import AmoError

log = logging.getLogger(__name__)

CONNECTION_KEYS = ("base_url", "access_token", "client_id", "client_secret", "redirect_uri", "refresh_token")
TUNING_KEYS = ("requests_per_second", "workers", "page_size", "events_page_size", "overlap_seconds", "max_retries")
OAUTH_KEYS = ("client_id", "client_secret", "redirect_uri")
ENV_PREFIX = "SOURCES__AMOCRM__"
SECTION = "sources.amocrm"
ACCOUNTS_ENV_PREFIX = ENV_PREFIX + "ACCOUNTS__"
ACCOUNTS_SECTION = SECTION + ".accounts"
DEFAULT_ACCOUNT = "default"  # the account of [sources.amocrm] itself
ACCOUNT_KEY = re.compile(r"[a-z][a-z0-9_]{0,30}")
KEY_RULE = "lower-case letters, digits and _, starting with a letter, at most 31 characters, no __"
_AMO_NAME = re.compile(r"AMOCRM|KOMMO|(^|_)AMO(_|$)")

ACCEPTED = (
    f"base_url plus access_token (a long-lived token), or base_url plus {', '.join(OAUTH_KEYS)} "
    f"(and refresh_token for the first run): keys of [{SECTION}] in .dlt/secrets.toml, or env vars "
    f"{ENV_PREFIX}BASE_URL, {ENV_PREFIX}ACCESS_TOKEN, {ENV_PREFIX}CLIENT_ID, ... (see .dlt/secrets.toml.example)"
)


class SettingsError(AmoError):
    """The amoCRM settings are incomplete or misspelled: a configuration mistake, not retried."""

    retryable = False  # read by the extract asset's retry decision


@dataclass
class Found:
    """What an inspection of the environment and the TOML files saw (names and places, never values)."""

    present: dict[str, list[str]] = field(default_factory=dict)  # connection key -> where it is set
    empty: set[str] = field(default_factory=set)  # connection keys set to an empty value
    near_misses: list[str] = field(default_factory=list)  # "NAME (where): hint"
    accounts: dict[str, "Found"] = field(default_factory=dict)  # named account key -> what is set for it
    bad_accounts: list[str] = field(default_factory=list)  # "NAME (where): why it names no account"

    @property
    def anything(self) -> bool:
        return bool(self.present or self.near_misses or self.bad_accounts
                    or any(a.anything for a in self.accounts.values()))

    def account(self, key: str) -> "Found":
        """What is set for one named account (`[sources.amocrm.accounts.<key>]`); near misses are shared."""
        return Found(self.accounts[key].present, self.accounts[key].empty, self.near_misses)


def inspect(environ: Optional[Mapping[str, str]] = None, toml_files: Optional[Iterable[Path]] = None) -> Found:
    """Every amoCRM setting, or anything that looks like one, in the environment and the TOML files."""
    found = Found()
    environ = os.environ if environ is None else environ
    for name, value in environ.items():
        _inspect_env(found, name.upper(), value)
    for path in toml_files if toml_files is not None else settings_files():
        if path.is_file():
            _inspect_toml(found, path)
    return found


def settings_files() -> list[Path]:
    """The TOML files dlt reads (project `.dlt/` of the working directory, and dlt's global folder)."""
    import dlt

    context = dlt.current.run_context()
    return [Path(folder) / name for folder in (context.settings_dir, context.global_dir)
            for name in ("secrets.toml", "config.toml")]


def simulated_by_default() -> bool:
    """True when nothing amoCRM-like is configured: the embedded simulator is the account."""
    return not inspect().anything


def require(base_url: Any, access_token: Any, client_id: Any, client_secret: Any, redirect_uri: Any,
            found: Optional[Found] = None, account: str = DEFAULT_ACCOUNT) -> Optional[str]:
    """Check the resolved values: None = use the embedded simulator, else "token" or "oauth".

    Raises `SettingsError` for anything partial or misspelled (the URL's form is the client's to check).
    `account` names a `[sources.amocrm.accounts.<key>]` account: it is never the simulator."""
    found = inspect() if found is None else found
    values = {"base_url": base_url, "access_token": access_token, "client_id": client_id,
              "client_secret": client_secret, "redirect_uri": redirect_uri}
    given = {key for key, value in values.items() if value}
    if not given and not found.anything and account == DEFAULT_ACCOUNT:
        return None
    missing: list[str] = []
    if "base_url" not in given:
        missing.append("base_url")
    mode = "token" if "access_token" in given else "oauth"
    if mode == "oauth":
        oauth_missing = [key for key in OAUTH_KEYS if key not in given]
        if len(oauth_missing) == len(OAUTH_KEYS):
            missing.append("access_token (or the OAuth2 keys " + ", ".join(OAUTH_KEYS) + ")")
        else:
            missing += oauth_missing
    if missing:
        problem = ("amoCRM is only partly configured" if account == DEFAULT_ACCOUNT
                   else f"amoCRM account '{account}' ([{ACCOUNTS_SECTION}.{account}]) is only partly configured")
        raise SettingsError(_message(problem, found, missing, account))
    if found.near_misses:
        log.warning("amoCRM settings complete, but these names are not used: %s", "; ".join(found.near_misses))
    return mode


def describe(found: Found, missing: Iterable[str] = ()) -> str:
    """Set / missing / not recognised, as lines for a person."""
    lines = []
    if found.present:
        lines.append("  set: " + ", ".join(f"{key} ({' and '.join(where)})"
                                           for key, where in sorted(found.present.items())))
    if found.empty:
        lines.append("  set but empty: " + ", ".join(sorted(found.empty)))
    if missing:
        lines.append("  missing: " + ", ".join(missing))
    lines += [f"  not recognised: {miss}" for miss in found.near_misses]
    return "\n".join(lines)


def _message(problem: str, found: Found, missing: Iterable[str], account: str = DEFAULT_ACCOUNT) -> str:
    accepted = ACCEPTED if account == DEFAULT_ACCOUNT else (
        f"the same keys in [{ACCOUNTS_SECTION}.{account}] of .dlt/secrets.toml, or env vars "
        f"{ACCOUNTS_ENV_PREFIX}{account.upper()}__BASE_URL, {ACCOUNTS_ENV_PREFIX}{account.upper()}__ACCESS_TOKEN, ...")
    return (f"{problem}, so nothing was extracted (the simulated demo account is used only when no amoCRM "
            f"setting exists at all):\n{describe(found, missing)}\n  accepted: {accepted}")


def _add(found: Found, key: str, where: str, value: Any) -> None:
    found.present.setdefault(key, []).append(where)
    if value in ("", None):
        found.empty.add(key)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else "not an amoCRM setting this project reads"


def _account_key_problem(key: str) -> Optional[str]:
    """Why `key` cannot name an account, or None when it can."""
    if key == DEFAULT_ACCOUNT:
        return f"'{DEFAULT_ACCOUNT}' is the account of [{SECTION}] itself: set its keys there"
    if not ACCOUNT_KEY.fullmatch(key) or "__" in key:
        return f"'{key}' is not a valid account key ({KEY_RULE})"
    return None


def _add_account_key(found: Found, key: str, setting: str, where: str, value: Any, accepted: list[str]) -> None:
    """One `accounts.<key>.<setting>` name: recorded under its account, or a near miss saying why not."""
    problem = _account_key_problem(key)
    if problem:
        found.bad_accounts.append(f"{where}: {problem}")
    elif setting in CONNECTION_KEYS:
        _add(found.accounts.setdefault(key, Found()), setting, where, value)
    elif setting not in TUNING_KEYS:
        found.near_misses.append(f"{where}: {_suggest(setting, accepted)}")


def _inspect_env(found: Found, name: str, value: str) -> None:
    accepted_env = [ENV_PREFIX + key.upper() for key in CONNECTION_KEYS + TUNING_KEYS]
    if name.startswith(ACCOUNTS_ENV_PREFIX):
        key, sep, setting = name.removeprefix(ACCOUNTS_ENV_PREFIX).partition("__")
        if not sep or "__" in setting:
            found.bad_accounts.append(f"{name} (env): name an account's setting "
                                     f"{ACCOUNTS_ENV_PREFIX}<KEY>__<SETTING>, e.g. {ACCOUNTS_ENV_PREFIX}ACME__BASE_URL")
        else:
            _add_account_key(found, key.lower(), setting.lower(), f"{name} (env)", value,
                             [key.lower() for key in CONNECTION_KEYS + TUNING_KEYS])
    elif name.startswith(ENV_PREFIX):
        key = name.removeprefix(ENV_PREFIX).lower()
        if key in CONNECTION_KEYS:
            _add(found, key, name, value)
        elif key not in TUNING_KEYS:
            found.near_misses.append(f"{name} (env): {_suggest(name, accepted_env)}")
    elif name in {key.upper() for key in CONNECTION_KEYS} or name in {f"SOURCES__{k.upper()}" for k in CONNECTION_KEYS}:
        # dlt would read these as the source's own keys: too easy to pick up by accident
        found.near_misses.append(f"{name} (env): too generic, name it {ENV_PREFIX}{name.split('__')[-1]}")
    elif _AMO_NAME.search(name) and not (name.startswith("AMOCRM_KPI_")
                                         and name.removeprefix("AMOCRM_KPI_").lower() not in CONNECTION_KEYS):
        found.near_misses.append(f"{name} (env): {_suggest(name, accepted_env)}")


def _inspect_toml(found: Found, path: Path) -> None:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read as TOML: {exc}") from None
    accepted = [f"{SECTION}.{key}" for key in CONNECTION_KEYS + TUNING_KEYS]
    for dotted, value in _flatten(doc):
        where = f"{path.parent.name}/{path.name}"
        section, _, key = dotted.rpartition(".")
        if section.startswith(ACCOUNTS_SECTION + "."):
            account = section.removeprefix(ACCOUNTS_SECTION + ".")
            _add_account_key(found, account, key, f"{dotted} ({where})", value, list(CONNECTION_KEYS + TUNING_KEYS))
        elif section == SECTION and key in CONNECTION_KEYS:
            _add(found, key, f"{where} [{SECTION}]", value)
        elif section == SECTION and key in TUNING_KEYS:
            continue
        elif section in ("", "sources") and key in CONNECTION_KEYS:
            found.near_misses.append(f"{dotted} ({where}): outside [{SECTION}], put it there")
        elif _AMO_NAME.search(dotted.upper()):
            found.near_misses.append(f"{dotted} ({where}): {_suggest(dotted, accepted)}")


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value
