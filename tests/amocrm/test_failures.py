"""Failures: OAuth rotation and lost pairs, blocks, 429 storms, 5xx bursts, bad pages, a killed run, secrets."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from amocrm_checks import FAST, amo_error, assert_matches_truth, extract, table
from pipelines import paths
from pipelines.amocrm import run_extraction
from pipelines.amocrm.auth import TokenStore
from pipelines.amocrm.client import AmoAuthError, AmoBlockedError, AmoPayloadError
from pipelines.simulator import Simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def oauth(sim: Simulator, refresh_token: str | None) -> dict:
    app = sim.oauth
    return {"client_id": app.client_id, "client_secret": app.client_secret, "redirect_uri": app.redirect_uri,
            "refresh_token": refresh_token}


def oauth_extract(sim: Simulator, refresh_token: str | None, **kw):
    return run_extraction(base_url=sim.base_url, **oauth(sim, refresh_token), **FAST, **kw)


def test_oauth_rotates_and_persists_the_pair(sim):
    seed = sim.issue_refresh_token()
    oauth_extract(sim, seed)
    store = paths.tokens_path()
    assert store.stat().st_mode & 0o777 == 0o600
    first = TokenStore(store).load()
    assert first["refresh_token"] != seed  # the seed was spent; the store has the live pair

    sim.clock.advance(days=2)  # the access token expired (simulated time): refreshed once on the 401
    oauth_extract(sim, seed)  # the configured (dead) seed is ignored: same lineage, the store wins
    second = TokenStore(store).load()
    assert second["refresh_token"] != first["refresh_token"]
    assert_matches_truth(sim.truth(), stale_links=True)


def test_crash_between_refresh_and_save_is_recovered_with_a_new_code(sim, monkeypatch):
    seed = sim.issue_refresh_token()
    oauth_extract(sim, seed)
    sim.clock.advance(days=2)

    def crash(self, tokens, seed):  # the process dies after the server rotated, before the rename
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(TokenStore, "save", crash)
        with pytest.raises(BaseException):
            oauth_extract(sim, seed)

    with pytest.raises(Exception) as failed:  # the stored refresh token was spent: locked out, loudly
        oauth_extract(sim, seed)
    error = amo_error(failed)
    assert isinstance(error, AmoAuthError) and "authorize --code" in str(error)

    # recovery: a new authorization code from the integration's settings
    env = {**os.environ, "SOURCES__AMOCRM__BASE_URL": sim.base_url, "SOURCES__AMOCRM__CLIENT_ID": sim.oauth.client_id,
           "SOURCES__AMOCRM__CLIENT_SECRET": sim.oauth.client_secret,
           "SOURCES__AMOCRM__REDIRECT_URI": sim.oauth.redirect_uri}
    done = subprocess.run([sys.executable, "-m", "pipelines.amocrm", "authorize", "--code", sim.issue_authorization_code()],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sim.oauth.client_secret not in done.stdout + done.stderr
    oauth_extract(sim, seed)
    assert_matches_truth(sim.truth(), stale_links=True)


def test_401_after_refresh_fails_loudly_without_secrets(sim):
    seed = sim.issue_refresh_token()
    oauth_extract(sim, seed)
    sim.revoke_tokens()  # the admin disabled the integration
    with pytest.raises(Exception) as failed:
        oauth_extract(sim, seed)
    error = amo_error(failed)
    assert isinstance(error, AmoAuthError)
    stored = TokenStore(paths.tokens_path()).load()
    for secret in (sim.oauth.client_secret, seed, stored["refresh_token"], stored["access_token"]):
        assert secret not in str(error) and secret not in repr(failed.value)


def test_403_block_fails_loudly(account, data_dir):
    with Simulator(account, rate_limit=1, block_after=2) as sim:
        with pytest.raises(Exception) as failed:
            extract(sim)
        error = amo_error(failed)
        assert isinstance(error, AmoBlockedError) and "403" in str(error) and "blocks accounts" in str(error)
        assert sim.long_lived_token not in str(failed.value)


def test_token_without_admin_rights_fails_clearly_and_loses_nothing(sim):
    from pipelines.simulator import reference as ref

    extract(sim)  # loaded earlier with the admin's key
    manager = next(u for u in ref.USERS if not u.is_admin)
    seed = sim.issue_refresh_token(user_id=manager.id)  # then re-authorized by a manager
    with pytest.raises(Exception) as failed:
        oauth_extract(sim, seed)
    error = amo_error(failed)
    assert isinstance(error, AmoBlockedError)
    assert "GET /api/v4/users: 403" in str(error) and "account admin" in str(error)
    assert "blocks accounts" not in str(error)  # not mistaken for the rate-limit block
    stored = TokenStore(paths.tokens_path()).load()
    for secret in (sim.oauth.client_secret, seed, stored["refresh_token"], stored["access_token"]):
        assert secret not in str(failed.value)
    assert_matches_truth(sim.truth())  # the warehouse is as the last good run left it


def test_429_storm_and_5xx_burst_end_complete(sim):
    sim.faults.storm_429(10)
    sim.faults.fail_next(6, status=503, path="/api/v4/leads")
    sim.faults.fail_next(4, status=500, path="/api/v4/events")
    summary = extract(sim)
    assert summary.retries >= 20
    assert_matches_truth(sim.truth())


def test_random_server_errors_end_complete(sim):
    sim.faults.error_rate = 0.15
    extract(sim)
    assert_matches_truth(sim.truth())


@pytest.mark.parametrize("kind", ["truncated", "invalid_json", "wrong_shape"])
def test_malformed_page_names_endpoint_and_page_then_next_run_completes(sim, kind):
    extract(sim, resources=["account"])
    sim.clock.advance(days=20)
    sim.faults.malformed_next(1, kind=kind, path="/api/v4/leads")
    with pytest.raises(Exception) as failed:
        extract(sim, page_size=50)
    error = amo_error(failed)
    assert isinstance(error, AmoPayloadError)
    assert error.endpoint.startswith("/api/v4/leads") and error.page is not None
    assert f"page {error.page}" in str(error)
    extract(sim, page_size=50)
    assert_matches_truth(sim.truth())


def test_killed_run_then_rerun_loses_and_duplicates_nothing(account, data_dir):
    with Simulator(account, rate_limit=None) as sim:
        extract(sim)
        sim.clock.advance(days=30)
        env = {**os.environ, "SOURCES__AMOCRM__BASE_URL": sim.base_url,
               "SOURCES__AMOCRM__ACCESS_TOKEN": sim.long_lived_token, "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "30"}
        process = subprocess.Popen([sys.executable, "-m", "pipelines.amocrm"], cwd=PROJECT_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sim.stats.count("/api/v4/events") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        extract(sim)
        truth = sim.truth()
        assert_matches_truth(truth, stale_links=True)
        for name in ("leads", "events", "notes", "tasks", "contacts"):
            ids = table(name)["id"]
            assert not ids.duplicated().any(), name


def test_secrets_never_reach_logs_output_or_warehouse(sim, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    seed = sim.issue_refresh_token()
    sim.faults.fail_next(2, status=503)
    sim.faults.storm_429(2)
    oauth_extract(sim, seed)
    stored = TokenStore(paths.tokens_path()).load()
    secrets = [sim.oauth.client_secret, seed, stored["refresh_token"], stored["access_token"], sim.long_lived_token]
    out, err = capfd.readouterr()
    text = caplog.text + out + err
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        for (name,) in con.sql("SELECT table_name FROM information_schema.tables "
                               "WHERE table_schema = 'raw_amocrm'").fetchall():
            text += con.sql(f'SELECT * FROM raw_amocrm."{name}"').df().to_csv()
    text += "".join(p.read_text(errors="ignore") for p in (paths.data_dir() / ".dlt").rglob("*")
                    if p.is_file() and p.suffix != ".gz")
    for secret in secrets:
        assert secret not in text
