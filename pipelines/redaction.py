"""Scrub secrets from any text before it leaves the process (alerts, logged errors).

Two nets. Known values: every setting whose name says it is secret (TOKEN,
SECRET, PASSWORD, WEBHOOK_URL, ...), from the environment and from dlt's
config providers (`.dlt/secrets.toml`, `.dlt/config.toml`), removed wherever
they appear, together with the parts of a secret URL that errors quote alone
(a Slack webhook's path, a password in `user:pass@`). Shapes: bearer headers,
JWTs, `key=value` credentials, `user:pass@` in any URL, and long random path
segments or query values in URLs (webhook and bot URLs carry their secret in
the path).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 6
# Setting names (env vars, dlt keys) whose values are secrets wherever they appear.
SECRET_NAME_HINTS = ("token", "secret", "password", "passwd", "webhook_url", "access_key", "api_key",
                     "private_key", "credentials", "dsn", "postgres_url")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# a random-looking secret: long, and mixes letters with digits
_RANDOM = re.compile(r"(?=[A-Za-z0-9_:.~%-]*[0-9])(?=[A-Za-z0-9_:.~%-]*[A-Za-z])[A-Za-z0-9_:.~%-]{20,}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.I)
_QUOTED_PATH = re.compile(r"(?i)(\burl: ?)(/[^\s\"'()<>]*)")  # urllib3: "Max retries exceeded with url: /path"
_SHAPES = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|password|token|api_key|apikey|secret|sig)"
               r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
]


def redact(text: str) -> str:
    """`text` without known secret values and without credential-shaped substrings."""
    for value in sorted(known_secrets(), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL.sub(lambda m: _redact_url(m.group(0)), text)
    text = _QUOTED_PATH.sub(lambda m: m.group(1) + _redact_path(m.group(2)), text)
    for pattern in _SHAPES:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def known_secrets() -> set[str]:
    """Values of secret-named settings, from the environment and dlt's providers, with their URL parts."""
    values: set[str] = set()
    for name, value in [*os.environ.items(), *_dlt_settings()]:
        if isinstance(value, str) and any(hint in name.lower() for hint in SECRET_NAME_HINTS):
            values |= _variants(value.strip())
    return {v for v in values if len(v) >= MIN_SECRET_LENGTH}


def _variants(value: str) -> set[str]:
    """The value, URL-encoded too, and for a URL the parts that errors quote on their own."""
    variants = {value, quote(value, safe="")}
    parts = urlsplit(value) if "://" in value else None
    if parts and parts.netloc:
        variants |= {parts.password or "", parts.query, unquote(parts.query)}
        if parts.path.strip("/"):
            variants |= {parts.path, f"{parts.path}?{parts.query}" if parts.query else parts.path}
            variants |= {segment for segment in parts.path.split("/") if len(segment) >= 8}
    return variants


def _dlt_settings() -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every value in dlt's document providers (the `.dlt/*.toml` files)."""
    try:
        from dlt.common.configuration.container import Container
        from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

        providers = Container()[PluggableRunContext].providers.providers
    except Exception:  # noqa: BLE001 - no dlt context: the environment is all there is
        return
    for provider in providers:
        doc = getattr(provider, "_config_doc", None)
        if isinstance(doc, Mapping):
            yield from _leaves(doc, "")


def _leaves(node: Mapping, prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _leaves(value, name)
        elif isinstance(value, str):
            yield name, value


def _redact_url(url: str) -> str:
    """The URL with userinfo, random-looking path segments and query values masked."""
    scheme, rest = url.split("://", 1)
    host, slash, tail = rest.partition("/")
    if "@" in host:
        host = f"{MASK}@{host.rsplit('@', 1)[1]}"
    return f"{scheme}://{host}{slash}{_redact_path(tail) if slash else ''}"


def _redact_path(path: str) -> str:
    path, mark, query = path.partition("?")
    path = "/".join(MASK if _secret_looking(segment) else segment for segment in path.split("/"))
    if mark:
        query = "&".join(_mask_query_value(pair) for pair in query.split("&"))
    return path + mark + query


def _mask_query_value(pair: str) -> str:
    key, eq, value = pair.partition("=")
    return f"{key}={MASK}" if eq and _secret_looking(value) else pair


def _secret_looking(segment: str) -> bool:
    segment = segment.removeprefix("bot")  # Telegram: /bot<id>:<token>/
    if ":" in segment and len(segment) >= 20:
        return True
    return bool(_RANDOM.fullmatch(segment)) and not _UUID.fullmatch(segment)


class RedactingFilter:
    """A logging filter that scrubs a record's final message (HTTP libraries log request paths)."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def guard_http_logs() -> None:
    """Scrub what urllib3 logs (its DEBUG lines quote each request's path: a webhook's secret)."""
    import logging

    for name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
