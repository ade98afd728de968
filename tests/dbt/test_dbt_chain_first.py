"""The launcher (pipelines/dbt_launcher.py) starts the ready node with the longest remaining chain whenever one of
dbt's threads is free, by the node times of the previous build (`dbt_node_seconds.json` in the data folder), and
without times runs dbt's own order with a warning (and chain_scores on a small graph). A tiny project of views on one thread, so that the order the
nodes start in is the order dbt picked them: a root, a chain of three (a test on its first) and six small views on
the root, named to come first in dbt's order. Three dbt builds (about 10 CPU s).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipelines.dbt_daily_build import BUILD_ARGS, DBT_COMMAND, LOG_ENV
from pipelines.dbt_launcher import NODE_SECONDS, chain_scores

pytestmark = pytest.mark.slow

PROJECT = """name: chainfirst
version: "1.0.0"
config-version: 2
profile: chainfirst
flags:
  send_anonymous_usage_stats: false
models:
  chainfirst:
    +materialized: view
"""
PROFILES = """chainfirst:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('AMOCRM_KPI_DATA_DIR') }}/warehouse.duckdb"
      threads: 1
"""
SCHEMA = """version: 2
models:
  - name: z_chain_1
    columns:
      - name: n
        data_tests: [not_null]
"""
SMALL = [f"m_small_{i}" for i in range(1, 7)]
CHAIN = ["z_chain_1", "z_chain_2", "z_chain_3"]


def _project(root: Path) -> None:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(PROJECT)
    (root / "profiles.yml").write_text(PROFILES)
    (root / "models" / "schema.yml").write_text(SCHEMA)
    (root / "models" / "a_root.sql").write_text("select 1 as n")
    for name in SMALL:
        (root / "models" / f"{name}.sql").write_text("select n from {{ ref('a_root') }}")
    for parent, name in zip(["a_root", *CHAIN], CHAIN):
        (root / "models" / f"{name}.sql").write_text(f"select n from {{{{ ref('{parent}') }}}}")


def _build(root: Path, data: Path) -> tuple[list[str], list[dict]]:
    """Build the project through the launcher as the daily build does: the models in the order they started."""
    env = {**os.environ, **LOG_ENV, "AMOCRM_KPI_DATA_DIR": str(data)}
    result = subprocess.run([*DBT_COMMAND, *BUILD_ARGS, "--project-dir", str(root), "--profiles-dir", str(root),
                             "--target-path", str(data / "target"), "--log-path", str(data / "logs")],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, [e["info"]["msg"] for e in events][-20:]
    started = [e["data"]["node_info"]["unique_id"] for e in events if e["info"]["name"] == "LogStartLine"]
    return started, events


def _models(started: list[str]) -> list[str]:
    return [node.split(".")[-1] for node in started if node.startswith("model.")]


def test_the_longest_chain_starts_first_by_the_last_builds_node_times(tmp_path):
    root, data = tmp_path / "project", tmp_path / "data"
    _project(root)
    data.mkdir()
    times = data / NODE_SECONDS

    # No times yet: dbt's own order (by depth, then name: the small views before the chain), said in a warning.
    started, events = _build(root, data)
    warnings = [e["info"]["msg"] for e in events if e["info"]["level"] == "warn"]
    assert any("dbt runs its nodes in its own order this time" in w and "first build" in w for w in warnings)
    assert _models(started) == ["a_root", *SMALL, *CHAIN]
    recorded = json.loads(times.read_text())["node_seconds"]
    assert set(recorded) == set(started) and all(isinstance(v, float) for v in recorded.values())

    # The chain slow in the last build: it starts first, each link as soon as the one before is done; the small
    # views, ready all along, wait. The same views come out.
    test = next(node for node in started if node.startswith("test."))
    seconds = {node: 0.01 for node in started} | {f"model.chainfirst.{n}": 5.0 for n in CHAIN} | {test: 1.0}
    times.write_text(json.dumps({"node_seconds": seconds}))
    started, events = _build(root, data)
    assert not [e["info"]["msg"] for e in events if e["info"]["level"] == "warn"]
    assert started[:5] == ["model.chainfirst.a_root", "model.chainfirst.z_chain_1", test,
                           "model.chainfirst.z_chain_2", "model.chainfirst.z_chain_3"]
    assert _models(started) == ["a_root", *CHAIN, *SMALL]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as warehouse:
        assert warehouse.sql("select n from main.z_chain_3").fetchall() == [(1,)]
    # ... and this build's own times replace them.
    assert json.loads(times.read_text())["node_seconds"][f"model.chainfirst.{CHAIN[-1]}"] < 5.0

    # An unreadable file: dbt's own order again, with a warning that says which file and why.
    times.write_text("{not json")
    started, events = _build(root, data)
    warnings = [e["info"]["msg"] for e in events if e["info"]["level"] == "warn"]
    assert any(str(times) in w and "cannot be read" in w for w in warnings), warnings
    assert _models(started) == ["a_root", *SMALL, *CHAIN]
    assert set(json.loads(times.read_text())["node_seconds"]) == set(started)


def test_chain_scores_put_the_longest_chains_first_and_the_rest_in_dbts_order():
    import networkx as nx

    # root -> slow -> end is the longest chain (7 s); root -> quick -> end (3.5 s) and root -> new are not.
    graph = nx.DiGraph([("root", "slow"), ("slow", "end"), ("root", "quick"), ("quick", "end"), ("root", "new"),
                        ("root", "nearly"), ("nearly", "nearly_end")])  # nearly: 6 s, within 20% of 7 s
    seconds = {"root": 1.0, "slow": 4.0, "quick": 0.5, "end": 2.0, "nearly": 4.5, "nearly_end": 0.5}
    levels = {"root": 0, "slow": 1, "quick": 1, "new": 1, "nearly": 1, "end": 2, "nearly_end": 2}
    scores, unknown = chain_scores(graph, seconds, levels)
    assert scores == {"root": (0, -7.0), "slow": (0, -6.0), "end": (0, -2.0), "nearly": (0, -5.0),
                      "nearly_end": (0, -0.5), "quick": (1, 1), "new": (1, 1)}  # new: no time, counted as the median 1.5
    assert unknown == 1
