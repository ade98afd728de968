"""Named accounts in the config (`[sources.amocrm.accounts.<key>]`): each read by its own path, every
mistake named with its account, and several accounts in one data folder refused out loud."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.amocrm.accounts import configured_accounts, the_account
from pipelines.amocrm.run import run_extraction
from pipelines.amocrm.settings import SettingsError, inspect

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "do-not-print-this-token"
ACME = "SOURCES__AMOCRM__ACCOUNTS__ACME__"
BETA = "SOURCES__AMOCRM__ACCOUNTS__BETA__"


def _settings_error(**env: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises(SettingsError) as caught:
            configured_accounts()
    assert SECRET not in str(caught.value)
    return str(caught.value)


def test_named_accounts_keep_their_own_values(clean_env, monkeypatch):
    """In-process, from env (dlt keeps the TOML files it read per process: the CLI test below reads TOML)."""
    for name, value in {"SOURCES__AMOCRM__BASE_URL": "https://main.amocrm.ru", "SOURCES__AMOCRM__ACCESS_TOKEN": "t-main",
                        ACME + "BASE_URL": "https://acme.amocrm.ru", ACME + "ACCESS_TOKEN": "t-acme",
                        BETA + "BASE_URL": "https://beta.kommo.com", BETA + "ACCESS_TOKEN": "t-beta",
                        BETA + "REQUESTS_PER_SECOND": "3"}.items():
        monkeypatch.setenv(name, value)
    accounts = {a.key: a for a in configured_accounts()}
    assert list(accounts) == ["default", "acme", "beta"]
    assert {k: (a.base_url, a.values["access_token"], a.mode) for k, a in accounts.items()} == {
        "default": ("https://main.amocrm.ru", "t-main", "token"),
        "acme": ("https://acme.amocrm.ru", "t-acme", "token"),
        "beta": ("https://beta.kommo.com", "t-beta", "token")}
    assert accounts["beta"].values["requests_per_second"] == 3.0
    assert accounts["acme"].values["requests_per_second"] == 7.0


def test_toml_accounts_are_recognised(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[sources.amocrm.accounts.beta]\nbase_url = "https://beta.kommo.com"\naccess_token = "x"\n'
                       '[sources.amocrm.accounts.Beta2]\nbase_url = "https://b2.kommo.com"\n')
    found = inspect(environ={}, toml_files=[secrets])
    assert sorted(found.accounts["beta"].present) == ["access_token", "base_url"]
    assert found.bad_accounts == ["sources.amocrm.accounts.Beta2.base_url (tmp0/secrets.toml): 'Beta2' is not a valid "
                                  "account key (lower-case letters, digits and _, starting with a letter, at most 31 "
                                  "characters, no __)".replace("tmp0", tmp_path.name)]


def test_a_named_account_never_borrows_the_default_accounts_token(clean_env):
    message = _settings_error(SOURCES__AMOCRM__BASE_URL="https://main.amocrm.ru",
                              SOURCES__AMOCRM__ACCESS_TOKEN=SECRET, **{ACME + "BASE_URL": "https://acme.amocrm.ru"})
    assert "account 'acme'" in message and "missing: access_token" in message
    assert ACME + "ACCESS_TOKEN" in message  # the names that would be accepted


def test_an_invalid_account_key_is_an_error_not_a_skipped_account(clean_env):
    message = _settings_error(SOURCES__AMOCRM__BASE_URL="https://main.amocrm.ru", SOURCES__AMOCRM__ACCESS_TOKEN=SECRET,
                              **{"SOURCES__AMOCRM__ACCOUNTS__2ND__BASE_URL": "https://x.amocrm.ru",
                                 "SOURCES__AMOCRM__ACCOUNTS__DEFAULT__ACCESS_TOKEN": SECRET})
    assert "'2nd' is not a valid account key" in message
    assert "'default' is the account of [sources.amocrm] itself" in message


def test_two_accounts_on_one_host_are_refused(clean_env):
    message = _settings_error(SOURCES__AMOCRM__BASE_URL="https://acme.amocrm.ru", SOURCES__AMOCRM__ACCESS_TOKEN=SECRET,
                              **{ACME + "BASE_URL": "https://ACME.amocrm.ru/", ACME + "ACCESS_TOKEN": SECRET})
    assert "'default' and 'acme' both point at acme.amocrm.ru" in message


def test_several_accounts_in_one_data_folder_stop_the_cli_before_any_request(clean_env):
    (clean_env / ".dlt").mkdir()
    (clean_env / ".dlt" / "secrets.toml").write_text(
        f'[sources.amocrm.accounts.beta]\nbase_url = "https://beta.kommo.com"\naccess_token = "{SECRET}"\n')
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(clean_env / "data"),
            "SOURCES__AMOCRM__BASE_URL": "https://main.amocrm.ru", "SOURCES__AMOCRM__ACCESS_TOKEN": SECRET,
            ACME + "BASE_URL": "https://acme.amocrm.ru", ACME + "ACCESS_TOKEN": SECRET}
    result = subprocess.run([sys.executable, "-m", "pipelines.amocrm"], cwd=clean_env, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "3 amoCRM accounts are configured (default, acme, beta)" in result.stderr
    assert "python -m pipelines.amocrm --all" in result.stderr and SECRET not in result.stderr + result.stdout
    assert not (clean_env / "data" / "warehouse.duckdb").exists()


def test_one_named_account_alone_is_extracted(clean_env, monkeypatch, sim):
    """Only `[sources.amocrm.accounts.acme]` set: that account is read, not the simulator, not an error."""
    monkeypatch.setenv(ACME + "BASE_URL", sim.base_url)
    monkeypatch.setenv(ACME + "ACCESS_TOKEN", sim.long_lived_token)
    assert the_account().key == "acme"
    summary = run_extraction(resources=["users", "leads"])
    live = sim.truth().leads.query("not is_deleted")
    assert summary.rows["leads"] == len(live) > 0
    assert "127.0.0.1" in summary.source  # the configured account, not a fresh embedded simulator
