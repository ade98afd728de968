"""OAuth2 tokens never lock us out: a lost refresh answer is named, and re-authorising always works.

Against the simulator's token endpoint (`pipelines/simulator/auth.py`), which can spend a grant and
then lose its answer (`lose_next_answers`) and records every token it was shown (`presented`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amocrm_checks import FAST
from pipelines import paths
from pipelines.amocrm import auth, run_extraction
from pipelines.amocrm.__main__ import main as amocrm_main
from pipelines.amocrm.client import AmoAuthError, AmoError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _run(sim, refresh_token):
    """A small extraction (the account resource) with OAuth2: enough to need a valid token."""
    app = sim.oauth
    summary = run_extraction(base_url=sim.base_url, client_id=app.client_id, client_secret=app.client_secret,
                             redirect_uri=app.redirect_uri, refresh_token=refresh_token, resources=["account"], **FAST)
    assert summary.rows.get("account") == 1
    return summary


def _failure(sim, refresh_token) -> AmoError:
    """The AmoError a run fails with (dlt wraps it)."""
    with pytest.raises(Exception) as failed:
        _run(sim, refresh_token)
    exc = failed.value
    while exc is not None and not isinstance(exc, AmoError):
        exc = exc.__cause__ or exc.__context__
    assert exc is not None, f"no AmoError behind {failed.value!r}"
    return exc


def _authorize(sim, monkeypatch, refresh_token, capsys) -> str:
    """`python -m pipelines.amocrm authorize --code ...` (in process), configured through the environment."""
    for key, value in {"BASE_URL": sim.base_url, "CLIENT_ID": sim.oauth.client_id, "REFRESH_TOKEN": refresh_token,
                       "CLIENT_SECRET": sim.oauth.client_secret, "REDIRECT_URI": sim.oauth.redirect_uri}.items():
        monkeypatch.setenv(f"SOURCES__AMOCRM__{key}", value)
    code = amocrm_main(["authorize", "--code", sim.issue_authorization_code()])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out + err


@pytest.fixture
def quick_timeout(monkeypatch):
    monkeypatch.setattr(auth, "READ_TIMEOUT", 0.5)


@pytest.mark.parametrize("lost", ["slow", "drop"])
def test_lost_refresh_answer_is_not_retried_and_asks_for_a_new_code(sim, quick_timeout, lost, monkeypatch, capsys):
    seed = sim.issue_refresh_token()
    _run(sim, seed)
    spent = json.loads(paths.tokens_path().read_text())["refresh_token"]
    sim.clock.advance(days=2)  # the access token expired: the next run refreshes
    sim.tokens.lose_next_answers(lost, seconds=2.0)  # rotated on the server, the answer never arrives

    error = _failure(sim, seed)
    assert isinstance(error, AmoAuthError)
    assert "refresh outcome unknown" in str(error) and "authorize --code" in str(error)
    assert sim.tokens.presented.count(spent) == 1  # not sent a second time

    posts = len(sim.tokens.presented)  # the next run (or a step retry) says the same, spending nothing
    error = _failure(sim, seed)
    assert "refresh outcome unknown" in str(error)
    assert len(sim.tokens.presented) == posts

    _authorize(sim, monkeypatch, seed, capsys)
    _run(sim, seed)
    assert sim.tokens.presented.count(spent) == 1 and sim.tokens.presented.count(seed) == 1


def test_refresh_retried_while_the_request_never_left(sim, monkeypatch):
    seed = sim.issue_refresh_token()
    _run(sim, seed)
    sim.clock.advance(days=2)
    real_post, refused = auth.requests.post, []

    def connection_refused_twice(url, **kw):
        if len(refused) < 2:
            refused.append(url)
            return real_post("http://127.0.0.1:9/oauth2/access_token", **kw)  # nothing listens on port 9
        return real_post(url, **kw)

    monkeypatch.setattr(auth.requests, "post", connection_refused_twice)
    monkeypatch.setattr(auth.time, "sleep", lambda seconds: None)
    _run(sim, seed)
    assert len(refused) == 2
    assert "refresh_started_at" not in json.loads(paths.tokens_path().read_text())


def _break_store(sim, state: str) -> None:
    store = paths.tokens_path()
    if state == "missing":
        store.unlink()
    elif state == "corrupt":
        store.write_text('{"access_token": "eyJ', encoding="utf-8")  # cut short
    else:  # a refresh whose answer was lost
        sim.clock.advance(days=2)
        sim.tokens.lose_next_answers("drop")
        with pytest.raises(Exception):
            _run(sim, None)


@pytest.mark.parametrize("state", ["missing", "corrupt", "outcome_unknown"])
def test_authorize_then_run_works_whatever_the_store_holds(sim, state, quick_timeout, monkeypatch, capsys):
    dead = sim.issue_refresh_token()
    _run(sim, dead)  # the configured refresh token is spent: from now on it is dead
    _break_store(sim, state)
    if state == "missing":  # the dead configured token is not sent again, even with the store gone
        error = _failure(sim, dead)
        assert "already used" in str(error) and "authorize --code" in str(error)
        assert sim.tokens.presented.count(dead) == 1

    output = _authorize(sim, monkeypatch, dead, capsys)  # the dead token is still configured beside
    _run(sim, dead)
    assert sim.tokens.presented.count(dead) == 1  # never spent again
    moved = list(paths.tokens_path().parent.glob("amocrm_tokens.json.corrupt-*"))
    if state == "corrupt":
        assert len(moved) == 1 and moved[0].read_text() == '{"access_token": "eyJ'  # kept, not deleted
        assert "moved aside to" in output
        assert "eyJ" not in output
    else:
        assert moved == []


def test_recovery_from_the_command_line_with_a_dead_token_in_secrets_toml(sim, tmp_path):
    """The documented recovery, as a user does it: delete the store, authorize, run."""
    dead = sim.issue_refresh_token()
    _run(sim, dead)
    paths.tokens_path().unlink()
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    app = sim.oauth
    (project / ".dlt" / "secrets.toml").write_text(
        f'[sources.amocrm]\nbase_url = "{sim.base_url}"\nclient_id = "{app.client_id}"\n'
        f'client_secret = "{app.client_secret}"\nredirect_uri = "{app.redirect_uri}"\nrefresh_token = "{dead}"\n'
        'requests_per_second = 1000.0\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "DLT_PROJECT_DIR": str(project)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pipelines.amocrm", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)

    authorized = cli("authorize", "--code", sim.issue_authorization_code())
    assert authorized.returncode == 0, authorized.stderr
    ran = cli("--resources", "account")
    assert ran.returncode == 0, ran.stderr
    assert sim.tokens.presented.count(dead) == 1
    for secret in (app.client_secret, dead):
        assert secret not in authorized.stdout + authorized.stderr + ran.stdout + ran.stderr
