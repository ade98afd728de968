"""No secret leaks anywhere, and on-call hears the specific reason, when a run fails with every channel dead.

A user's project folder of its own (`.dlt/secrets.toml` read through dlt, `DLT_PROJECT_DIR`),
secrets in both the environment and that file, every alert channel pointing at a dead endpoint.
A good extraction first (`python -m pipelines.amocrm`), then a Dagster run of `amocrm_daily` whose
token refresh loses its answer; the failure sensor sends the alert. Then every trail is searched:
stdout/stderr with DEBUG logging, Dagster's event log and compute logs, alert files and bodies, the
warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("dagster")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLOSED = "http://127.0.0.1:9"  # nothing listens there: connection refused

JOB_THEN_SENSOR = """
import logging
logging.basicConfig(level=logging.DEBUG)  # urllib3 quotes request paths at DEBUG
import dagster as dg
from pipelines.definitions import defs
from sensor_support import alert_on_failed_run

instance = dg.DagsterInstance.get()
result = defs.resolve_job_def("amocrm_daily").execute_in_process(instance=instance, raise_on_error=False)
print("RUN SUCCESS", result.success)
alert_on_failed_run(defs, instance, result)
with open("event_log.json", "w") as f:
    f.write("\\n".join(dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)))
"""


def test_failed_run_with_dead_channels_leaks_no_secret_and_names_the_cause(tmp_path, dead_webhook):
    from pipelines.simulator import SimulatedAccount, Simulator

    receiver, received = dead_webhook
    secret = {
        "slack": "Xq7pZ2mK9vB4nR8tW1yL5cJ3", "hook": "hk9Q2wE4rT6yU8iO0pA1sD3f", "bot": "AAHdqTcvCH1vGWJxfSeofSAs0K5PALD",
        "smtp_env": "smtp-env-Pa55w0rd", "smtp_toml": "smtp-toml-Pa55w0rd", "unused_toml": "unused-toml-token-77",
    }
    account = SimulatedAccount.generate(seed=5, leads=60, now=int(time.time()), horizon_days=30)
    with Simulator(account, rate_limit=None) as sim:
        app, seed = sim.oauth, sim.issue_refresh_token()
        project, data, home = tmp_path / "project", tmp_path / "data", tmp_path / "dagster_home"
        for folder in (project / ".dlt", data, home):
            folder.mkdir(parents=True)
        (project / ".dlt" / "secrets.toml").write_text(f"""
[sources.amocrm]
base_url = "{sim.base_url}"
client_id = "{app.client_id}"
client_secret = "{app.client_secret}"
redirect_uri = "{app.redirect_uri}"
refresh_token = "{seed}"
requests_per_second = 1000.0

[alerts]
telegram_bot_token = "123456789:{secret['bot']}"
telegram_chat_id = "-100500"
telegram_api_url = "{receiver}"
smtp_host = "127.0.0.1"
smtp_port = "9"
smtp_user = "alerts"
smtp_password = "{secret['smtp_toml']}"
alert_email_to = "oncall@example.com"
some_api_token = "{secret['unused_toml']}"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "AMOCRM_KPI_", "DAGSTER_"))}
        env |= {
            "PYTHONPATH": f"{PROJECT_ROOT}{os.pathsep}{Path(__file__).parent}", "DLT_PROJECT_DIR": str(project), "DAGSTER_HOME": str(home),
            "AMOCRM_KPI_DATA_DIR": str(data),
            "SOURCES__AMOCRM__CLIENT_SECRET": app.client_secret,  # the same secret from both places
            "AMOCRM_KPI_SLACK_WEBHOOK_URL": f"{CLOSED}/services/T0123ABCD/B0456EFGH/{secret['slack']}",
            "AMOCRM_KPI_ALERT_WEBHOOK_URL": f"{receiver}/hooks/{secret['hook']}?token={secret['hook']}",
            "AMOCRM_KPI_SMTP_PASSWORD": secret["smtp_env"],
        }

        def run(*args):
            done = subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True,
                                  timeout=600)
            return done.stdout + done.stderr

        output = run("-m", "pipelines.amocrm", "--resources", "account,users,pipelines,leads")
        assert (data / "warehouse.duckdb").exists(), output
        store = json.loads((data / "amocrm_tokens.json").read_text())
        sim.clock.advance(days=2)  # the access token expired: the run's first call refreshes ...
        sim.tokens.lose_next_answers("drop")  # ... and the answer is lost after the token was rotated
        output += run("-c", JOB_THEN_SENSOR)
        assert "RUN SUCCESS False" in output, output[-3000:]

    # on-call got the specific reason, though every channel was dead
    alert_files = list((data / "alerts").glob("*_error_*.json"))
    assert len(alert_files) == 1
    alert = json.loads(alert_files[0].read_text())
    errors = " ".join(f["error"] for f in alert["failures"])
    assert "refresh outcome unknown" in errors and "authorize --code" in errors
    assert sorted(path.split("/")[1][:3] for path, _ in received) == ["bot", "hoo"]  # telegram, webhook: both 503
    assert "alert channel slack failed" in output and "alert channel email failed" in output

    trails = output + json.dumps([body for _, body in received]) + alert_files[0].read_text()  # paths hold secrets
    trails += (project / "event_log.json").read_text()
    for path in home.rglob("*"):  # event log database and the steps' captured stdout/stderr
        if path.is_file():
            trails += path.read_bytes().decode("utf-8", errors="ignore")
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        for schema, name in con.sql("select table_schema, table_name from information_schema.tables").fetchall():
            trails += con.sql(f'select * from "{schema}"."{name}"').df().to_csv()
    secrets = {**secret, "client_secret": app.client_secret, "configured refresh_token": seed,
               "stored refresh_token": store["refresh_token"], "stored access_token": store["access_token"]}
    leaked = [name for name, value in secrets.items() if value in trails]  # names only: pytest prints them
    assert leaked == []
