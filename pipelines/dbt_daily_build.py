"""The daily build's dbt command, shared by the Dagster transform (pipelines/defs/transform.py) and the benchmark
(benchmarks/dbt_build.py), so that the benchmark measures the dbt process production runs.

Models and data tests, no unit tests (dbt's advice for production runs: tests/dbt/test_dbt_unit_tests.py runs them),
and no JSON artifacts (manifest.json at the start and the end, run_results.json: about 1 CPU s of a build, and nothing
reads them: Dagster takes the results from dbt's structured log lines, the manifest from the parse). dagster-dbt
starts dbt with `DBT_LOG_FORMAT=json` (every event, debug ones included, becomes a JSON line on stdout and in dbt.log
before dbt drops those below the level: about 0.1 ms an event, 6,600 events a build): `LOG_ENV` is that setting.
"""

BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test", "--no-write-json")
LOG_ENV = {"DBT_LOG_FORMAT": "json"}
