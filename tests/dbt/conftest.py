"""Fixtures of the dbt tests: a warehouse of their own, built, then extracted again a day later."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest


def completed_loads(warehouse: Any) -> list[str]:
    """Ids of the successful dlt loads in the warehouse, sorted."""
    return sorted(warehouse.query("select load_id from raw_amocrm._dlt_loads where status = 0")["load_id"])


@pytest.fixture(scope="session")
def extracted_a_day_later(build_kpi_warehouse):
    """`with extracted_a_day_later(data_dir, seed=, leads=, now=) as (warehouse, first, second)`: a
    simulated account (clock at `now`) extracted and its models built (`dbt run`: the tests are run by
    the builds of the day later, which the modules check), then a day later extracted again,
    not built; `first` and `second` are the ids of the loads of each extraction."""
    from pipelines.simulator import SimulatedAccount, Simulator

    @contextmanager
    def build(data_dir: Path, *, seed: int, leads: int, now: int) -> Iterator[tuple[Any, list[str], list[str]]]:
        account = SimulatedAccount.generate(seed=seed, leads=leads, now=now)
        with Simulator(account, rate_limit=None) as sim:
            warehouse = build_kpi_warehouse(data_dir, sim, dbt_command="run")  # its tests: the day-later build
            first = completed_loads(warehouse)
            sim.clock.advance(days=1)
            warehouse.extract()
            second = [load for load in completed_loads(warehouse) if load not in first]
            assert second, "the second extraction wrote a load"
            yield warehouse, first, second

    return build


@pytest.fixture(scope="session")
def shared_day_later(extracted_a_day_later, tmp_path_factory):
    """`shared_day_later(seed=, leads=, now=) -> (warehouse, first, second)`: `extracted_a_day_later`, made
    once per session and account for every module that asks (each `dbt build` of it costs a minute).
    Read it, never change it: change a `warehouse.copy(dir)`. Modules using it share an xdist group
    ("day_later"), so it is built on one worker."""
    made: dict[tuple[int, int, int], tuple[Any, list[str], list[str]]] = {}
    with ExitStack() as stack:
        def get(*, seed: int, leads: int, now: int) -> tuple[Any, list[str], list[str]]:
            key = (seed, leads, now)
            if key not in made:
                data_dir = tmp_path_factory.mktemp(f"day_later_{seed}_{leads}")
                made[key] = stack.enter_context(extracted_a_day_later(data_dir, seed=seed, leads=leads, now=now))
            return made[key]

        yield get


@pytest.fixture(scope="session")
def built_day_later(shared_day_later, tmp_path_factory):
    """`built_day_later(seed=, leads=, now=) -> (warehouse, first, second)`: `shared_day_later`'s account
    copied and `dbt build` once more, incrementally (the day's loads): made once per session and account
    for every module that starts from that build (test_dbt_incremental, test_dbt_leads_incremental,
    test_dbt_attribution_incremental each built it on their own: a minute of CPU each in CI). Its
    `dbt_target` holds that build's compiled SQL and run results. Read it, never change it or run dbt in
    it: change a `warehouse.copy(dir)`."""
    made: dict[tuple[int, int, int], tuple[Any, list[str], list[str]]] = {}

    def get(*, seed: int, leads: int, now: int) -> tuple[Any, list[str], list[str]]:
        key = (seed, leads, now)
        if key not in made:
            shared, first, second = shared_day_later(seed=seed, leads=leads, now=now)
            warehouse = shared.copy(tmp_path_factory.mktemp(f"built_day_later_{seed}_{leads}"))
            warehouse.dbt("build", file_log_level="debug")  # test_dbt_incremental reads its pre-hooks' SQL
            made[key] = warehouse, first, second
        return made[key]

    return get
