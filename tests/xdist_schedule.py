"""How `pytest -n 3 --dist loadgroup` hands work to its workers: whole xdist groups, longest first.

Groups. pytest-xdist 3.8 marks a grouped test by appending `@<group>` to `item._nodeid`, which pytest 9
no longer reads (a node's id is `item._id` now), so every group was silently spread over all workers:
each worker built its own session warehouse, and a module's fixtures were set up once per worker that
ran one of its tests. `add_group_suffix` (called by tests/conftest.py) names the tests as xdist meant.

Order. xdist hands out the groups (and each test outside a group) by how many tests they hold, so a
group of three tests that runs for minutes (the chaos campaign) could start last, and the suite waited
for it alone. `LongestFirstScheduling` weighs each group by the seconds it takes (`GROUP_SECONDS`,
measured in CI), heaviest first; the short tests fill the gaps. A group missing there counts as
`NEW_GROUP_SECONDS` (groups exist for costly fixtures), a test outside any group one second unless
`TEST_SECONDS` names it. Numbers only order the work: a stale one makes the suite slower, never wrong.
Refresh them from a CI run: `pytest -n 3 --dist loadgroup --durations=0 | python tests/xdist_schedule.py`
prints both tables, measured.

Modules. A group in `PER_MODULE_GROUPS` shares no session fixture, only a kind (Dagster jobs run
in-process, PostgreSQL): each of its modules is a work unit of its own, `<group>.<module>`, as with
`--dist loadscope`, so a module's fixtures are still built once while the modules spread over the
workers. (Dagster's manifest preparation takes a lock of its own; the PostgreSQL tests each use
schemas, roles and databases of their own.) One "dagster" unit of all Dagster modules held about
eleven minutes of work in CI and grew with every Dagster test: the suite's coming critical path.

tests/conftest.py imports the two hooks below; `pytest -p xdist_schedule` loads them alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from xdist.scheduler import LoadGroupScheduling

# Seconds per work unit with three workers (setup + calls, all its files), measured: a local clean-clone
# run of main 2847bb1 (`--durations=0 | python tests/xdist_schedule.py`, December 2026); the units changed
# after it are scaled by their measured CPU before and after (dagster.test_held_back, dagster.test_accounts_job,
# postgres.test_postgres_job: cheaper Dagster event storage, tests/dagster_sqlite.py
# and pooled PostgreSQL connections; chats, response, hygiene: dbt builds only what the module reads).
# Only their order matters.
# The Dagster and PostgreSQL modules are units of their own (PER_MODULE_GROUPS).
GROUP_SECONDS = {
    "day_later": 627,
    "warehouse": 378,  # + test_dbt_launcher (about 13 s)
    "chaos": 309,
    "dagster.test_held_back": 240,
    "dagster.test_daily_job": 236,
    "crash": 192,
    "dbt_accounts": 174,
    "dagster.test_demo_accounts": 152,
    "postgres.test_postgres_job": 145,
    "dagster.test_kpi_warnings": 139,
    "dagster.test_accounts_job": 135,
    "hygiene": 105,
    "reconciliation": 94,
    "legacy_warehouse": 80,
    "fidelity": 77,
    "chats": 68,
    "response": 52,
    "dagster.test_dbt_in_runs": 43,
    "postgres.test_postgres_publish": 34,
    "id_reconciliation": 33,
    "dagster.test_no_secret_leaks": 29,
    "dagster.test_reconcile_accounts": 26,
    "dagster.test_reconcile_job": 15,
    "dagster.test_transform_sensor": 7,
    "dagster.test_user_inputs_asset": 2,
}
NEW_GROUP_SECONDS = 90
PER_MODULE_GROUPS = frozenset({"dagster", "postgres"})
UNGROUPED_SECONDS = 1
# Tests outside any group that run long (node id without parameters): weighed like a group, they start
# early, instead of last, where a worker would run one while the others have nothing left to do.
TEST_SECONDS = {
    "tests/amocrm/test_accounts_raw.py::test_accounts_share_one_warehouse_without_touching_each_other": 118,
    "tests/amocrm/test_failures.py::test_429_storm_and_5xx_burst_end_complete": 60,
    "tests/amocrm/test_forget.py::test_forget_removes_one_account_everywhere_and_it_can_be_added_again": 55,
    "tests/amocrm/test_extraction.py::test_deletions_and_restores_are_applied_run_by_run": 41,
    "tests/amocrm/test_load_ids.py::test_a_package_with_a_load_id_the_warehouse_holds_is_refused_and_read_again_next_run": 36,
    "tests/amocrm/test_restored.py::test_a_restored_id_amocrm_does_not_return_is_reported_every_run": 29,
    "tests/amocrm/test_extraction.py::test_server_ignoring_filters_is_still_correct": 25,
    "tests/amocrm/test_merges.py::test_a_merge_event_naming_a_live_record_is_reported_and_the_record_stays_live": 24,
    "tests/amocrm/test_restored.py::test_restored_stubs_are_read_by_id_and_whole": 23,
    "tests/amocrm/test_merges.py::test_merged_away_records_are_deleted_and_checked_once": 23,
    "tests/amocrm/test_failures.py::test_crash_between_refresh_and_save_is_recovered_with_a_new_code": 22,
    "tests/amocrm/test_lead_source.py::test_a_warehouse_from_before_source_names_gets_the_column_on_the_next_run": 22,
    "tests/amocrm/test_failures.py::test_random_server_errors_end_complete": 21,
}


def weight(scope: str) -> int:
    """Expected seconds of a work unit: an xdist group's name, or the node id of a test outside any."""
    if "::" in scope:
        return TEST_SECONDS.get(scope.split("[", 1)[0], UNGROUPED_SECONDS)
    return GROUP_SECONDS.get(scope, NEW_GROUP_SECONDS)


class LongestFirstScheduling(LoadGroupScheduling):
    """`--dist loadgroup`, with the work queue sorted by `weight` (stable: ties keep xdist's order)."""

    _sorted = False

    def _assign_work_unit(self, node) -> None:
        if not self._sorted:
            ordered = sorted(self.workqueue.items(), key=lambda item: -weight(item[0]))
            self.workqueue.clear()
            self.workqueue.update(ordered)
            self._sorted = True
        super()._assign_work_unit(node)


def group_of(item: pytest.Item) -> str | None:
    """The work unit of a test in an xdist group: the group's name, `<group>.<module>` for a group in
    `PER_MODULE_GROUPS`; None for a test outside any group."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    if not names:
        return None
    group = "_".join(sorted(names))
    if group in PER_MODULE_GROUPS:
        group = f"{group}.{Path(str(item.path)).stem}"
    return group


def add_group_suffix(items: list[pytest.Item]) -> None:
    """`<nodeid>@<group>` for every test in an xdist group (what xdist 3.8 does, for pytest 9)."""
    from _pytest.nodeid import NodeId  # pytest 9's structured node id

    for item in items:
        if item.nodeid.rfind("@") > item.nodeid.rfind("]"):
            continue  # an xdist that already does it
        group = group_of(item)
        if group:
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker of `--dist loadgroup`: keep each xdist group together."""
    if getattr(config.option, "loadgroup", False):
        add_group_suffix(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` hands out the longest groups first."""
    if config.getvalue("dist") == "loadgroup":
        return LongestFirstScheduling(config, log)
    return None


_DURATION = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(\S.*?)\s*$")
LONG_TEST = 20  # seconds: a test outside any group that runs longer goes into TEST_SECONDS


def measured(lines) -> tuple[dict[str, int], dict[str, int]]:
    """(seconds per group, seconds of each long test outside any group) from `--durations=0` lines."""
    units: dict[str, float] = {}
    for line in lines:
        if match := _DURATION.match(line):
            units[match[2]] = units.get(match[2], 0.0) + float(match[1])
    groups: dict[str, float] = {}
    tests: dict[str, float] = {}
    for nodeid, seconds in units.items():
        if nodeid.rfind("@") > nodeid.rfind("]"):
            group = nodeid.rsplit("@", 1)[1]
            groups[group] = groups.get(group, 0.0) + seconds
        elif seconds >= LONG_TEST:
            name = nodeid.split("[", 1)[0]  # each parameter is a unit of its own: the longest counts
            tests[name] = max(tests.get(name, 0.0), seconds)
    return _by_size(groups), _by_size(tests)


def _by_size(table: dict[str, float]) -> dict[str, int]:
    return {key: round(value) for key, value in sorted(table.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    measured_groups, measured_tests = measured(sys.stdin)
    print("GROUP_SECONDS = {\n" + "".join(f"    {k!r}: {v},\n" for k, v in measured_groups.items()) + "}")
    print("TEST_SECONDS = {\n" + "".join(f"    {k!r}: {v},\n" for k, v in measured_tests.items()) + "}")
