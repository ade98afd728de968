"""Bad list pages never end a listing: each is re-read, or fails its resource loudly (endpoint and page
named) with nothing committed, and a clean rerun loads everything (checked against the simulator's truth)."""

from __future__ import annotations

import pytest

from amocrm_checks import amo_error, assert_matches_truth, extract, table
from pipelines.amocrm.client import AmoPayloadError

EVENTS = "/api/v4/events"


def loaded(name: str) -> set:
    return set(table(name)["id"])


def expected(sim, name: str) -> set:
    """Ids the simulator holds (live ones only for leads: deleted ones come with the `deletions` resource)."""
    rows = getattr(sim.truth(), name)
    return set((rows[~rows["is_deleted"]] if name == "leads" else rows)["id"])


@pytest.mark.parametrize("spoil", ["empty_200_next", "no_embedded_next"])
def test_a_passing_bad_events_page_is_re_read(sim, spoil):
    getattr(sim.faults, spoil)(1, path=EVENTS)
    extract(sim, resources=["events"], events_page_size=50)
    assert loaded("events") == expected(sim, "events")
    assert sim.stats.by_status[200] > 0


def test_an_empty_200_tasks_window_is_re_read(sim):
    sim.faults.empty_200_next(1, path="/api/v4/tasks")
    extract(sim, resources=["tasks"])
    assert loaded("tasks") == expected(sim, "tasks")


def test_a_short_page_without_next_does_not_end_a_keyset_scan(sim):
    sim.faults.short_page_next(3, path="/api/v4/leads")
    extract(sim, resources=["leads"], page_size=50)
    assert loaded("leads") == expected(sim, "leads")


def test_events_capped_below_the_limit_without_next_are_all_loaded(sim):
    sim.faults.events_page_cap = 100
    extract(sim, resources=["events"], events_page_size=250)
    assert loaded("events") == expected(sim, "events")


@pytest.mark.parametrize("spoil", ["empty_200_next", "no_embedded_next", "short_page_next"])
def test_a_persistent_bad_page_fails_naming_it_commits_nothing_and_a_rerun_loads_all(sim, spoil):
    extract(sim, resources=["events"], events_page_size=50)
    before = loaded("events")
    sim.clock.advance(days=20)
    assert len(expected(sim, "events") - before) > 100  # the new events span several pages
    getattr(sim.faults, spoil)(8, path=EVENTS)
    with pytest.raises(Exception) as failed:
        extract(sim, resources=["events"], events_page_size=50)
    error = amo_error(failed)
    assert isinstance(error, AmoPayloadError) and error.endpoint == EVENTS and error.page is not None
    assert f"{EVENTS} page {error.page}" in str(error)
    assert loaded("events") == before  # no rows of the failed run were loaded ...
    sim.faults.reset()
    extract(sim, resources=["events"], events_page_size=50)  # ... and its cursor did not move
    assert loaded("events") == expected(sim, "events")


def test_a_failed_run_then_a_clean_full_rerun_matches_the_truth(sim):
    extract(sim)
    sim.clock.advance(days=20)
    sim.faults.no_embedded_next(5, path="/api/v4/tasks")
    with pytest.raises(Exception) as failed:
        extract(sim)
    assert amo_error(failed).endpoint == "/api/v4/tasks"
    extract(sim)
    assert_matches_truth(sim.truth(), stale_links=True)


def test_events_fallback_without_filters_reads_back_only_to_the_cursor(sim):
    """No API-filter add-on: the events list is read newest first and stops at the cursor, not re-read whole."""
    sim.faults.ignore_filters = True
    first = extract(sim, resources=["events"], events_page_size=50)
    assert first.fallback == ["events"]
    history_pages = sim.stats.count(EVENTS)
    assert history_pages > 40 and loaded("events") == expected(sim, "events")
    sim.clock.advance(days=5)
    new = len(expected(sim, "events") - loaded("events"))
    sim.stats.reset()
    extract(sim, resources=["events"], events_page_size=50)
    assert loaded("events") == expected(sim, "events")
    workers = 3  # amocrm_checks.FAST: pages fetched at once, so read past the stop at most
    assert 0 < new and sim.stats.count(EVENTS) <= new // 50 + 1 + workers
