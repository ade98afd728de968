"""What a person sees of a job run started from the terminal (`make demo`).

Dagster's console logger prints every event, every dbt model and, on a failure,
a traceback hundreds of lines long with the cause several exceptions deep. Here
the terminal gets one line per step (started, done, failed, retried) and the
warnings; the complete log, tracebacks included, goes to a file; and after the
run `summary()` counts what was built and checked, and `failure()` names the
root cause in plain words as the last line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import dagster as dg
from dagster import DagsterEventType

from pipelines.amocrm.client import AmoError

LOGGER_NAME = "amocrm_kpi_job"
STEP_EVENTS = {
    DagsterEventType.STEP_START: "started",
    DagsterEventType.STEP_SUCCESS: "done",
    DagsterEventType.STEP_FAILURE: "FAILED",
    DagsterEventType.STEP_UP_FOR_RETRY: "failed, will be retried",
}


class _TerminalFilter(logging.Filter):
    """Step lines and warnings only (everything, when verbose); tracebacks stay in the log file."""

    def __init__(self, verbose: bool, steps: set[str]):
        super().__init__()
        self.verbose, self.steps = verbose, steps  # steps: those that build assets (checks are counted after)

    def filter(self, record: logging.LogRecord) -> bool:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if self.verbose:
            return record.levelno >= logging.INFO
        if event is not None:
            step = meta.get("step_key")
            if event.event_type not in STEP_EVENTS or (step not in self.steps and not event.is_step_failure):
                return False
            record.short = f"{meta.get('step_key') or ''}: {STEP_EVENTS[event.event_type]}"
            return True
        message = str(meta.get("orig_message", ""))
        if message.startswith("Dependencies for step"):  # steps skipped after a failure: the failure says why
            return False
        if "was yielded which is not selected" in message:  # a dbt source test of a raw asset the transform
            return False  # job does not select: recorded all the same, nothing for a person to do
        if record.levelno >= logging.WARNING:
            record.short = f"warning ({meta.get('step_key') or 'run'}): {message or record.getMessage()}"
            return True
        return False


class _ShortFormatter(logging.Formatter):
    def __init__(self, label: str = ""):
        super().__init__()
        self.label = f"[{label}] " if label else ""  # which account, when several extract at once

    def format(self, record: logging.LogRecord) -> str:
        text = getattr(record, 'short', None) or record.getMessage()
        return f"{self.formatTime(record, '%H:%M:%S')}  {self.label}{text}"


@dg.logger(config_schema={"log_path": str, "verbose": bool, "steps": [str],
                          "label": dg.Field(str, is_required=False, default_value="")},
           description="terminal summary + full log file")
def terminal_and_file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger(LOGGER_NAME, level=logging.DEBUG)
    to_file = logging.FileHandler(config["log_path"], encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(to_file)
    to_terminal = logging.StreamHandler(sys.__stdout__)  # sys.stdout is the log file while the job runs
    to_terminal.addFilter(_TerminalFilter(config["verbose"], set(config["steps"])))
    if not config["verbose"]:
        to_terminal.setFormatter(_ShortFormatter(config["label"]))
    logger.addHandler(to_terminal)
    return logger


def run_job(job: dg.JobDefinition, instance: dg.DagsterInstance, log_path: Path, verbose: bool,
            partition_key: Optional[str] = None, tags: Optional[dict[str, str]] = None, label: str = ""):
    """Run `job` in this process; the terminal gets step lines (prefixed `[label]`), `log_path` everything
    (with `verbose`, the terminal too). dagster-dbt prints dbt's lines to sys.stdout: they go to the file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    steps = sorted({a.node_def.name for a in job.asset_layer.asset_graph.assets_defs if a.is_executable and a.keys})
    config = {"log_path": str(log_path), "verbose": verbose, "steps": steps, "label": label}
    with open(log_path, "a", encoding="utf-8") as raw_output, _library_logs_to(log_path):
        with contextlib.redirect_stdout(sys.stdout if verbose else raw_output):
            return job.with_logger_defs({"terminal": terminal_and_file_logger}).execute_in_process(
                instance=instance, run_config={"loggers": {"terminal": {"config": config}}}, raise_on_error=False,
                partition_key=partition_key, tags=tags)


@contextlib.contextmanager
def _library_logs_to(log_path: Path) -> Iterator[None]:
    """Python logging of the libraries (dlt, dbt adapter...) into the log file too, for the run."""
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def dbt_totals(log_path: Path) -> Optional[str]:
    """dbt's own closing line (`Done. PASS=.. WARN=.. ERROR=..`), from the log file."""
    lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()
             if line.startswith("Done. PASS=")] if log_path.exists() else []
    return lines[-1].removeprefix("Done. ") if lines else None


def summary(result: Any, log_path: Path) -> str:
    """Counts instead of one line per dbt model and test."""
    materialized = sum(1 for event in result.all_events if event.event_type == DagsterEventType.ASSET_MATERIALIZATION)
    checks = result.get_asset_check_evaluations()
    failed = [c for c in checks if not c.passed]
    blocking = [c for c in failed if c.severity == dg.AssetCheckSeverity.ERROR]
    lines = [f"{materialized} assets materialized; {len(checks)} checks: {len(checks) - len(failed)} passed, "
             f"{len(failed) - len(blocking)} warned, {len(blocking)} failed"]
    totals = dbt_totals(log_path)
    if totals:
        lines.append(f"dbt build: {totals}")
    lines += [f"  check {'FAILED' if c in blocking else 'warning'}: {c.asset_key.to_user_string()} "
              f"{c.check_name}: {_why(c)}" for c in failed]
    return "\n".join(lines)


def _why(check: Any) -> str:
    """The check's own words; a dbt test has none, so its failing row count and where to read the rule."""
    if check.description:
        return check.description
    rows = check.metadata.get("dagster_dbt/failed_row_count")
    counted = f"{rows.value} rows break it" if rows is not None else "it failed"
    return f"{counted} (dbt test: its rule and why it matters are in the dbt project's YAML and docs)"


def failure(result: Any, log_path: Path) -> str:
    """Which steps failed and why, the root cause last (the traceback is in the log file)."""
    lines = [f"\nThe run failed. Full log with tracebacks: {log_path}   (run history: make ui -> Runs)"]
    lines += [f"Failed step {step}: {cause}" for step, cause in causes(result)]
    return "\n".join(lines)


def causes(result: Any) -> list[tuple[str, str]]:
    """(failed step, its root cause) of a failed run; ("run", why) when no step failed."""
    found = [(event.step_key, root_cause(event.step_failure_data)) for event in result.all_events
             if event.is_step_failure and event.step_failure_data]
    if not found:
        run_failures = [e.message for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE]
        found = [("run", run_failures[-1] if run_failures else "see the log file")]
    return found


def root_cause(failure_data: Any) -> str:
    """The message a person can act on: a deliberate `dg.Failure`'s description, else the innermost
    amoCRM error of the chain, else the innermost exception."""
    if failure_data.user_failure_data and failure_data.user_failure_data.description:
        return failure_data.user_failure_data.description
    chain = list(_chain(failure_data.error))
    if not chain:
        return "unknown error (see the log file)"
    amo = [error for error in chain if error.cls_name in _amo_error_names()]
    chosen = (amo or chain)[-1]
    return chosen.message.strip().removeprefix(f"{chosen.cls_name}: ")


def _chain(error: Optional[Any]) -> Iterator[Any]:
    while error is not None:
        yield error
        error = error.cause or error.context


def _amo_error_names() -> set[str]:
    names, todo = set(), [AmoError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names
