"""Deliver on-call alerts to whatever channels the environment configures.

Kept free of Dagster so it can be tested and reused alone. Channels (all optional,
several may be set at once):

| env var | channel |
|---|---|
| `AMOCRM_KPI_ALERT_WEBHOOK_URL` | generic webhook: JSON POST of the alert |
| `AMOCRM_KPI_SLACK_WEBHOOK_URL` | Slack incoming webhook |
| `AMOCRM_KPI_TELEGRAM_BOT_TOKEN` + `AMOCRM_KPI_TELEGRAM_CHAT_ID` | Telegram bot message |
| `AMOCRM_KPI_SMTP_HOST` (+ `_PORT`, `_USER`, `_PASSWORD`, `_FROM`, `AMOCRM_KPI_ALERT_EMAIL_TO`) | e-mail |

Every alert is also written to the log and to `<data>/alerts/` as JSON, so an
unconfigured deployment still keeps a trail. Texts pass through `redact()`
first: an alert must never carry a token or password.
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import time
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path

import requests

from pipelines import paths

log = logging.getLogger(__name__)

# Environment variables whose values are secrets wherever they appear.
_SECRET_ENV_HINTS = ("TOKEN", "SECRET", "PASSWORD", "WEBHOOK_URL", "ACCESS_KEY", "API_KEY")
# Shapes of credentials that may sit inside error texts (bearer headers, JWTs, key=value pairs).
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|password|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
]


def redact(text: str) -> str:
    """Remove secret values known from the environment and credential-shaped substrings."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and any(hint in name.upper() for hint in _SECRET_ENV_HINTS):
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


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
    env = os.environ.get
    if env("AMOCRM_KPI_ALERT_WEBHOOK_URL"):
        yield "webhook", lambda a: _post(env("AMOCRM_KPI_ALERT_WEBHOOK_URL"), asdict(a) | {"text": a.text()})
    if env("AMOCRM_KPI_SLACK_WEBHOOK_URL"):
        yield "slack", lambda a: _post(env("AMOCRM_KPI_SLACK_WEBHOOK_URL"), {"text": a.text()})
    if env("AMOCRM_KPI_TELEGRAM_BOT_TOKEN") and env("AMOCRM_KPI_TELEGRAM_CHAT_ID"):
        api = env("AMOCRM_KPI_TELEGRAM_API_URL", "https://api.telegram.org")
        yield "telegram", lambda a: _post(
            f"{api}/bot{env('AMOCRM_KPI_TELEGRAM_BOT_TOKEN')}/sendMessage",
            {"chat_id": env("AMOCRM_KPI_TELEGRAM_CHAT_ID"), "text": a.text(), "disable_web_page_preview": True},
        )
    if env("AMOCRM_KPI_SMTP_HOST") and env("AMOCRM_KPI_ALERT_EMAIL_TO"):
        yield "email", _send_email


def _post(url: str, payload: dict) -> None:
    response = requests.post(url, json=payload, timeout=10)
    if response.status_code >= 300:
        # The URL itself may embed a token (Telegram, Slack), so it is not in the message.
        raise RuntimeError(f"HTTP {response.status_code} from alert endpoint")


def _send_email(alert: Alert) -> None:
    env = os.environ.get
    message = EmailMessage()
    message["Subject"] = f"[amocrm-kpi] {alert.title}"
    message["From"] = env("AMOCRM_KPI_SMTP_FROM", "amocrm-kpi@localhost")
    message["To"] = env("AMOCRM_KPI_ALERT_EMAIL_TO")
    message.set_content(alert.text())
    port = int(env("AMOCRM_KPI_SMTP_PORT", "587"))
    with smtplib.SMTP(env("AMOCRM_KPI_SMTP_HOST"), port, timeout=15) as smtp:
        if port != 25:
            smtp.starttls()
        if env("AMOCRM_KPI_SMTP_USER"):
            smtp.login(env("AMOCRM_KPI_SMTP_USER"), env("AMOCRM_KPI_SMTP_PASSWORD", ""))
        smtp.send_message(message)


def _write_file(alert: Alert) -> str:
    folder: Path = paths.alerts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(alert.created_at))
    target = folder / f"{stamp}_{alert.severity}_{alert.run_id[:8]}.json"
    target.write_text(json.dumps(asdict(alert), ensure_ascii=False, indent=2), encoding="utf-8")
    return "file"
