"""The critical path of a finished `dbt build`, from its JSON log lines: is the build bound by its longest chain?

    .venv/bin/python scripts/dbt_critical_path.py OUT.jsonl [--top N]

OUT.jsonl holds dbt's stdout of a build run with `DBT_LOG_FORMAT=json` (the daily build's, e.g. the benchmark's
out.jsonl). Each node's start and end are those its result line carries (node_info). The dependencies are the build's
own: the project is parsed into a temporary folder and linked as `dbt build` links it (a model also waits for the
tests of its parents), reduced to the nodes the log names. Prints

- the node phase (first node's start to last node's end) and the sum of node times over dbt's threads;
- the longest chain by node times alone (what the build could not beat with unlimited threads);
- the chain that really ended the build: from the last node to finish, back through the parent that finished last,
  with how long each node waited, after its last parent had finished, before it started (a free thread or the GIL).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx

PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"


def node_times(out: Path) -> dict[str, tuple[float, float]]:
    """unique_id -> (start, end) timestamps: the node_started_at and node_finished_at its log lines carry (not the
    last line naming it: the summary at the end of the build names the nodes that warned again)."""
    times: dict[str, tuple[float, float]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        if not line.startswith("{"):
            continue
        info = json.loads(line).get("data", {}).get("node_info") or {}
        if info.get("unique_id") and info.get("node_started_at") and info.get("node_finished_at"):
            times.setdefault(info["unique_id"], tuple(  # type: ignore[arg-type]
                datetime.fromisoformat(info[key]).replace(tzinfo=timezone.utc).timestamp()
                for key in ("node_started_at", "node_finished_at")))
    return times


def build_graph(nodes: set[str]) -> nx.DiGraph:
    """The dependency graph `dbt build` runs the given nodes by (test edges included)."""
    from dbt.cli.main import dbtRunner
    from dbt.compilation import Linker
    from dbt.graph import Graph

    with tempfile.TemporaryDirectory() as target:
        parsed = dbtRunner().invoke(["parse", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
                                     "--target-path", target, "--log-path", target, "--quiet", "--no-write-json"])
    if not parsed.success:
        sys.exit(f"dbt parse of {PROJECT} failed: {parsed.exception}")
    manifest = parsed.result
    linker = Linker()
    linker.link_graph(manifest)
    manifest.build_parent_and_child_maps()
    linker.add_test_edges(manifest)
    return Graph(linker.graph).get_subset_graph(nodes).graph


def short(unique_id: str) -> str:
    return unique_id.split(".", 2)[-1]


def longest_chain(graph: nx.DiGraph, duration: dict[str, float]) -> list[str]:
    """The chain with the largest sum of node times, first node first: what no order or thread count could beat."""
    longest: dict[str, tuple[float, str | None]] = {}
    for node in nx.topological_sort(graph):
        parents = [(longest[p][0], p) for p in graph.predecessors(node)]
        best, parent = max(parents) if parents else (0.0, None)
        longest[node] = (best + duration[node], parent)
    node: str | None = max(longest, key=lambda n: longest[n][0])
    chain = []
    while node is not None:
        chain.append(node)
        node = longest[node][1]
    return chain[::-1]


def ending_chain(graph: nx.DiGraph, times: dict[str, tuple[float, float]]) -> list[str]:
    """The chain that ended the build, first node first: from the last node to finish back through, at each step,
    the parent that finished last."""
    node: str | None = max(times, key=lambda n: times[n][1])
    chain = []
    while node is not None:
        chain.append(node)
        parents = list(graph.predecessors(node))
        node = max(parents, key=lambda p: times[p][1]) if parents else None
    return chain[::-1]


def waited(graph: nx.DiGraph, times: dict[str, tuple[float, float]], node: str) -> float:
    """How long a node waited to start after its last parent had finished (after the first start for a root)."""
    parents_ended = [times[parent][1] for parent in graph.predecessors(node)]
    ready = max(parents_ended) if parents_ended else min(start for start, _ in times.values())
    return times[node][0] - ready


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--top", type=int, default=8, help="how many of the longest waits to list")
    args = parser.parse_args(argv)

    times = node_times(args.out)
    graph = build_graph(set(times))
    missing = set(times) - set(graph)
    if missing:
        sys.exit(f"nodes of the log not in the project: {sorted(missing)[:5]}: parse the code that built it")
    duration = {n: end - start for n, (start, end) in times.items()}
    phase_start = min(start for start, _ in times.values())
    phase = max(end for _, end in times.values()) - phase_start
    print(f"nodes {len(times)}, node phase {phase:.2f} s, node time summed {sum(duration.values()):.2f} s")

    chain = longest_chain(graph, duration)
    print(f"\nlongest chain by node times: {sum(duration[n] for n in chain):.2f} s over {len(chain)} nodes")
    for node in chain:
        print(f"  {duration[node]:6.2f} s  {short(node)}")

    chain = ending_chain(graph, times)
    busy, wait = sum(duration[n] for n in chain), sum(waited(graph, times, n) for n in chain)
    print(f"\nchain that ended the build: {len(chain)} nodes, {busy:.2f} s running + {wait:.2f} s waiting "
          f"(after the last parent finished) = {busy + wait:.2f} s of the {phase:.2f} s phase")
    for node in chain:
        print(f"  start +{times[node][0] - phase_start:6.2f}  ran {duration[node]:5.2f}  "
              f"waited {waited(graph, times, node):5.2f}  {short(node)}")

    print(f"\nlongest waits after the last parent finished (top {args.top}):")
    for node in sorted(times, key=lambda n: waited(graph, times, n), reverse=True)[:args.top]:
        print(f"  waited {waited(graph, times, node):5.2f}  ran {duration[node]:5.2f}  {short(node)}")


if __name__ == "__main__":
    main()
