#!/bin/sh
# dbt as Dagster runs it (pipelines/defs/transform.py): in the data folder, with the profile's data
# folder given as ".". The profile then reads the same for every data folder, so dbt's partial-parse
# state check (a hash of the profile's connection values, the warehouse path among them) accepts the
# parse prepared with the project, instead of parsing the whole project again at every run.
if [ -z "$AMOCRM_KPI_DATA_DIR" ]; then
  echo "dbt_in_data_dir.sh: AMOCRM_KPI_DATA_DIR is not set; it names the data folder whose warehouse dbt builds" >&2
  exit 2
fi
# dagster-dbt gives dbt's log folder relative to the dbt project, where dbt.log belongs, not the data folder.
if [ -n "$DBT_PROJECT_DIR" ]; then
  case "$DBT_LOG_PATH" in
    ""|/*) ;;
    *) DBT_LOG_PATH="$DBT_PROJECT_DIR/$DBT_LOG_PATH"; export DBT_LOG_PATH ;;
  esac
fi
# dbt's command line through pipelines/dbt_launcher.py (no interpreter teardown at the exit), run by the
# interpreter of the `dbt` on PATH (transform.py puts the venv's first).
launcher="$(cd "$(dirname "$0")/.." && pwd)/dbt_launcher.py"
dbt_bin="$(command -v dbt)" || { echo "dbt_in_data_dir.sh: no dbt on PATH" >&2; exit 2; }
cd "$AMOCRM_KPI_DATA_DIR" || exit 2
AMOCRM_KPI_DATA_DIR=. exec "$(dirname "$dbt_bin")/python" "$launcher" "$@"
