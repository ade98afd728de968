"""Deliver on-call alerts to whatever channels are configured.

Kept free of Dagster so it can be tested and reused alone. Channels (all optional,
several may be set at once), each from an environment variable or the same key
in the `[alerts]` section of `.dlt/secrets.toml` (the environment wins):

| env var | `[alerts]` key | channel |
|---|---|---|
| `AMOCRM_KPI_ALERT_WEBHOOK_URL` | `alert_webhook_url` | generic webhook: JSON POST of the alert |
| `AMOCRM_KPI_SLACK_WEBHOOK_URL` | `slack_webhook_url` | Slack incoming webhook |
| `AMOCRM_KPI_TELEGRAM_BOT_TOKEN` + `_CHAT_ID` | `telegram_bot_token`, `telegram_chat_id` | Telegram bot message |
| `AMOCRM_KPI_SMTP_HOST` (+ `_PORT`, `_USER`, `_PASSWORD`, `_FROM`), `AMOCRM_KPI_ALERT_EMAIL_TO` | `smtp_host`, ... | e-mail |

Every alert is also written to the log and to `<data>/alerts/` as JSON, so an
unconfigured deployment still keeps a trail. Texts pass through `redact()`
first (`pipelines/redaction.py`): an alert never carries a token, a password or
a secret-bearing URL, and neither does the warning about a channel that failed.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import time
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path

import dlt
import requests

from pipelines import paths
from pipelines.redaction import guard_http_logs, redact

__all__ = ["Alert", "redact", "send_alert"]

log = logging.getLogger(__name__)
guard_http_logs()


def setting(name: str, default: str | None = None) -> str | None:
    """`AMOCRM_KPI_<NAME>` from the environment, else `alerts.<name>` from dlt's secrets/config."""
    value = os.environ.get(f"AMOCRM_KPI_{name.upper()}")
    if value:
        return value
    try:
        value = dlt.secrets.get(f"alerts.{name}")
    except Exception:  # noqa: BLE001 - an unreadable secrets file must not stop an alert
        log.warning("could not read alerts.%s from .dlt/secrets.toml; using the environment only", name)
        value = None
    return str(value) if value not in (None, "") else default


@dataclass
class Alert:
    """What on-call needs to act: which run, what broke, the error, and where to look."""

    title: str
    severity: str  # "error" (run failed) or "warning" (a non-blocking check failed)
    job: str
    run_id: str
    run_url: str
    failures: list[dict] = field(default_factory=list)  # [{"step"|"asset"|"check": ..., "error": ...}]
    created_at: float = field(default_factory=time.time)

    def redacted(self) -> "Alert":
        return Alert(**json.loads(redact(json.dumps(asdict(self), ensure_ascii=False))))

    def text(self) -> str:
        lines = [f"[{self.severity.upper()}] {self.title}", f"job {self.job}, run {self.run_id}", self.run_url]
        for failure in self.failures:
            where = ", ".join(f"{k} {v}" for k, v in failure.items() if k != "error")
            lines.append(f"- {where}: {failure.get('error', '')}".rstrip(": "))
        return "\n".join(lines)


def send_alert(alert: Alert) -> list[str]:
    """Send to every configured channel; return the channels that accepted it.

    A broken channel is logged and skipped, never raised: one dead webhook must
    not hide the alert from the others, nor crash the sensor that sends it.
    """
    alert = alert.redacted()
    log.error("ALERT %s", alert.text())
    delivered = [_write_file(alert)]
    for name, sender in _configured_channels():
        try:
            sender(alert)
            delivered.append(name)
        except Exception as exc:  # noqa: BLE001 - every channel failure is reported the same way
            log.warning("alert channel %s failed: %s", name, redact(str(exc)))
    return delivered


def _configured_channels():
    webhook, slack = setting("alert_webhook_url"), setting("slack_webhook_url")
    if webhook:
        yield "webhook", lambda a: _post(webhook, asdict(a) | {"text": a.text()})
    if slack:
        yield "slack", lambda a: _post(slack, {"text": a.text()})
    bot, chat = setting("telegram_bot_token"), setting("telegram_chat_id")
    if bot and chat:
        api = setting("telegram_api_url", "https://api.telegram.org")
        yield "telegram", lambda a: _post(
            f"{api}/bot{bot}/sendMessage", {"chat_id": chat, "text": a.text(), "disable_web_page_preview": True}
        )
    if setting("smtp_host") and setting("alert_email_to"):
        yield "email", _send_email


def _post(url: str, payload: dict) -> None:
    response = requests.post(url, json=payload, timeout=10)
    if response.status_code >= 300:
        # The URL itself may embed a token (Telegram, Slack), so it is not in the message.
        raise RuntimeError(f"HTTP {response.status_code} from alert endpoint")


def _send_email(alert: Alert) -> None:
    message = EmailMessage()
    message["Subject"] = f"[amocrm-kpi] {alert.title}"
    message["From"] = setting("smtp_from", "amocrm-kpi@localhost")
    message["To"] = setting("alert_email_to")
    message.set_content(alert.text())
    port = int(setting("smtp_port", "587"))
    with smtplib.SMTP(setting("smtp_host"), port, timeout=15) as smtp:
        if port != 25:
            smtp.starttls()
        if setting("smtp_user"):
            smtp.login(setting("smtp_user"), setting("smtp_password", ""))
        smtp.send_message(message)


def _write_file(alert: Alert) -> str:
    folder: Path = paths.alerts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(alert.created_at))
    target = folder / f"{stamp}_{alert.severity}_{alert.run_id[:8]}.json"
    target.write_text(json.dumps(asdict(alert), ensure_ascii=False, indent=2), encoding="utf-8")
    return "file"
