"""Several amoCRM accounts loaded into one warehouse, each through its own dlt pipeline (issue 14, step 2).

Real: hub simulators over HTTP (overlapping ids, different data), dlt into a temp DuckDB, the CLI as a
subprocess, `dbt build` on the shared warehouse with every mart checked per account against the reference. Every account's raw rows equal its own truth; what one account does (a status deleted, a
new account added, a revoked token) leaves the others' rows, load ids and pipeline state alone.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from amocrm_checks import FAST, NOW, assert_matches_truth, table
from kpi_reference import MARTS, KpiReference, MultiReference, assert_mart_matches

from pipelines import paths
from pipelines.amocrm import migrate
from pipelines.amocrm.run import run_extraction
from pipelines.amocrm.settings import SettingsError
from pipelines.simulator import reference as ref
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _build_and_check_marts(hub: Simulators, keys: tuple[str, ...]) -> None:
    """`dbt build` the warehouse the per-account pipelines loaded (with each account's inputs) and check
    every mart against each account's own reference, each as of its own extraction."""
    from tests.conftest import Warehouse, example_inputs

    warehouse = Warehouse(data_dir=paths.data_dir(), sim=None)
    references = {}
    for key in keys:
        truth = hub[key].truth()
        account_id = int(truth.account["id"])
        spend, targets = example_inputs(truth, NOW)
        spend = [{**row, "account": truth.account["subdomain"]} for row in spend]
        targets = [{**row, "account": str(account_id)} for row in targets]
        warehouse.spend, warehouse.targets = warehouse.spend + spend, warehouse.targets + targets
        extracted_at = _query("select epoch(max(l.inserted_at)) from raw_amocrm._dlt_loads as l "
                              "inner join raw_amocrm.extractions as e on e._dlt_load_id = l.load_id "
                              f"where l.status = 0 and e.account_id = {account_id}")[0][0]
        references[account_id] = KpiReference(truth, extracted_at=float(extracted_at), spend=spend, targets=targets)
    warehouse.load_inputs()
    warehouse.dbt("build")
    reference = MultiReference(references)
    for name in MARTS:
        assert_mart_matches(warehouse.query(f"select * from marts.{name}"), reference, name)
    accounts = warehouse.query("select account_id, currency, timezone, epoch(extracted_at) as at "
                               "from marts.dim_accounts order by account_id")
    assert [(row.account_id, row.currency, row.timezone) for row in accounts.itertuples()] == sorted(
        (a, r.truth.account["currency"], r.truth.account["timezone"]) for a, r in references.items())
    for row in accounts.itertuples():
        assert abs(row.at - references[row.account_id].extracted_at) < 1e-3


def _query(sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql).fetchall()


def _env(hub: Simulators, *keys: str) -> dict[str, str]:
    prefixes = tuple(f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__" for key in keys)
    return {name: value for name, value in hub.env().items() if name.startswith(prefixes)}


def _raw_tables() -> list[str]:
    present = {row[0] for row in _query("select table_name from information_schema.tables "
                                        "where table_schema = 'raw_amocrm' and table_name not like '\\_dlt%' escape '\\'")}
    return sorted(present & (migrate.raw_tables() | {"extractions"}))


def _account_rows(account_id: int) -> dict[str, list[tuple]]:
    """Every raw table's rows of one account (all columns, sorted): to show they did not change."""
    return {name: sorted(map(str, _query(f"select * from raw_amocrm.{name} where account_id = {account_id}")))
            for name in _raw_tables()}


def _delete_status(sim, pipeline_id: int, status_id: int, at: int) -> None:
    timeline = sim.account.timeline
    sim.account.timeline = dataclasses.replace(
        timeline, deleted_statuses=(*timeline.deleted_statuses, (pipeline_id, status_id, at)))


@pytest.fixture
def hub(clean_env):
    with Simulators.generate(derived_specs(3, seed=11, leads=150), now=NOW, horizon_days=60, rate_limit=None) as running:
        yield running


def test_accounts_share_one_warehouse_without_touching_each_other(hub, monkeypatch):
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(paths.data_dir_setting()))
    for name, value in _env(hub, "acc1", "acc2").items():
        monkeypatch.setenv(name, value)
    ids = {key: hub[key].truth().account["id"] for key in hub}
    with pytest.raises(SettingsError, match="--all"):  # single-account paths never pick one silently
        run_extraction(**FAST)

    for key in ("acc1", "acc2"):
        run_extraction(account_key=key, **FAST)
    truths = hub.truths()
    for key in ("acc1", "acc2"):  # overlapping ids, yet each account's rows are its own
        assert_matches_truth(truths[key], account_id=ids[key])
    shared = set(table("leads", ids["acc1"]).id) & set(table("leads", ids["acc2"]).id)
    assert len(shared) > 50
    for name in _raw_tables():
        assert _query(f"select count(*) from raw_amocrm.{name} where account_id is null") == [(0,)], name
    for name, key in (("leads", "id"), ("pipeline_statuses", "pipeline_id, id"), ("users", "id")):
        assert _query(f"select count(*) - count(distinct (account_id, {key})) from raw_amocrm.{name}") == [(0,)], name
    assert {row for row in _query("select account_id, count(*) from raw_amocrm.users group by 1")} == {
        (ids["acc1"], len(truths["acc1"].users)), (ids["acc2"], len(truths["acc2"].users))}
    assert sorted(_query("select account_key, pipeline_name, account_id, currency, timezone, simulated "
                         "from raw_amocrm.extractions")) == [
        ("acc1", "amocrm_acc1", ids["acc1"], "RUB", "Europe/Moscow", False),
        ("acc2", "amocrm_acc2", ids["acc2"], "KZT", "Asia/Almaty", False)]
    # every load id names its account: the extraction row came in the same package as the data
    assert _query("select count(*) from raw_amocrm.leads as l anti join raw_amocrm.extractions as e "
                  "on e._dlt_load_id = l._dlt_load_id and e.account_id = l.account_id") == [(0,)]
    assert [r[0] for r in _query("select account_id from raw_amocrm.source_origin order by 1")] == [ids["acc1"], ids["acc2"]]
    _build_and_check_marts(hub, ("acc1", "acc2"))  # one warehouse, two accounts: every mart per account

    # account 1 deletes a status: its row goes, account 2's statuses keep their rows and load ids
    pipeline = ref.PIPELINES[0]
    gone = (pipeline.id, pipeline.status_id(2))
    _delete_status(hub["acc1"], *gone, at=NOW + 60)
    hub.advance(hours=1)
    before_b = _account_rows(ids["acc2"])
    run_extraction(account_key="acc1", **FAST)
    statuses_a = set(_query(f"select pipeline_id, id from raw_amocrm.pipeline_statuses where account_id = {ids['acc1']}"))
    assert gone not in statuses_a
    assert statuses_a == set(hub["acc1"].truth().statuses[["pipeline_id", "id"]].itertuples(index=False, name=None))
    assert gone in set(_query(f"select pipeline_id, id from raw_amocrm.pipeline_statuses where account_id = {ids['acc2']}"))
    assert _account_rows(ids["acc2"]) == before_b
    assert_matches_truth(hub["acc1"].truth(), account_id=ids["acc1"], stale_links=True)
    enum_orphans = _query("select count(*) from raw_amocrm.custom_fields__enums as e anti join raw_amocrm.custom_fields "
                          "as f on f._dlt_id = e._dlt_root_id")
    assert enum_orphans == [(0,)]

    # account 3 added later: back-filled whole; accounts 1 and 2 keep rows, load ids and pipeline state
    before = {key: _account_rows(ids[key]) for key in ("acc1", "acc2")}
    state = _query("select pipeline_name, version, _dlt_load_id from raw_amocrm._dlt_pipeline_state order by all")
    for name, value in _env(hub, "acc3").items():
        monkeypatch.setenv(name, value)
    run_extraction(account_key="acc3", **FAST)
    assert_matches_truth(hub["acc3"].truth(), account_id=ids["acc3"])
    assert {key: _account_rows(ids[key]) for key in ("acc1", "acc2")} == before
    after = _query("select pipeline_name, version, _dlt_load_id from raw_amocrm._dlt_pipeline_state order by all")
    assert [row for row in after if row[0] != "amocrm_acc3"] == state
    assert {row[0] for row in after} == {"amocrm_acc1", "amocrm_acc2", "amocrm_acc3"}
    assert (Path(paths.data_dir_setting()) / "accounts" / "acc3" / "amocrm_account.json").exists()

    # `reconcile-ids --account acc2`: acc2's ids against its own amoCRM; the other accounts' rows stay
    from pipelines.amocrm.__main__ import main as amocrm_main

    before = {key: _account_rows(ids[key]) for key in ("acc1", "acc3")}
    assert amocrm_main(["reconcile-ids", "--account", "acc2"]) == 0
    for key in ("acc1", "acc3"):
        after = _account_rows(ids[key])
        for name, rows in after.items():  # a table the reconciliation made holds none of theirs
            assert rows == before[key].get(name, []), (key, name)
    live = {row[0] for row in _query(f"select id from raw_amocrm.leads where account_id = {ids['acc2']} "
                                     "and is_deleted is distinct from true")}
    truth = hub["acc2"].truth().leads
    assert live and live <= set(truth.loc[~truth["is_deleted"].astype(bool), "id"].astype(int))  # (+1 h: new ones wait)
    assert _query("select distinct account_id from raw_amocrm.reconciliations") == [(ids["acc2"],)]


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    full |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(cwd / "data"), **env}
    return subprocess.run([sys.executable, "-m", "pipelines.amocrm", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=600)


def test_all_loads_the_others_when_one_accounts_token_is_revoked(hub, clean_env):
    env = _env(hub, "acc1", "acc2")
    for key in ("acc1", "acc2"):
        env[f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__REQUESTS_PER_SECOND"] = "1000"
    hub["acc1"].revoke_tokens()
    result = _cli(["--all", "--resources", "account,users,pipelines,pipeline_statuses,leads"], env, clean_env)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "amoCRM extraction of account 'acc1' failed" in result.stderr
    assert "accounts loaded: acc2; FAILED: acc1" in result.stderr
    with duckdb.connect(str(clean_env / "data" / "warehouse.duckdb"), read_only=True) as con:
        loaded = con.execute("select account_id, count(*) from raw_amocrm.leads group by 1").fetchall()
    truth = hub["acc2"].truth()
    assert loaded == [(truth.account["id"], int((~truth.leads.is_deleted).sum()))]

    single = _cli(["--account", "nope"], env, clean_env)  # an unknown key is named, nothing runs
    assert single.returncode == 2 and "no amoCRM account 'nope' is configured (configured: acc1, acc2)" in single.stderr


def test_each_account_rotates_its_own_token_store(hub, clean_env, monkeypatch, capsys):
    """OAuth2 on two named accounts: `authorize --account` fills that account's store only, and each
    run refreshes through its own store (refresh tokens are single-use: a shared store would lose one)."""
    from pipelines.amocrm.__main__ import main as amocrm_main

    for key in ("acc1", "acc2"):
        app, prefix = hub[key].oauth, f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__"
        for name, value in {"BASE_URL": hub[key].base_url, "CLIENT_ID": app.client_id,
                            "CLIENT_SECRET": app.client_secret, "REDIRECT_URI": app.redirect_uri}.items():
            monkeypatch.setenv(prefix + name, value)
    monkeypatch.setenv("SOURCES__AMOCRM__ACCOUNTS__ACC1__REFRESH_TOKEN", hub["acc1"].issue_refresh_token())
    assert amocrm_main(["authorize", "--code", hub["acc2"].issue_authorization_code(), "--account", "acc2"]) == 0
    stores = {key: paths.tokens_path(key) for key in ("acc1", "acc2")}
    assert stores["acc2"] == paths.data_dir() / "accounts" / "acc2" / "amocrm_tokens.json"
    assert "token pair of account 'acc2' stored in" in capsys.readouterr().out
    assert stores["acc2"].exists() and not stores["acc1"].exists() and not paths.tokens_path().exists()
    for key in ("acc1", "acc2"):
        run_extraction(account_key=key, resources=["account", "users"], **FAST)
    assert stores["acc1"].exists()  # acc1 seeded from its configured refresh token, rotated into its own store
    assert stores["acc1"].read_text() != stores["acc2"].read_text()
    ids = {key: hub[key].truth().account["id"] for key in ("acc1", "acc2")}
    assert sorted(_query("select account_id from raw_amocrm.account")) == sorted((i,) for i in ids.values())


def test_two_keys_on_one_amocrm_account_are_refused(hub, clean_env, monkeypatch):
    """The same account under two keys (two names for one host) would load its rows twice: the second
    key stops before loading anything, naming both keys."""
    sim = hub["acc1"]
    for key, url in (("acc1", sim.base_url), ("twin", sim.base_url.replace("127.0.0.1", "localhost"))):
        monkeypatch.setenv(f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__BASE_URL", url)
        monkeypatch.setenv(f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__ACCESS_TOKEN", sim.long_lived_token)
    run_extraction(account_key="acc1", resources=["account"], **FAST)
    with pytest.raises(Exception) as caught:
        run_extraction(account_key="twin", resources=["account"], **FAST)
    chain, error = [], caught.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("The account keys 'acc1' and 'twin' both reach" in text for text in chain), chain[-1]
    assert _query("select count(*) from raw_amocrm.account") == [(1,)]
    assert not (paths.data_dir() / "accounts" / "twin" / "amocrm_account.json").exists()
