"""Several simulated accounts: their config keys and derived profiles, and the command line's account specs.

Account n (1-based) of a set gets id `29_000_000 + n`, subdomain `simulated` (n = 1, so the first
account is the default one) or `simulatedN`, and a timezone and currency from `ZONES`, so that
`--accounts 2` already gives two accounts that differ in both. Lead, contact... ids are the same
ranges in every account: overlapping ids are what a many-account warehouse must keep apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .reference import DEFAULT_PROFILE, AccountProfile

# The accounts' config key, as the extractor reads it (`[sources.amocrm.accounts.<key>]`); `default` is the
# top-level `[sources.amocrm]` account and cannot be a named one.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
RESERVED_KEYS = ("default",)

# (timezone, currency) of account 1, 2, ... (cycling): none of these zones has DST today.
ZONES = (("Europe/Moscow", "RUB"), ("Asia/Almaty", "KZT"), ("Asia/Yekaterinburg", "USD"),
         ("Europe/Kaliningrad", "EUR"))
# currency -> (symbol, country) as the account JSON shows them
CURRENCIES = {"RUB": ("₽", "RU"), "KZT": ("₸", "KZ"), "BYN": ("Br", "BY"), "UZS": ("сўм", "UZ"),
              "USD": ("$", "US"), "EUR": ("€", "DE")}


@dataclass(frozen=True)
class AccountSpec:
    """One account to serve: its config key, generator seed and size, and profile."""

    key: str
    seed: int
    leads: int
    profile: AccountProfile


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key) or "__" in key:
        raise ValueError(f"account key {key!r}: use 1-31 lower-case letters, digits or '_' (no '__'), "
                         "starting with a letter, e.g. 'acme'")
    if key in RESERVED_KEYS:
        raise ValueError(f"account key {key!r} is reserved for the top-level [sources.amocrm] account; "
                         "pick another name")
    return key


def derived_profile(number: int, timezone: str | None = None, currency: str | None = None) -> AccountProfile:
    """The profile of account `number` (1-based) of a set; `timezone` / `currency` override the derived ones."""
    if number < 1:
        raise ValueError(f"account numbers start at 1, got {number}")
    zone, money = ZONES[(number - 1) % len(ZONES)]
    currency = (currency or money).upper()
    if currency not in CURRENCIES:
        raise ValueError(f"currency {currency!r} is not one the simulator knows; use one of "
                         f"{', '.join(CURRENCIES)}")
    symbol, country = CURRENCIES[currency]
    suffix = "" if number == 1 else str(number)
    return replace(DEFAULT_PROFILE, account_id=DEFAULT_PROFILE.account_id + number - 1,
                   subdomain=f"{DEFAULT_PROFILE.subdomain}{suffix}",
                   name=DEFAULT_PROFILE.name if number == 1 else f"ООО «Симулятор {number}»",
                   timezone=timezone or zone, currency=currency, currency_symbol=symbol, country=country)


def derived_specs(count: int, seed: int, leads: int) -> list[AccountSpec]:
    """`count` accounts `acc1`, `acc2`, ...: seeds `seed`, `seed + 1`, ..., `leads` leads each."""
    if count < 1:
        raise ValueError(f"--accounts must be at least 1, got {count}")
    return [AccountSpec(f"acc{n}", seed + n - 1, leads, derived_profile(n)) for n in range(1, count + 1)]


def parse_spec(text: str, number: int, seed: int, leads: int) -> AccountSpec:
    """`key:seed:leads:timezone:currency` (empty fields take the derived values) as account `number` of a set."""
    parts = text.split(":")
    if len(parts) > 5 or not parts[0]:
        raise ValueError(f"--account {text!r}: expected key[:seed[:leads[:timezone[:currency]]]], "
                         "e.g. acme:7:500:Asia/Almaty:KZT")
    key, seed_text, leads_text, zone, currency = (parts + [""] * 5)[:5]
    try:
        seed_value = int(seed_text) if seed_text else seed + number - 1
        leads_value = int(leads_text) if leads_text else leads
    except ValueError:
        raise ValueError(f"--account {text!r}: seed and leads must be whole numbers") from None
    if leads_value < 1:
        raise ValueError(f"--account {text!r}: leads must be at least 1")
    try:
        return AccountSpec(check_key(key), seed_value, leads_value, derived_profile(number, zone or None,
                                                                                  currency or None))
    except ValueError as exc:
        raise ValueError(f"--account {text!r}: {exc}") from None
