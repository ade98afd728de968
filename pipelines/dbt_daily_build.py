"""The daily build's dbt command, shared by the Dagster transform (pipelines/defs/transform.py) and the benchmark
(benchmarks/dbt_build.py), so that the benchmark measures the dbt process production runs.

Models and data tests, no unit tests (dbt's advice for production runs: tests/dbt/test_dbt_unit_tests.py runs them),
and no JSON artifacts (manifest.json at the start and the end, run_results.json: about 1 CPU s of a build, and nothing
reads them: Dagster takes the results from dbt's structured log lines, the manifest from the parse). dagster-dbt
starts dbt with `DBT_LOG_FORMAT=json` (every event, debug ones included, becomes a JSON line on stdout and in dbt.log
before dbt drops those below the level: about 0.1 ms an event, about 4,100 events a build since the project's own
materializations and folded tests, 6,600 before): `LOG_ENV` is that setting.
dbt.log keeps dbt's own default file format, one plain line per event, debug ones included (`--log-format-file
debug`: without it DBT_LOG_FORMAT=json makes dbt.log JSON too, a protobuf-to-JSON conversion per event); each
failed node's message, its compiled SQL's path and every statement dbt ran are there as before.
dbt starts through `DBT_COMMAND` (pipelines/dbt_launcher.py: dbt's command line without Python's teardown at the exit
and without formatting the log lines its stdout logger drops); pipelines/defs/dbt_in_data_dir.sh starts the same.
"""

import sys
from pathlib import Path

BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test", "--no-write-json", "--log-format-file", "debug")
LOG_ENV = {"DBT_LOG_FORMAT": "json"}
LAUNCHER = Path(__file__).with_name("dbt_launcher.py")
DBT_COMMAND = (sys.executable, str(LAUNCHER))  # `dbt` as the daily build starts it
