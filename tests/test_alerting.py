"""Alerts reach the configured channels with what on-call needs, and never a secret."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.alerting import Alert, redact, send_alert

SECRET = "s3cr3t-refresh-token-value"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _alert():
    return Alert(
        title="amocrm-kpi run failed: amocrm_daily",
        severity="error",
        job="amocrm_daily",
        run_id="abc123def456",
        run_url="http://127.0.0.1:3000/runs/abc123def456",
        failures=[{"step": "dlt_amocrm", "error": f"401 after refresh; Authorization: Bearer {SECRET}"}],
    )


def test_webhook_telegram_and_file_receive_the_alert_without_secrets(webhook, monkeypatch, tmp_path):
    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/hook")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_BOT_TOKEN", "123456:telegram-bot-token")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_CHAT_ID", "-100500")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_API_URL", url)
    monkeypatch.setenv("SOURCES__AMOCRM__REFRESH_TOKEN", SECRET)

    assert send_alert(_alert()) == ["file", "webhook", "telegram"]

    by_path = dict(received)
    hook = by_path["/hook"]
    assert hook["run_id"] == "abc123def456" and hook["job"] == "amocrm_daily"
    assert hook["run_url"].endswith("/runs/abc123def456")
    assert hook["failures"][0]["step"] == "dlt_amocrm" and "401 after refresh" in hook["failures"][0]["error"]
    assert by_path["/bot123456:telegram-bot-token/sendMessage"]["chat_id"] == "-100500"
    stored = list((tmp_path / "alerts").glob("*.json"))
    assert len(stored) == 1
    everything = json.dumps(received) + stored[0].read_text()
    assert SECRET not in everything and "telegram-bot-token" not in json.dumps(hook)


def test_a_dead_channel_does_not_stop_the_others(webhook, monkeypatch, tmp_path):
    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AMOCRM_KPI_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/hook")
    assert send_alert(_alert()) == ["file", "webhook"]
    assert [path for path, _ in received] == ["/hook"]


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdefghijklmnop",
        '{"refresh_token": "def50200abcdef"}',
        "client_secret=xyz123456",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ],
)
def test_redact_removes_credential_shapes(text):
    cleaned = redact(text)
    for secret in ("abcdefghijklmnop", "def50200abcdef", "xyz123456", "c2lnbmF0dXJl"):
        assert secret not in cleaned


def test_a_dead_webhook_is_reported_without_the_secret_in_its_path(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    slack_secret, bot_secret = "Xq7pZ2mK9vB4nR8tW1yL5cJ3", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    monkeypatch.setenv("AMOCRM_KPI_SLACK_WEBHOOK_URL", f"http://127.0.0.1:9/services/T0123ABCD/B0456EFGH/{slack_secret}")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_BOT_TOKEN", f"123456789:{bot_secret}")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_CHAT_ID", "-100500")
    monkeypatch.setenv("AMOCRM_KPI_TELEGRAM_API_URL", "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    assert send_alert(_alert()) == ["file"]
    failures = [r.getMessage() for r in caplog.records if "alert channel" in r.getMessage()]
    assert len(failures) == 2 and all("127.0.0.1" in text for text in failures)  # still says where it failed
    assert slack_secret not in caplog.text and bot_secret not in caplog.text


@pytest.mark.parametrize(
    "text, secret",
    [
        ("Max retries exceeded with url: /services/T0123ABCD/B0456EFGH/Xq7pZ2mK9vB4nR8tW1yL5cJ3 (Caused by", "Xq7pZ2mK9vB4nR8tW1yL5cJ3"),
        ("POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
        ("connect to smtp://alerts:Pa55w0rd-long@mail.example.com:587 failed", "Pa55w0rd-long"),
        ("GET https://hooks.example.com/notify?key=9f8e7d6c5b4a39281726354&channel=ops", "9f8e7d6c5b4a39281726354"),
    ],
)
def test_redact_removes_secrets_carried_in_urls(text, secret):
    assert secret not in redact(text)


def test_redact_keeps_what_on_call_needs():
    text = "see http://127.0.0.1:3000/runs/0f8c5a2e-1b7d-4c3e-9a6f-2d4b8e1c7a90 and GET /api/v4/leads?page=3&limit=250"
    assert redact(text) == text


def test_secrets_from_dlt_secrets_toml_are_redacted(tmp_path):
    """Values set only in .dlt/secrets.toml (read through dlt's providers) are scrubbed too."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        '[sources.amocrm]\nclient_secret = "toml-only-client-secret"\nclient_id = "integration-id-123"\n'
        '[alerts]\nsmtp_password = "toml-only-smtp-pass"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "AMOCRM_KPI_"))}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "DLT_PROJECT_DIR": str(tmp_path)}
    code = ("from pipelines.alerting import redact; "
            "print(redact('auth failed for toml-only-client-secret / toml-only-smtp-pass / integration-id-123'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "auth failed for *** / *** / integration-id-123"
