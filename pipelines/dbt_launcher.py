"""`dbt` for the daily build: dbt's own command line, with two costs of the plain `dbt` script taken out.

1. The exit. After dbt's last log line the plain script spends 1-4 s in Python's interpreter teardown (freeing the
   ~1.5 GB of objects a 1M-lead build leaves: manifest, graph, events), work whose result nobody sees. Here dbt's
   command line runs to its end as usual (its result, its messages, its exit code), then the warehouse is closed
   (DuckDB writes its checkpoint and removes the .wal: dbt has normally done so already when its last connection
   closed; a still-open one is closed here, and an error doing so ends this process the ordinary, loud way), the
   semaphores of dbt's locks are freed, stdout, stderr and dbt.log are flushed, and the process ends with dbt's
   exit code without the teardown (`os._exit`).
   An exception that escapes dbt's command line is not caught: Python prints it and exits as usual.
2. Log events nobody writes. dbt builds a message for every event (about 3,700 a 1M-lead build, 3,300 of them
   debug: each statement, connection and cache step; about 0.4 ms of serial Python each) and formats it for each of its
   loggers, then Python's `logging` drops those below the logger's level. Here an event that no logger would write
   (below every logger's level, no callback, not one of dbt's print events) is skipped before its message is built,
   and a logger skips formatting an event it would drop; what reaches stdout and dbt.log is unchanged. The daily
   build logs at info to stdout (dagster-dbt) and to dbt.log (pipelines/dbt_daily_build.py), so its debug events
   are never built; with dbt.log at debug they all are, as with the plain `dbt`. `PATCHED` names the dbt internals
   this relies on: tests/dbt/test_dbt_launcher.py fails when an upgrade renames them.

Run as `python pipelines/dbt_launcher.py ARGS...` (by path: it imports nothing of the project), with the
arguments of `dbt ARGS...`. The Dagster transform starts it through pipelines/defs/dbt_in_data_dir.sh, the
benchmark through `pipelines.dbt_daily_build.DBT_COMMAND`.
"""

from __future__ import annotations

import logging
import os
import sys

PATCHED = ("dbt_common.events.logger._Logger.write_line", "dbt_common.events.logger._log_level_map",
           "dbt_common.events.logger._is_print_event", "dbt_common.events.logger.PRINT_EVENT_NAMES",
           "dbt_common.events.event_manager.EventManager.fire_event",
           "dbt_common.events.base_types.BaseEvent.level_tag",
           "dbt.adapters.duckdb.connections.DuckDBConnectionManager._ENV", "multiprocessing.util._exit_function")


def _skip_unwanted_events() -> None:
    """Make dbt skip an event none of its loggers would write before building its message, and make a logger skip
    formatting an event its Python logger would drop for its level."""
    from dbt_common.events import logger as dbt_logger
    from dbt_common.events.event_manager import EventManager

    write_line, fire_event, levels = dbt_logger._Logger.write_line, EventManager.fire_event, dbt_logger._log_level_map

    def drops(python_logger, level) -> bool:  # noqa: ANN001
        return python_logger is not None and level is not None and not python_logger.isEnabledFor(level)

    def write_line_if_kept(self, msg) -> None:  # noqa: ANN001 (dbt's signature)
        if not dbt_logger._is_print_event(msg) and drops(self._python_logger, levels.get(msg.info.level)):
            return
        write_line(self, msg)

    def fire_event_if_written(self, e, level=None, node=None,  # noqa: ANN001 (dbt's signature)
                              force_warn_or_error_handling=False) -> None:
        wanted = levels.get(level or e.level_tag())
        if (self.loggers and not self.callbacks and not force_warn_or_error_handling
                and type(e).__name__ not in dbt_logger.PRINT_EVENT_NAMES
                and all(drops(logger._python_logger, wanted) for logger in self.loggers)):
            return
        fire_event(self, e, level, node, force_warn_or_error_handling)

    dbt_logger._Logger.write_line = write_line_if_kept
    EventManager.fire_event = fire_event_if_written


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
    _skip_unwanted_events()
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
