"""`dbt build` time and peak memory on big simulated accounts, full and incremental.

For each size (100,000 and 1,000,000 leads, with their contacts, companies, events, notes and tasks)
the raw layer is built without HTTP, in a worker process, as dlt writes it (benchmarks/_raw_layer.py).
Then: `dbt build` on the fresh warehouse (full); three simulated days of changes, each loaded the same way
(read from the simulator's API with `filter[...][from]`, as the extractor's incremental run does) and then
built (incremental), as the daily job runs; then `dbt build --full-refresh` on the same data. Prints the
wall time, the CPU seconds (user + system; the kernel's part and the page faults apart) and the peak resident
memory of each dbt process (run as the daily build runs it: pipelines/dbt_daily_build.py's command, arguments
and JSON log lines), the time each model issue 15 added spent in it (from those lines, written to
dbt_target/run_results.json) and their sum, the host's speed
before each incremental build (`host_reference`: the machine is shared, its speed varies by the hour), and a
PASS/MISS line: PASS only if every incremental build is under the 20 s target. Last figures: README "Tests and
benchmarks" (fct_pipeline_daily's incremental run at 100k leads: 0.35 s CPU against 1.14 s for its full build).
The builds share one target folder, so only the first parses the project in full (dbt's partial
parsing); dbt's threads are the profile's (`AMOCRM_KPI_DBT_THREADS`, default 4), e.g. to compare 1 and 4.

    .venv/bin/python -m benchmarks dbt_build            # both sizes
    .venv/bin/python -m benchmarks.dbt_build 20000      # other sizes, e.g. for a quick look
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import duckdb

from benchmarks._raw_layer import load
from pipelines.dbt_daily_build import BUILD_ARGS, DBT_COMMAND, LOG_ENV

SIZES = (100_000, 1_000_000)
SEED = 7
DAY = 86_400
PROJECT_ROOT = Path(__file__).resolve().parent.parent
class Build(NamedTuple):
    """One `dbt build`: wall seconds, peak resident memory (MiB), the CPU seconds (user + system) of the dbt process,
    of which in the kernel, and its page faults. On a machine shared with other work the CPU seconds compare better
    than the wall time; the kernel's share is mostly the first touch of memory the process is given (see
    `host_reference`)."""

    seconds: float
    memory: float
    cpu: float
    kernel: float
    faults: int

    def line(self) -> str:
        return (f"{self.seconds:6.1f}s  CPU {self.cpu:6.1f}s (kernel {self.kernel:4.1f}s, {self.faults / 1e3:,.0f}k "
                f"page faults)  peak {self.memory:,.0f} MiB")


# The daily build's dbt command and log format (pipelines/dbt_daily_build.py): no unit tests, no JSON artifacts,
# JSON log lines. The time of each node is read from those lines (`node_seconds`) and written where dbt's
# run_results.json would be, in its shape (`unique_id`, `execution_time`, `status`; `elapsed_time`).
RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogHookEndLine")


def node_seconds(log_lines: Iterable[str]) -> dict[str, Any]:
    """dbt's JSON log lines -> {"elapsed_time", "results": [{"unique_id", "execution_time", "status"}]}."""
    results, elapsed = [], None
    for line in log_lines:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        name, data = event["info"]["name"], event.get("data", {})
        if name in RESULT_EVENTS:
            results.append({"unique_id": data["node_info"]["unique_id"], "status": data.get("status"),
                            "execution_time": float(data.get("execution_time", 0.0))})
        elif name == "FinishedRunningStats":
            elapsed = float(data.get("execution_time", 0.0))
    return {"written_by": "benchmarks.dbt_build from dbt's log lines", "elapsed_time": elapsed, "results": results}


def _messages(output: str) -> str:
    """dbt's output as text: the message of each JSON log line, other lines as they are."""
    return "\n".join(json.loads(line)["info"]["msg"] if line.startswith("{") else line for line in output.splitlines())


def dbt_build(data_dir: Path, *args: str) -> Build:
    """Run `dbt build` (as the daily build runs it) on the warehouse in `data_dir`."""
    env = {**os.environ, **LOG_ENV, "AMOCRM_KPI_DATA_DIR": str(data_dir)}
    project = PROJECT_ROOT / "dbt_project"
    results = data_dir / "dbt_target" / "run_results.json"
    results.unlink(missing_ok=True)  # an earlier build's must not pass for this one's
    command = [*DBT_COMMAND, *BUILD_ARGS, *args, "--project-dir", str(project), "--profiles-dir", str(project),
               "--target-path", str(data_dir / "dbt_target"), "--log-path", str(data_dir / "dbt_logs")]
    os.sync()  # the load's writes still in the page cache would be flushed during the build, charged to dbt
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"dbt build failed:\n{_messages(output)[-5000:]}")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(node_seconds(output.splitlines())))
    return Build(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, usage.ru_stime,
                 usage.ru_minflt + usage.ru_majflt)


# The models issue 15 added (response, daily pipeline, hygiene, breakdowns): their share of each build.
NEW_MODELS = ("int_lead_touches", "int_lead_first_response", "fct_response", "int_lead_stage_stays",
              "int_stage_stuck_thresholds", "int_pipeline_daily_stays", "fct_pipeline_daily", "fct_crm_hygiene",
              "fct_sales_by_dimension")
TARGET_INCREMENTAL_SECONDS = 20.0
INCREMENTAL_DAYS = 3  # days of changes, each loaded then built as production does: the target holds for every one


def models_seconds(data_dir: Path, names: Iterable[str] = NEW_MODELS) -> str:
    """The time (run_results.json `execution_time`) the last dbt build spent in each of the models `names`,
    and their sum, as text; a name the build did not run is said, not skipped."""
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    seconds = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results
               if r["unique_id"].startswith("model.") and r["unique_id"].split(".")[-1] in set(names)}
    parts = [f"{name} {seconds[name]:.1f}s" if name in seconds else f"{name} not run" for name in names]
    return f"{sum(seconds.values()):.1f}s\n        " + "\n        ".join(parts)


def verdict(seconds: list[float], target: float = TARGET_INCREMENTAL_SECONDS) -> str:
    """The PASS/MISS line of the incremental daily builds against their target: PASS only if every one is under."""
    word = "PASS" if seconds and max(seconds) < target else "MISS"
    each = " / ".join(f"{value:.1f}" for value in seconds)
    return f"{word}  incremental daily build {each} s (worst {max(seconds, default=0):.1f} s), target under {target:.0f}s"


def host_reference() -> str:
    """The host's speed at this moment, as the seconds three fixed pieces of work take: a DuckDB query on 2 threads
    and a Python loop (median of three), and the first write to 256 MiB of memory new to this process (once: a
    second would reuse pages just freed). This machine is shared: the same build varies by 25-70% within hours, and
    these figures, printed beside each build, tell a slower host from slower code. The third is this virtual
    machine's: memory the guest has not used lately is given back to the host, and its first touch then costs up to
    ~20 us a 4 KiB page instead of ~1 (1.5 GiB in 8.2 s against 0.4 s a moment later, 2026-12-03); a daily build
    touches ~2 GB (its page faults), and such first touches were 22% of its CPU in a `perf` profile."""
    def duckdb_seconds() -> float:
        with duckdb.connect() as connection:
            connection.execute("set threads = 2")
            started = time.perf_counter()
            connection.execute("select count(distinct i % 1000003), sum(hash(i)) from range(30000000) t(i)").fetchall()
            return time.perf_counter() - started

    def python_seconds() -> float:
        started, total = time.perf_counter(), 0
        for number in range(3_000_000):
            total += number % 7
        return time.perf_counter() - started

    def first_touch_seconds() -> float:
        started = time.perf_counter()
        memory = bytearray(256 * 2**20)  # zeroed by the kernel page by page as it is first written
        memory[::4096] = b"\1" * (len(memory) // 4096)  # one byte in each page
        return time.perf_counter() - started

    duck = sorted(duckdb_seconds() for _ in range(3))[1]
    python = sorted(python_seconds() for _ in range(3))[1]
    return f"reference DuckDB {duck:.2f}s, Python {python:.2f}s, new memory {first_touch_seconds() * 4:.2f}s/GiB"


def _load_job(leads: int, now: int, warehouse: Path, since: int | None) -> dict[str, int]:
    """`load` in a worker process: the account is regenerated there (deterministic for the same seed,
    size and `now`), so this process stays small and the dbt processes' peak memory is their own."""
    from pipelines.simulator import SimulatedAccount

    account = SimulatedAccount.generate(seed=SEED, leads=leads, now=now)
    return load(account, warehouse, now if since is None else since + DAY, since)


def _in_worker(*args: Any) -> dict[str, int]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_load_job, *args).result()


def run(leads: int, work_dir: Path) -> None:
    data_dir = work_dir / f"leads_{leads}"
    data_dir.mkdir(parents=True)
    warehouse = data_dir / "warehouse.duckdb"
    now = int(time.time()) // 3600 * 3600
    started = time.monotonic()
    counts = _in_worker(leads, now, warehouse, None)
    with duckdb.connect(str(warehouse)) as connection:  # the user inputs, empty: not what is measured
        connection.execute("create schema raw_inputs")
        connection.execute("create table raw_inputs.marketing_spend (month date, channel varchar, "
                           "amount decimal(18, 2), source_line integer)")
        connection.execute("create table raw_inputs.sales_targets (month date, manager varchar, "
                           "target_revenue decimal(18, 2), target_deals integer, source_line integer)")
    size = warehouse.stat().st_size / 2**20
    print(f"{leads:,} leads: raw layer of {sum(counts.values()):,} rows ({size:,.0f} MiB) built in "
          f"{time.monotonic() - started:,.0f}s; leads {counts['leads']:,}, events {counts['events']:,}, "
          f"notes {counts['notes']:,}, tasks {counts['tasks']:,}", flush=True)

    build = dbt_build(data_dir)
    print(f"{leads:,} leads: dbt build (full)          {build.line()}", flush=True)
    print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)
    builds = []
    for day in range(INCREMENTAL_DAYS):
        since = now + day * DAY
        changed = _in_worker(leads, now, warehouse, since)
        print(f"{leads:,} leads: day {day + 1} of changes: {sum(changed.values()):,} rows "
              f"(events {changed['events']:,}, notes {changed['notes']:,}, tasks {changed['tasks']:,}, "
              f"leads {changed['leads']:,}); host {host_reference()}", flush=True)
        builds.append(dbt_build(data_dir))
        print(f"{leads:,} leads: dbt build (incremental)   {builds[-1].line()}", flush=True)
        print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)
    print(f"{leads:,} leads: {verdict([build.seconds for build in builds])}", flush=True)
    build = dbt_build(data_dir, "--full-refresh")
    print(f"{leads:,} leads: dbt build --full-refresh  {build.line()}", flush=True)
    print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)


def main(sizes: Iterable[int] = SIZES) -> None:
    work_dir = Path(tempfile.mkdtemp(prefix="amocrm-kpi-bench-"))
    try:
        for leads in sizes:
            run(leads, work_dir)
            shutil.rmtree(work_dir / f"leads_{leads}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or SIZES)
