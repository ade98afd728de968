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
# run of main f03cbf0 (`--durations=0 | python tests/xdist_schedule.py`, 2026-12-03: dbt through the
# launcher, 930 s in all). Only their order matters.
# The Dagster and PostgreSQL modules are units of their own (PER_MODULE_GROUPS).
GROUP_SECONDS = {
    "day_later": 285,
    "crash": 189,
    "chaos": 184,
    "warehouse": 170,
    "dagster.test_held_back": 167,
    "dbt_accounts": 89,
    "dagster.test_daily_job": 78,
    "dagster.test_demo_accounts": 69,
    "dagster.test_accounts_job": 62,
    "postgres.test_postgres_job": 59,
    "chats": 56,
    "dagster.test_kpi_warnings": 43,
    "fidelity": 41,
    "hygiene": 32,
    "id_reconciliation": 29,
    "reconciliation": 28,
    "response": 27,
    "postgres.test_postgres_publish": 25,
    "legacy_warehouse": 25,
    "dagster.test_no_secret_leaks": 24,
    "dagster.test_reconcile_job": 13,
    "dagster.test_reconcile_accounts": 13,
    "dagster.test_dbt_in_runs": 6,
    "dagster.test_transform_sensor": 2,
    "dagster.test_user_inputs_asset": 2,
}
NEW_GROUP_SECONDS = 90
PER_MODULE_GROUPS = frozenset({"dagster", "postgres"})
UNGROUPED_SECONDS = 1
# Tests outside any group that run long (node id without parameters): weighed like a group, they start
# early, instead of last, where a worker would run one while the others have nothing left to do.
TEST_SECONDS = {
    "tests/amocrm/test_accounts_raw.py::test_accounts_share_one_warehouse_without_touching_each_other": 70,
    "tests/amocrm/test_failures.py::test_429_storm_and_5xx_burst_end_complete": 56,
    "tests/amocrm/test_forget.py::test_forget_removes_one_account_everywhere_and_it_can_be_added_again": 34,
    "tests/amocrm/test_restored.py::test_a_restored_id_amocrm_does_not_return_is_reported_every_run": 28,
    "tests/amocrm/test_extraction.py::test_deletions_and_restores_are_applied_run_by_run": 26,
    "tests/amocrm/test_load_ids.py::test_a_package_with_a_load_id_the_warehouse_holds_is_refused_and_read_again_next_run": 25,
    "tests/amocrm/test_extraction.py::test_server_ignoring_filters_is_still_correct": 23,
    "tests/test_cli.py::test_demo_with_a_rejected_token_ends_with_the_cause": 22,
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
