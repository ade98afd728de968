"""No silent fallback to the simulated account: partial or misspelled amoCRM settings stop at once,
saying what is set (names only), what is missing and which names are accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.amocrm.connect import connect_from_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "do-not-print-this-token"


def _error(**env: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            connect_from_config()
        assert time.monotonic() - started < 5, "a settings mistake must fail fast, before any request"
    assert type(caught.value).__name__ == "SettingsError"
    message = str(caught.value)
    assert SECRET not in message
    return message


def test_token_without_base_url_is_an_error_not_the_simulator(clean_env):
    message = _error(SOURCES__AMOCRM__ACCESS_TOKEN=SECRET)
    assert "SOURCES__AMOCRM__ACCESS_TOKEN" in message and "missing: base_url" in message
    assert "SOURCES__AMOCRM__BASE_URL" in message  # the accepted names


def test_misspelled_env_var_is_named_with_the_right_spelling(clean_env):
    message = _error(SOURCES__AMOCRM__BASEURL="https://x.amocrm.ru", SOURCES__AMOCRM__ACCESS_TOKEN=SECRET)
    assert "SOURCES__AMOCRM__BASEURL (env): did you mean SOURCES__AMOCRM__BASE_URL?" in message
    assert "missing: base_url" in message


def test_a_lone_near_miss_name_is_an_error(clean_env):
    message = _error(AMOCRM_BASE_URL="https://x.amocrm.ru")
    assert "not recognised: AMOCRM_BASE_URL (env)" in message


def test_half_configured_oauth_lists_what_is_missing(clean_env):
    message = _error(SOURCES__AMOCRM__BASE_URL="https://x.amocrm.ru", SOURCES__AMOCRM__CLIENT_ID="id")
    assert "missing: client_secret, redirect_uri" in message


def test_no_setting_at_all_means_the_simulator(clean_env):
    from pipelines.amocrm import settings

    (clean_env / ".dlt").mkdir()
    (clean_env / ".dlt" / "config.toml").write_text("[sources.amocrm]\nworkers = 2\n")  # tuning only
    assert not settings.inspect().anything
    assert settings.require(None, None, None, None, None) is None


def test_secrets_toml_with_base_url_commented_out_stops_the_cli(clean_env):
    """The issue's case, end to end: `python -m pipelines.amocrm` must not extract the simulator."""
    (clean_env / ".dlt").mkdir()
    (clean_env / ".dlt" / "secrets.toml").write_text(
        f'[sources.amocrm]\n# base_url = "https://x.amocrm.ru"\naccess_token = "{SECRET}"\n')
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(clean_env / "data")}
    result = subprocess.run([sys.executable, "-m", "pipelines.amocrm"], cwd=clean_env, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "access_token (.dlt/secrets.toml [sources.amocrm])" in result.stderr
    assert "missing: base_url" in result.stderr and SECRET not in result.stderr + result.stdout
    assert not (clean_env / "data" / "warehouse.duckdb").exists()
