"""scripts/dbt_critical_path.py: node times read from dbt's JSON log lines (the first result of a node, not the
summary's repeat), the longest chain by node times, the chain that ended the build and each node's wait; then the
whole script on a small graph in place of the project's parse."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import networkx as nx
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dbt_critical_path.py"
spec = importlib.util.spec_from_file_location("dbt_critical_path", SCRIPT)
critical_path = importlib.util.module_from_spec(spec)
spec.loader.exec_module(critical_path)

# a -> b -> d and a -> c -> d: b is long, but c finished last because it waited for a thread
TIMES = {"model.p.a": (0.0, 1.0), "model.p.b": (1.0, 4.0), "model.p.c": (3.0, 5.0), "model.p.d": (5.5, 6.0)}
EDGES = [("model.p.a", "model.p.b"), ("model.p.a", "model.p.c"), ("model.p.b", "model.p.d"), ("model.p.c", "model.p.d")]


def _line(unique_id: str, start: float, end: float, name: str = "LogModelResult") -> str:
    def stamp(seconds: float) -> str:
        return f"2026-12-03T06:00:{seconds:09.6f}"

    node = {"unique_id": unique_id, "node_started_at": stamp(start), "node_finished_at": stamp(end)}
    return json.dumps({"data": {"node_info": node}, "info": {"name": name}})


@pytest.fixture
def out(tmp_path: Path) -> Path:
    lines = ["plain text line", json.dumps({"data": {}, "info": {"name": "MainReportVersion"}})]
    lines += [_line(uid, start, end) for uid, (start, end) in TIMES.items()]
    lines.append(_line("model.p.b", 10.0, 11.0, "LogSummaryWarning"))  # the end summary names a node again
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_node_times_keep_each_nodes_own_result_line(out):
    times = critical_path.node_times(out)
    assert {uid: round(end - start, 6) for uid, (start, end) in times.items()} == {
        uid: end - start for uid, (start, end) in TIMES.items()}  # b's summary line (10 s to 11 s) not taken
    assert times["model.p.c"][0] - times["model.p.a"][0] == pytest.approx(3.0)


def test_the_chains_and_the_waits():
    graph = nx.DiGraph(EDGES)
    duration = {uid: end - start for uid, (start, end) in TIMES.items()}
    assert critical_path.longest_chain(graph, duration) == ["model.p.a", "model.p.b", "model.p.d"]  # 1 + 3 + 0.5
    assert critical_path.ending_chain(graph, TIMES) == ["model.p.a", "model.p.c", "model.p.d"]  # c finished last
    assert [critical_path.waited(graph, TIMES, uid) for uid in TIMES] == [0.0, 0.0, 2.0, 0.5]


def test_the_script_prints_both_chains_and_the_longest_waits(out, monkeypatch, capsys):
    monkeypatch.setattr(critical_path, "build_graph", lambda nodes: nx.DiGraph(EDGES).subgraph(nodes).copy())
    critical_path.main([str(out), "--top", "2"])
    printed = capsys.readouterr().out
    assert "nodes 4, node phase 6.00 s, node time summed 6.50 s" in printed
    assert "longest chain by node times: 4.50 s over 3 nodes" in printed
    assert "chain that ended the build: 3 nodes, 3.50 s running + 2.50 s waiting" in printed
    assert printed.rstrip().splitlines()[-2:] == ["  waited  2.00  ran  2.00  c", "  waited  0.50  ran  0.50  d"]


def test_a_log_of_other_code_is_refused(out, monkeypatch):
    monkeypatch.setattr(critical_path, "build_graph", lambda nodes: nx.DiGraph([("model.p.a", "model.p.b")]))
    with pytest.raises(SystemExit, match="nodes of the log not in the project"):
        critical_path.main([str(out)])
