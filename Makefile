# Everything runs from the project's own .venv, built from the pinned constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench chaos ui postgres simulator lock clean

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Run the main job once and print where the results are: on the configured amoCRM account, or, with
## no amoCRM setting at all, on the embedded simulator (data in data/demo/). VERBOSE=1 prints every event.
demo: $(STAMP)
	$(BIN)/python -m pipelines.demo $(if $(VERBOSE),--verbose)

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadgroup

## Print measured speed and memory figures (not part of the test suite).
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## Chaos campaign: daily runs under seeded API faults and SIGKILLs, then checked against the simulator's truth.
## Overrides: CHAOS_RUNS (12), CHAOS_SEED (1), CHAOS_LEADS (200), CHAOS_KINDS (all), CHAOS_DIR.
chaos: $(STAMP)
	$(BIN)/python -m chaos

## Open the Dagster UI (lineage, checks, schedule) on http://127.0.0.1:3000
## (instance: dagster.yaml, or dagster.postgres.yaml when AMOCRM_KPI_DAGSTER_POSTGRES_URL is set)
ui: $(STAMP)
	DAGSTER_HOME=$$($(BIN)/python -m pipelines.postgres.instance) && \
	DAGSTER_HOME=$$DAGSTER_HOME PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -m pipelines.definitions

## Start the local PostgreSQL server and create the test role and database (prints the URL to export).
postgres:
	@scripts/test-postgres

## Start the amoCRM API simulator alone (prints its URL and a token).
## SIMULATOR_ARGS="--accounts 2" serves several accounts (ports 8765, 8766, ...) and prints their env.
simulator: $(STAMP)
	$(BIN)/python -m pipelines.simulator --port 8765 $(SIMULATOR_ARGS)

## Re-resolve constraints.txt after changing pyproject.toml dependencies.
lock:
	rm -rf /tmp/amocrm-kpi-lock && $(PYTHON) -m venv /tmp/amocrm-kpi-lock
	/tmp/amocrm-kpi-lock/bin/pip install --quiet '.[dev]'
	/tmp/amocrm-kpi-lock/bin/pip freeze --exclude amocrm-kpi > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache dbt_project/target dbt_project/logs
