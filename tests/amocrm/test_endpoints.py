"""The source's shape and its traffic, pinned by a snapshot taken before the endpoint table refactor.

The snapshot (`endpoints_snapshot.json`) holds every resource's hints (write disposition, keys,
columns, nested tables, incremental cursor) and the requests one full extraction of a small
simulated account sends, then one incremental run after the simulator's clock moved on. Any
change to them is a behaviour change and fails here. Re-record on purpose only, with
`AMOCRM_KPI_UPDATE_SNAPSHOT=1`, and review the diff of the JSON file.

Requests are kept per path (`path?sorted query`), sorted. The extraction runs with one worker:
with several, pages arrive in any order and the task windows are planned from whichever page came
back first. Resources are read side by side (a resource waiting for its page does not hold dlt
from the others), so two lists on one path (leads and deleted leads) interleave by timing: what
was asked is compared, not in which order.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from amocrm_checks import extract
from pipelines.amocrm.endpoints import CURSORS, MERGED_RESOURCES, NESTED, REFERENCE_LISTS, entity
from pipelines.amocrm.source import amocrm_source
from pipelines.simulator import Simulator

SNAPSHOT = Path(__file__).with_name("endpoints_snapshot.json")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def resource_hints() -> dict[str, Any]:
    """Every resource of the source as dlt sees it, in the source's order."""
    source = amocrm_source(base_url="http://127.0.0.1:9", access_token="unused")
    hints = {}
    for name, resource in source.resources.items():
        schema = resource.compute_table_schema()
        nested = resource._hints.get("nested_hints") or {}
        position = inspect.signature(resource._pipe.gen).parameters.get("position")
        cursor = position.default if position is not None else None
        hints[name] = {
            "table_name": resource.table_name,
            "write_disposition": resource.write_disposition,
            "file_format": schema.get("file_format"),
            "primary_key": [c for c, h in schema["columns"].items() if h.get("primary_key")],
            "merge_key": [c for c, h in schema["columns"].items() if h.get("merge_key")],
            "columns": schema["columns"],
            "nested": {child: h.get("columns") for child, h in nested.items()},
            "incremental": None if cursor is None else {
                "cursor_path": cursor.cursor_path, "initial_value": cursor.initial_value, "lag": cursor.lag,
                "last_value_func": getattr(cursor.last_value_func, "__name__", str(cursor.last_value_func))},
        }
    return _jsonable(hints)


def _record_requests(sim: Simulator) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    handle = sim.handle

    def recording(method: str, target: str, headers: Any, body: bytes):
        url = urlsplit(target)
        query = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(url.query, keep_blank_values=True)))
        with lock:
            seen.setdefault(f"{method} {url.path}", []).append(query)
        return handle(method, target, headers, body)

    lock = threading.Lock()

    sim.handle = recording  # the server's handler calls `sim.handle` on every request
    return seen


def extraction_requests(sim: Simulator) -> dict[str, dict[str, list[str]]]:
    """The requests, per path in order, of a first full extraction and of an incremental run two days later."""
    seen = _record_requests(sim)
    runs = {}
    extract(sim, workers=1)
    runs["full"] = dict(sorted(seen.items()))
    seen.clear()
    sim.clock.advance(days=2)
    extract(sim, workers=1)
    runs["incremental"] = dict(sorted(seen.items()))
    return runs


def test_the_source_and_its_requests_equal_the_snapshot(sim):
    current = {"resources": resource_hints(), "requests": extraction_requests(sim)}
    if os.environ.get("AMOCRM_KPI_UPDATE_SNAPSHOT") == "1":
        for run in current["requests"].values():  # resources are read side by side: the order is timing's
            for path in run:
                run[path] = sorted(run[path])
        SNAPSHOT.write_text(json.dumps(current, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert list(current["resources"]) == list(expected["resources"])  # the resources and their order
    for name, hints in expected["resources"].items():
        assert current["resources"][name] == hints, name
    for run, paths in expected["requests"].items():
        got = current["requests"][run]
        assert sorted(got) == sorted(paths), f"{run} run: the paths asked for changed"
        for path, queries in paths.items():
            # Resources are read side by side (a resource waiting for its page does not hold the others), so
            # two lists on one path (leads and deleted leads) interleave by timing: compare what was asked.
            sent, queries = sorted(got[path]), sorted(queries)
            first = next((i for i, (a, b) in enumerate(zip(sent, queries)) if a != b), min(len(sent), len(queries)))
            assert sent == queries, (
                f"{run} run, {path}: {len(sent)} requests, {len(queries)} expected; first difference (sorted) at "
                f"#{first}: sent {sent[first:first + 1]}, expected {queries[first:first + 1]}")


def test_the_lists_derived_from_the_table_are_what_they_were():
    """What run.py, restored.py, reconcile.py and the Dagster checks read, as they were before the table."""
    assert MERGED_RESOURCES == {"leads", "contacts", "companies", "events", "notes", "tasks", "deletions"}
    assert CURSORS == {"leads": "updated_at", "contacts": "updated_at", "companies": "updated_at",
                       "notes": "updated_at", "tasks": "updated_at", "events": "created_at"}
    assert REFERENCE_LISTS == {"users": ("/api/v4/users", "users"),
                               "pipelines": ("/api/v4/leads/pipelines", "pipelines"),
                               "loss_reasons": ("/api/v4/leads/loss_reasons", "loss_reasons")}
    assert {t: (entity(t).lists, entity(t).params) for t in ("leads", "contacts", "companies")} == {
        "leads": ((("/api/v4/leads", "leads"),), {"with": "contacts,loss_reason,source_id,source"}),
        "contacts": ((("/api/v4/contacts", "contacts"),), {}),
        "companies": ((("/api/v4/companies", "companies"),), {})}
    assert set(NESTED) == {"custom_fields", "leads", "contacts", "companies"}


@pytest.mark.parametrize("change, message", [
    ({"scan": "offset"}, "unknown scan 'offset'"),
    ({"cursor": None}, "a keyset scan needs a cursor"),
    ({"scan": "all_pages"}, "reads a reference table, it takes no cursor"),
    ({"lists": ()}, "every other scan at least one"),
    ({"page_size_setting": "pagesize"}, "page size setting one of"),
    ({"checks": ("fresh",)}, "checks among"),
])
def test_a_wrong_entry_fails_at_import_naming_the_table(change, message):
    with pytest.raises(ValueError, match=f"leads: .*{message}"):
        dataclasses.replace(entity("leads"), **change)
