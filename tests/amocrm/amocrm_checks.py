"""Helpers for the extractor tests: run it against a simulator, read the warehouse, compare with the truth."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from pipelines import paths
from pipelines.amocrm import run_extraction
from pipelines.amocrm.client import AmoError
from pipelines.amocrm.run import Summary
from pipelines.simulator import Simulator

NOW = 1_790_000_000  # a fixed moment: tests do not depend on the day they run

FAST = {"requests_per_second": 1000.0, "workers": 3}


def extract(sim: Simulator, **settings: Any) -> Summary:
    return run_extraction(base_url=sim.base_url, access_token=sim.long_lived_token, **{**FAST, **settings})


def amo_error(exc_info) -> AmoError:
    """The AmoError behind dlt's wrapping exceptions (`exc_info` from `pytest.raises`)."""
    exc = exc_info.value
    while exc is not None and not isinstance(exc, AmoError):
        exc = exc.__cause__ or exc.__context__
    assert exc is not None, f"no AmoError behind {exc_info.value!r}"
    return exc


def table(name: str, account_id: int | None = None) -> pd.DataFrame:
    """Raw table `name`; only account `account_id`'s rows when given (several accounts share raw)."""
    where = "" if account_id is None else f" WHERE account_id = {int(account_id)}"
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.sql(f"SELECT * FROM raw_amocrm.{name}{where}").df()


def incremental_rows(summary: Summary) -> dict[str, int]:
    """Rows loaded into the incremental tables (reference lists are replaced every run by design)."""
    prefixes = ("leads", "contacts", "companies", "events", "notes", "tasks", "deletions")
    return {t: n for t, n in summary.rows.items() if t.startswith(prefixes) and n}


def _none(value: Any) -> Any:
    return None if pd.isna(value) else value


def _ints(series: pd.Series) -> list:
    return [None if pd.isna(v) else int(v) for v in series]


def assert_matches_truth(truth: Any, *, stale_links: bool = False, account_id: int | None = None) -> None:
    """The warehouse equals the simulator's ground truth, entity by entity, value by value.

    `stale_links`: after incremental runs, links to a company/contact deleted later are
    not in the API's view of an unchanged lead any more, but stay in raw (see design §3).
    `account_id`: compare only that account's rows (a warehouse holding several accounts).
    """
    leads = table("leads", account_id).set_index("id").sort_index()
    expected = truth.leads.set_index("id").sort_index()
    assert list(leads.index) == list(expected.index)
    assert _ints(leads["is_deleted"].astype(int)) == _ints(expected["is_deleted"].astype(int))
    assert _ints(leads["deleted_at"]) == _ints(expected["deleted_at"])
    seen = leads[leads["updated_at"].notna()].index  # not the stubs of leads deleted before the first load
    assert len(seen) >= len(expected) - expected["is_deleted"].sum()
    for column in ("price", "pipeline_id", "status_id", "responsible_user_id", "group_id", "created_by",
                   "updated_by", "created_at", "updated_at", "closed_at", "loss_reason_id", "source_id"):
        assert _ints(leads.loc[seen, column]) == _ints(expected.loc[seen, column]), column
    assert list(leads.loc[seen, "name"]) == list(expected.loc[seen, "name"])
    assert [_none(v) for v in leads.loc[seen, "source_name"]] == [_none(v) for v in expected.loc[seen, "source_name"]]
    live = expected[~expected["is_deleted"]].index
    if not stale_links:
        assert _ints(leads.loc[live, "company_id"]) == _ints(expected.loc[live, "company_id"])
        links = table("leads__contacts", account_id)
        links = links[links["lead_id"].isin(live)]
        want = truth.lead_contacts[truth.lead_contacts["lead_id"].isin(live)]
        assert sorted(zip(links.lead_id, links.contact_id, links.is_main)) == sorted(
            zip(want.lead_id, want.contact_id, want.is_main))
    cfv = table("leads__custom_field_values", account_id)
    utm = dict(cfv[cfv["field_name"] == "utm_source"][["lead_id", "value"]].itertuples(index=False))
    assert {i: utm.get(i) for i in live} == {i: _none(expected.at[i, "utm_source"]) for i in live}

    for name in ("contacts", "companies"):
        got, want = table(name, account_id).set_index("id").sort_index(), getattr(truth, name).set_index("id").sort_index()
        assert list(got.index) == list(want.index), name
        assert _ints(got["is_deleted"].astype(int)) == _ints(want["is_deleted"].astype(int)), name
        assert _ints(got["deleted_at"]) == _ints(want["deleted_at"]), name
        seen = got[got["updated_at"].notna()].index
        for column in ("updated_at", "created_at", "responsible_user_id", "group_id"):
            assert _ints(got.loc[seen, column]) == _ints(want.loc[seen, column]), (name, column)
        assert list(got.loc[seen, "name"]) == list(want.loc[seen, "name"]), name

    events, want = table("events", account_id).set_index("id").sort_index(), truth.events.set_index("id").sort_index()
    assert list(events.index) == list(want.index)
    assert list(events["type"]) == list(want["type"])
    # a chat event read while its lead lived names the lead; amoCRM names the talk's contact once the
    # lead is deleted (the simulator's chats.py), and events are read once
    read_on_lead = (want["type"].str.endswith("_chat_message") & (events["entity_type"] == "lead")
                    & (events["entity_id"].astype("Int64") == want["talk_lead_id"]).fillna(False))
    assert list(events.loc[~read_on_lead, "entity_type"]) == list(want.loc[~read_on_lead, "entity_type"])
    assert _ints(events.loc[~read_on_lead, "entity_id"]) == _ints(want.loc[~read_on_lead, "entity_id"])
    for column in ("created_by", "created_at"):
        assert _ints(events[column]) == _ints(want[column])
    assert [json.loads(v) for v in events["value_after_json"]] == list(want["value_after"])
    assert [json.loads(v) for v in events["value_before_json"]] == list(want["value_before"])

    notes, want = table("notes", account_id).set_index("id").sort_index(), truth.notes.set_index("id").sort_index()
    assert list(notes.index) == list(want.index)
    for column in ("entity_type", "note_type"):
        assert list(notes[column]) == list(want[column])
    for column in ("entity_id", "created_by", "responsible_user_id", "created_at", "updated_at"):
        assert _ints(notes[column]) == _ints(want[column])
    assert [json.loads(v) for v in notes["params_json"]] == list(want["params"])

    tasks, want = table("tasks", account_id).set_index("id").sort_index(), truth.tasks.set_index("id").sort_index()
    assert list(tasks.index) == list(want.index)
    for column in ("entity_id", "task_type_id", "responsible_user_id", "created_by", "created_at", "updated_at",
                   "complete_till"):
        assert _ints(tasks[column]) == _ints(want[column]), column
    assert list(tasks["entity_type"]) == list(want["entity_type"])
    assert list(tasks["is_completed"]) == list(want["is_completed"])
    assert [_none(v) for v in tasks["result_text"]] == [_none(v) for v in want["result_text"]]
