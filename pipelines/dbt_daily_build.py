"""The daily build's dbt command, shared by the Dagster transform (pipelines/defs/transform.py) and the benchmark
(benchmarks/dbt_build.py), so that the benchmark measures the dbt process production runs.

Models and data tests, no unit tests (dbt's advice for production runs: tests/dbt/test_dbt_unit_tests.py runs them),
and no JSON artifacts (manifest.json at the start and the end, run_results.json: about 1 CPU s of a build, and nothing
reads them: Dagster takes the results from dbt's structured log lines, the manifest from the parse). dagster-dbt
starts dbt with `DBT_LOG_FORMAT=json` (stdout in JSON lines, at info level): `LOG_ENV` is that setting.
dbt.log keeps dbt's own default file format, one plain line per event (`--log-format-file debug`: without it
DBT_LOG_FORMAT=json makes dbt.log JSON too, a protobuf-to-JSON conversion per event), at `FILE_LOG_LEVEL`: info by
default (each node's start and result, warnings, and for a failed node its message and its compiled SQL's path), so
that, like stdout, it takes none of the ~3,300 debug events a 1M-lead build (each statement, connection and cache
step) and the launcher never builds their messages (about 0.4 ms of serial Python each).
AMOCRM_KPI_DBT_FILE_LOG_LEVEL=debug puts every statement dbt ran back into dbt.log, at that cost (dbt refuses a level
other than debug, info, warn, error, none).
dbt starts through `DBT_COMMAND` (pipelines/dbt_launcher.py: dbt's command line without Python's teardown at the exit,
without building the log events no logger writes, and with Jinja's compiled templates kept for the next build in
dbt_project/target/jinja_compiled); pipelines/defs/dbt_in_data_dir.sh starts the same.
"""

import os
import sys
from pathlib import Path

FILE_LOG_LEVEL = os.environ.get("AMOCRM_KPI_DBT_FILE_LOG_LEVEL", "info")
BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test", "--no-write-json", "--log-format-file", "debug",
              "--log-level-file", FILE_LOG_LEVEL)
LOG_ENV = {"DBT_LOG_FORMAT": "json"}
LAUNCHER = Path(__file__).with_name("dbt_launcher.py")
DBT_COMMAND = (sys.executable, str(LAUNCHER))  # `dbt` as the daily build starts it
