"""Account profiles: the default account stays byte-identical, and a profile changes only what it names."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from sim_support import NOW

from pipelines.simulator import SimulatedAccount
from pipelines.simulator.api import Api

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
    "account": "3b2984ff9cb8c869", "leads_page": "717ee5ba240ac642", "pipelines": "34219c74c0c4b360",
    "contacts_page": "34eb370b2a255523", "companies_page": "6604308dda0f3f56", "notes_page": "f62268504de38684",
    "tasks_page": "facda2c45a5bc61f", "events_page": "0218b09616ea382e", "truth_account": "a75bc04242a2bdfb",
    "truth_leads": "15ec9bfbd7fdf1a8", "truth_status_history": "f6db2c003d7e72af",
}


def test_the_default_account_is_served_byte_identical():
    account = SimulatedAccount.generate(seed=5, leads=120, now=NOW)
    assert _served(account) == DEFAULT_SNAPSHOT
