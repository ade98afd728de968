"""Alerts reach the configured channels with what on-call needs, and never a secret."""

import json

import pytest

from pipelines.alerting import Alert, redact, send_alert

SECRET = "s3cr3t-refresh-token-value"


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
