"""Account profiles: the default account stays byte-identical, and a profile changes only what it names."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sim_support import NOW

from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator.api import Api
from pipelines.simulator.lead_paths import next_month_start
from pipelines.simulator.reference import DEFAULT_PROFILE

BASE = "http://sim.test"
ACCOUNT_WITH = "with=task_types,users_groups,datetime_settings,is_api_filter_enabled"


def _digest(value) -> str:
    if isinstance(value, pd.DataFrame):
        text = value.to_csv(index=False)
    elif isinstance(value, bytes):
        text = value.decode()
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _served(account: SimulatedAccount) -> dict[str, str]:
    """Digests of served answers and truth frames that carry the account's id, timezone or month ends."""
    api, at = Api(account), account.now
    truth = account.truth()
    return {
        "account": _digest(api.get("/api/v4/account", ACCOUNT_WITH, at, BASE).body),
        "leads_page": _digest(api.get("/api/v4/leads", "with=contacts,loss_reason,source_id&limit=250", at,
                                      BASE).body),
        "pipelines": _digest(api.get("/api/v4/leads/pipelines", "", at, BASE).body),
        "contacts_page": _digest(api.get("/api/v4/contacts", "with=leads&limit=250", at, BASE).body),
        "companies_page": _digest(api.get("/api/v4/companies", "with=leads,contacts", at, BASE).body),
        "notes_page": _digest(api.get("/api/v4/leads/notes", "limit=250", at, BASE).body),
        "tasks_page": _digest(api.get("/api/v4/tasks", "limit=50", at, BASE).body),
        "events_page": _digest(api.get("/api/v4/events", "limit=100", at, BASE).body),
        "truth_account": _digest(truth.account),
        "truth_leads": _digest(truth.leads),
        "truth_status_history": _digest(truth.status_history),
    }


# Taken on the code before accounts had profiles: the default account must serve exactly this.
DEFAULT_SNAPSHOT = {
    "account": "3b2984ff9cb8c869", "leads_page": "665cf812b2dd8237", "pipelines": "34219c74c0c4b360",
    "contacts_page": "d69adf2f53d014d6", "companies_page": "7d84e697196964f3", "notes_page": "2ac78e946d3d122d",
    "tasks_page": "2a770f80e6bf1a8a", "events_page": "e7a133ee9b3573af", "truth_account": "a75bc04242a2bdfb",
    "truth_leads": "15ec9bfbd7fdf1a8", "truth_status_history": "f6db2c003d7e72af",
}


def test_the_default_account_is_served_byte_identical():
    account = SimulatedAccount.generate(seed=5, leads=120, now=NOW)
    assert _served(account) == DEFAULT_SNAPSHOT


ENTITIES = ("leads", "contacts", "companies", "tasks", "notes_leads", "notes_contacts", "events",
            "leads_deleted", "pipelines")


def _jwt_claims(token: str) -> dict:
    import base64

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_a_profile_names_the_account_everywhere_it_is_served():
    profile = replace(DEFAULT_PROFILE, account_id=31_500_777, subdomain="kzbranch", name="ТОО «Филиал»",
                      timezone="Asia/Almaty", currency="KZT", currency_symbol="₸", country="KZ")
    account = SimulatedAccount.generate(seed=5, leads=120, now=NOW, profile=profile)
    served = json.loads(Api(account).get("/api/v4/account", ACCOUNT_WITH, NOW, BASE).body)
    assert {k: served[k] for k in ("id", "name", "subdomain", "currency", "currency_symbol", "country")} == {
        "id": 31_500_777, "name": "ТОО «Филиал»", "subdomain": "kzbranch", "currency": "KZT",
        "currency_symbol": "₸", "country": "KZ"}
    settings = served["_embedded"]["datetime_settings"]
    expected_offset = datetime.fromtimestamp(NOW, ZoneInfo("Asia/Almaty")).strftime("%z")
    assert settings["timezone"] == "Asia/Almaty"
    assert settings["timezone_offset"] == f"{expected_offset[:3]}:{expected_offset[3:]}" != "+03:00"
    assert account.truth().account == {"id": 31_500_777, "name": "ТОО «Филиал»", "subdomain": "kzbranch",
                                       "currency": "KZT", "currency_symbol": "₸", "timezone": "Asia/Almaty",
                                       "language": "ru"}
    for entity in ENTITIES:
        records = list(account.api_records(entity))
        assert records, entity
        ids = {r["account_id"] for r in records}
        if entity == "pipelines":
            ids |= {s["account_id"] for r in records for s in r["_embedded"]["statuses"]}
        assert ids == {31_500_777}, entity
    with Simulator(account, rate_limit=None) as sim:
        assert _jwt_claims(sim.long_lived_token)["account_id"] == 31_500_777


def test_the_timezone_offset_follows_dst_at_the_served_instant():
    profile = replace(DEFAULT_PROFILE, timezone="Europe/Berlin", currency="EUR", currency_symbol="€")
    account = SimulatedAccount.generate(seed=5, leads=60, now=NOW, profile=profile)  # NOW is in September

    def offset(at: int) -> str:
        body = json.loads(Api(account).get("/api/v4/account", "with=datetime_settings", at, BASE).body)
        return body["_embedded"]["datetime_settings"]["timezone_offset"]

    assert offset(NOW) == "+02:00"
    assert offset(NOW + 60 * 86_400) == "+01:00"  # November: winter time


def test_month_starts_follow_the_zone_on_both_sides_of_dst():
    berlin = ZoneInfo("Europe/Berlin")
    july, december = datetime(2026, 7, 15, tzinfo=berlin), datetime(2026, 12, 15, tzinfo=berlin)
    starts = next_month_start(np.array([int(july.timestamp()), int(december.timestamp())]), berlin)
    assert [datetime.fromtimestamp(t, timezone.utc).isoformat() for t in starts] == [
        "2026-07-31T22:00:00+00:00", "2026-12-31T23:00:00+00:00"]  # 00:00 CEST on 1 Aug, 00:00 CET on 1 Jan


@pytest.mark.parametrize("zone", ["Asia/Almaty", "America/New_York"])
def test_planted_month_end_wins_fall_in_the_accounts_own_timezone(zone):
    profile = replace(DEFAULT_PROFILE, timezone=zone)
    own = _boundary_wins(SimulatedAccount.generate(seed=9, leads=400, now=NOW, profile=profile), zone)
    moscow = _boundary_wins(SimulatedAccount.generate(seed=9, leads=400, now=NOW), "Europe/Moscow")
    assert own["late"] >= 1 and own["early"] >= 1, own
    # the same seed plants the same leads; each account's boundary is its own midnight
    assert set(own["ids"]) == set(moscow["ids"])
    shifts = {(own["closed"][i] - moscow["closed"][i]) % 86_400 for i in own["ids"]}
    moscow_ahead = 3 * 3600 - datetime.fromtimestamp(NOW, ZoneInfo(zone)).utcoffset().total_seconds()
    assert shifts <= {moscow_ahead % 86_400, (moscow_ahead + 3600) % 86_400}, shifts  # +1 h: a DST month


def _boundary_wins(account: SimulatedAccount, zone: str) -> dict:
    leads = account.truth().leads
    won = leads[(leads.status_id == 142) & leads.closed_at.notna()]
    local = pd.to_datetime(won.closed_at.astype("int64"), unit="s", utc=True).dt.tz_convert(zone)
    late = local.dt.is_month_end & (local.dt.hour == 23) & (local.dt.minute >= 30)
    early = (local.dt.day == 1) & (local.dt.hour == 0) & (local.dt.minute < 30)
    near = won[(late | early).to_numpy()]
    return {"late": int(late.sum()), "early": int(early.sum()), "ids": list(near.id),
            "closed": dict(zip(won.id, won.closed_at.astype("int64")))}
