"""Configuration mistakes found before (or on) the first request, so they fail in seconds, not retries.

A base URL without `https://`, with a path (`.../api/v4`), a misspelt subdomain
(unknown host) or a wrong port (connection refused) can never succeed on a retry:
each is told at once, naming the host, what to check and the expected form. Only
once the host has answered is a connection error taken for a network blip.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests

EXPECTED_FORM = "https://<subdomain>.amocrm.ru or https://<subdomain>.kommo.com"
SETTING = "sources.amocrm.base_url"
PREFLIGHT_TIMEOUT = 10.0


class ConfigProblem(Exception):
    """A configuration mistake, in words a user can act on (turned into `AmoConfigError` by the client)."""


def account_url(base_url: str) -> str:
    """`base_url` without a trailing slash, or `ConfigProblem` when it cannot be an account address."""
    text = (base_url or "").strip()
    expected = f"{SETTING} must be the account's address, like {EXPECTED_FORM}"
    if "://" not in text:
        raise ConfigProblem(f"{SETTING} {text!r} has no scheme: {expected}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigProblem(f"{SETTING} is not a valid URL ({exc}): {expected}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http"):
        raise ConfigProblem(f"{SETTING} for host {host or '?'} uses scheme {parts.scheme!r}: {expected}")
    if not host:
        raise ConfigProblem(f"{SETTING} {text!r} names no host: {expected}")
    if parts.username is not None or parts.password is not None:
        raise ConfigProblem(f"{SETTING} for host {host} carries a user name or password; credentials belong in "
                            f"sources.amocrm.access_token (or the OAuth2 settings): {expected}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        extra = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
        raise ConfigProblem(f"{SETTING} for host {host} has a path ({extra!r}); the extractor adds /api/v4/... "
                            f"itself: {expected}")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port else "")


def check_reachable(base_url: str, timeout: float = PREFLIGHT_TIMEOUT) -> None:
    """`ConfigProblem` if the host does not exist or refuses connections. Checked with a bare TCP
    connection before the first request, which also covers the OAuth2 token endpoint on the same
    host. Anything else (a timeout, no network, a proxy in the way) is left to the request's retries."""
    if requests.utils.get_environ_proxies(base_url):
        return  # the proxy resolves and connects, not this machine
    parts = urlsplit(base_url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _UNKNOWN_HOST:
            raise ConfigProblem(unknown_host(host)) from None
        return
    try:
        family, kind, proto, _, address = addresses[0]
        with socket.socket(family, kind, proto) as probe:
            probe.settimeout(timeout)
            probe.connect(address)
    except ConnectionRefusedError:
        raise ConfigProblem(refused(host, port)) from None
    except OSError:
        return


def connection_problem(exc: requests.RequestException, base_url: str) -> str | None:
    """The configuration mistake behind a failed first request, if it is one (unknown host, refused)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "?", parts.port or (443 if parts.scheme == "https" else 80)
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return f"{SETTING} for host {host} is not a usable URL ({type(exc).__name__}): expected {EXPECTED_FORM}"
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if type(error).__name__ == "NameResolutionError":
            return unknown_host(host)
        if isinstance(error, ConnectionRefusedError):
            return refused(host, port)
        if isinstance(error, BaseException):
            stack += [getattr(error, "reason", None), error.__cause__, error.__context__, *error.args]
    return None


def unknown_host(host: str | None) -> str:
    return (f"host {host} does not exist (DNS lookup failed): check the subdomain in {SETTING}, "
            f"expected {EXPECTED_FORM}")


def refused(host: str | None, port: int) -> str:
    return (f"host {host} refused the connection on port {port}: check the address and port in {SETTING}, "
            f"expected {EXPECTED_FORM}")


def first_answer_hint(base_url: str) -> str:
    """What to check when the very first answer of a run is a 401/402/403/404."""
    return f"check that {SETTING} ({base_url}) is your account's address, expected {EXPECTED_FORM}"


_UNKNOWN_HOST = {socket.EAI_NONAME} | ({socket.EAI_NODATA} if hasattr(socket, "EAI_NODATA") else set())
