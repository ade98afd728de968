"""`dbt` for the daily build: dbt's own command line, with two costs of the plain `dbt` script taken out and its
longest chain of nodes started first.

1. The exit. After dbt's last log line the plain script spends 1-4 s in Python's interpreter teardown (freeing the
   ~1.5 GB of objects a 1M-lead build leaves: manifest, graph, events), work whose result nobody sees. Here dbt's
   command line runs to its end as usual (its result, its messages, its exit code), then the warehouse is closed
   (DuckDB writes its checkpoint and removes the .wal: dbt has normally done so already when its last connection
   closed; a still-open one is closed here, and an error doing so ends this process the ordinary, loud way), the
   semaphores of dbt's locks are freed, stdout, stderr and dbt.log are flushed, and the process ends with dbt's
   exit code without the teardown (`os._exit`).
   An exception that escapes dbt's command line is not caught: Python prints it and exits as usual.
2. Log lines built to be dropped. dbt formats every event (about 4,600 a build, most of them debug) for each of
   its loggers, then Python's `logging` drops those below the logger's level: with `DBT_LOG_FORMAT=json`
   (dagster-dbt's setting) each one is a protobuf-to-JSON conversion for stdout. An event the logger would
   drop is skipped before it is formatted; what reaches stdout and dbt.log is unchanged.
3. The order. dbt hands every node to its thread pool as soon as its parents are done, and the pool runs them first
   come, first served: a node of the build's longest chain (fct_leads' and fct_response's) that becomes ready
   behind a hundred small tests waits for all of them. Here dbt hands out a node only when one of its threads is
   free, and then a ready node of the longest chain (or of one nearly as long) first, the one with the longest
   remaining chain below it (its own seconds plus its slowest path to the end) first of those, then the others in
   dbt's order, all by the node times of the previous build, kept in `dbt_node_seconds.json` in the data folder.
   Only which ready node starts first changes, never what runs or what it depends on: results are the same. With no times known (the first build of a data folder, an unreadable file, AMOCRM_KPI_DATA_DIR unset) dbt
   runs in its own order and says so in a warning; nodes new since the last build count as the median node.
`PATCHED` names the dbt internals this relies on: tests/dbt/test_dbt_launcher.py fails when an upgrade renames them.

Run as `python pipelines/dbt_launcher.py ARGS...` (by path: it imports nothing of the project), with the
arguments of `dbt ARGS...`. The Dagster transform starts it through pipelines/defs/dbt_in_data_dir.sh, the
benchmark through `pipelines.dbt_daily_build.DBT_COMMAND`.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import statistics
import sys
from pathlib import Path

PATCHED = ("dbt_common.events.logger._Logger.write_line", "dbt_common.events.logger._log_level_map",
           "dbt_common.events.logger._is_print_event",
           "dbt.adapters.duckdb.connections.DuckDBConnectionManager._ENV", "multiprocessing.util._exit_function",
           "dbt.task.runnable.GraphRunnableTask._runtime_initialize", "dbt.task.runnable.GraphRunnableTask.execute_nodes",
           "dbt.graph.queue.GraphQueue.get")  # and GraphQueue's attributes of QUEUE_PARTS, checked at each build
QUEUE_PARTS = ("graph", "inner", "in_progress", "lock", "some_task_done", "_scores")
CRITICAL_SLACK = 0.2  # a chain at least 80% as long as the longest one goes first too (yesterday's times are rough)
RUNS_NODES = {"build", "run", "test", "seed", "snapshot"}  # the commands whose nodes are ordered (not ls, compile)
NODE_SECONDS = "dbt_node_seconds.json"  # in the data folder: each node's seconds in the last build that ran it


def _skip_dropped_lines() -> None:
    """Make dbt's loggers skip, before formatting it, an event their Python logger would drop for its level."""
    from dbt_common.events import logger as dbt_logger

    write_line, levels = dbt_logger._Logger.write_line, dbt_logger._log_level_map

    def write_line_if_kept(self, msg) -> None:  # noqa: ANN001 (dbt's signature)
        python_logger = self._python_logger
        level = levels.get(msg.info.level)
        if (python_logger is not None and level is not None and not dbt_logger._is_print_event(msg)
                and not python_logger.isEnabledFor(level)):
            return
        write_line(self, msg)

    dbt_logger._Logger.write_line = write_line_if_kept


def _warn(message: str) -> None:
    """A warning among dbt's own log lines (stdout for Dagster, dbt.log)."""
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.functions import fire_event
    from dbt_common.events.types import Note

    fire_event(Note(msg=message), level=EventLevel.WARN)


def _node_seconds_path() -> Path | None:
    folder = os.environ.get("AMOCRM_KPI_DATA_DIR")
    return Path(folder) / NODE_SECONDS if folder else None


def _read_node_seconds(path: Path | None) -> dict[str, float]:
    """The previous build's seconds per node, or {} with a warning saying why dbt keeps its own order."""
    why = None
    if path is None:
        why = "AMOCRM_KPI_DATA_DIR is not set, so there is no data folder to keep them in"
    elif not path.exists():
        why = f"{path} does not exist yet (the first build of this data folder); this build writes it"
    else:
        try:
            seconds = json.loads(path.read_text(encoding="utf-8"))["node_seconds"]
            if seconds and all(isinstance(v, (int, float)) for v in seconds.values()):
                return {str(node): float(v) for node, v in seconds.items()}
            why = f"{path} lists no node times; this build writes them again"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            why = f"{path} cannot be read ({error!r}); this build writes it again"
    _warn(f"dbt runs its nodes in its own order this time: no node times of an earlier build ({why}). The results "
          "are the same; the build may take longer than when its longest chain of nodes starts first.")
    return {}


def chain_scores(graph, seconds: dict[str, float], levels: dict[str, int]) -> tuple[dict, int]:  # noqa: ANN001
    """Each node's score for dbt's queue (lower starts first). A node on the longest chain, or on one within
    CRITICAL_SLACK of it, goes first, the longer its remaining chain (its own seconds plus its slowest path of
    descendants) the sooner; every other node after them, in dbt's order (`levels`, its depth). Small nodes then
    still fill the other threads all along, their Python beside the chain's queries, instead of piling up at the
    end. Nodes without a time count as the median known one; returns the scores and how many nodes had no time."""
    import networkx as nx

    known = [seconds[node] for node in graph if node in seconds]
    default = statistics.median(known) if known else 1.0
    order = list(nx.topological_sort(graph))
    remaining: dict[str, float] = {}  # the node and its slowest path of descendants
    for node in reversed(order):
        below = max((remaining[child] for child in graph.successors(node)), default=0.0)
        remaining[node] = seconds.get(node, default) + below
    before: dict[str, float] = {}  # the slowest path of ancestors
    for node in order:
        before[node] = max((before[parent] + seconds.get(parent, default) for parent in graph.predecessors(node)),
                           default=0.0)
    longest = max(remaining.values(), default=0.0)
    scores = {node: (0, -remaining[node]) if before[node] + remaining[node] >= longest * (1 - CRITICAL_SLACK)
              else (1, levels.get(node, 0)) for node in graph}
    return scores, len(graph) - len(known)


def _longest_chain_first() -> None:
    """Make dbt start, whenever a thread is free, the ready node of the longest chains first (chain_scores);
    record the node times of every build for the next one."""
    from dbt.graph.queue import GraphQueue
    from dbt.task.runnable import GraphRunnableTask

    runtime_initialize, execute_nodes, get = (GraphRunnableTask._runtime_initialize, GraphRunnableTask.execute_nodes,
                                              GraphQueue.get)

    def runtime_initialize_by_chain(self) -> None:  # noqa: ANN001 (dbt's signature)
        runtime_initialize(self)
        queue = getattr(self, "job_queue", None)
        if getattr(self.args, "which", None) not in RUNS_NODES or queue is None or not len(queue.graph):
            return
        missing = [part for part in QUEUE_PARTS if not hasattr(queue, part)]
        if missing:
            _warn(f"dbt runs its nodes in its own order: its GraphQueue has no {', '.join(missing)} any more (a dbt "
                  "upgrade); pipelines/dbt_launcher.py needs updating. The results are the same.")
            return
        self._node_seconds_path = _node_seconds_path()  # execute_nodes records the times there
        seconds = _read_node_seconds(self._node_seconds_path)
        if not seconds:
            return
        scores, unknown = chain_scores(queue.graph, seconds, queue._scores)
        with queue.inner.mutex:  # the nodes ready at the start, queued by dbt's scores: queue them by these
            queue.inner.queue[:] = [(scores[node], node) for _, node in queue.inner.queue]
            heapq.heapify(queue.inner.queue)
        queue._scores = scores
        queue._threads_free_first = max(1, int(self.config.threads))
        if unknown:
            _warn(f"{unknown} of {len(scores)} nodes have no time from an earlier build: counted as the median node "
                  "in the order they start (the results are the same)")

    def get_when_a_thread_is_free(self, block: bool = True, timeout: float | None = None):  # noqa: ANN001, ANN202
        threads = getattr(self, "_threads_free_first", None)
        if threads is not None:  # dbt's pool queues what it is handed first come, first served: hand it out later
            with self.lock:
                while len(self.in_progress) >= threads:
                    self.some_task_done.wait()
        return get(self, block, timeout)

    def execute_nodes_and_record(self):  # noqa: ANN001, ANN202 (dbt's signature)
        results = execute_nodes(self)
        path = getattr(self, "_node_seconds_path", None)
        if path is not None and results:
            seconds = {node: value for node, value in _read_quietly(path).items() if node in self.manifest.nodes}
            seconds.update({r.node.unique_id: round(r.execution_time, 3) for r in results
                            if r.status != "skipped" and isinstance(getattr(r, "execution_time", None), float)})
            try:
                written = path.with_name(path.name + ".tmp")
                written.write_text(json.dumps({"node_seconds": seconds}, indent=0, sort_keys=True), encoding="utf-8")
                written.replace(path)
            except OSError as error:
                _warn(f"Could not write the node times to {path} ({error!r}): the next build runs its nodes in "
                      "dbt's own order (the same results). Check that the data folder is writable.")
        return results

    GraphRunnableTask._runtime_initialize = runtime_initialize_by_chain
    GraphRunnableTask.execute_nodes = execute_nodes_and_record
    GraphQueue.get = get_when_a_thread_is_free


def _read_quietly(path: Path) -> dict[str, float]:
    """The recorded node times to keep for nodes this build did not run ({} if unreadable: already warned)."""
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["node_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _close_warehouse() -> None:
    """Close dbt-duckdb's database if a connection left it open: DuckDB checkpoints on close (no .wal left)."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    environment = connections.DuckDBConnectionManager._ENV if connections else None
    if environment is not None:
        environment.close()


def _exit_status(code: object) -> int:
    """The status `sys.exit(code)` would give the process (an object other than None/int: printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def main(args: list[str]) -> None:
    """Run `dbt ARGS`, close the warehouse, flush, and end the process with dbt's exit code."""
    _skip_dropped_lines()
    _longest_chain_first()
    from dbt.cli.main import cli

    try:
        cli.main(args=args, prog_name="dbt")  # click's standalone mode: always ends in SystemExit
        code: object = 0
    except SystemExit as finished:
        code = finished.code
    _close_warehouse()
    if "multiprocessing.util" in sys.modules:  # what atexit would run: frees dbt's semaphores (its adapter's locks),
        sys.modules["multiprocessing.util"]._exit_function()  # else the resource tracker warns of leaked ones
    status = _exit_status(code)
    logging.shutdown()  # flushes and closes dbt.log
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
