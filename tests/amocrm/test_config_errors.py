"""Configuration mistakes fail in seconds, once, naming the host, what to check and the expected address;
a connection error after the host has answered is still retried as a network blip."""

from __future__ import annotations

import socket
import time

import pytest
from amocrm_checks import FAST

from pipelines.amocrm import run_extraction
from pipelines.amocrm.auth import LongLivedToken
from pipelines.amocrm.client import (AmoAuthError, AmoBlockedError, AmoClient, AmoConfigError, AmoError,
                                     RateLimiter, amo_cause)
from pipelines.amocrm.config_check import EXPECTED_FORM
from pipelines.simulator import Simulator

TOKEN = "a-long-lived-token-nobody-may-see"


def failed_run(base_url: str, token: str = TOKEN) -> tuple[AmoError, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as failed:
        run_extraction(base_url=base_url, access_token=token, **FAST)
    error = amo_cause(failed.value)
    assert error is not None, f"no AmoError behind {failed.value!r}"
    assert token not in str(failed.value)
    return error, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("base_url", "host", "what"), [
    ("mycompany.amocrm.ru", "mycompany.amocrm.ru", "has no scheme"),
    ("https://mycompany.amocrm.ru/api/v4", "mycompany.amocrm.ru", "has a path ('/api/v4')"),
    ("https://mycompany.amocrm.ru/api/v4/", "mycompany.amocrm.ru", "has a path ('/api/v4')"),
    ("ftp://mycompany.amocrm.ru", "mycompany.amocrm.ru", "uses scheme 'ftp'"),
    ("https://user:secret-password@mycompany.amocrm.ru", "mycompany.amocrm.ru", "carries a user name or password"),
    ("https://no-such-subdomain.amocrm.invalid", "no-such-subdomain.amocrm.invalid", "does not exist"),
    ("http://127.0.0.1:{port}", "127.0.0.1", "refused the connection on port"),
], ids=["no-scheme", "api-path", "api-path-slash", "wrong-scheme", "credentials-in-url", "unknown-host", "refused"])
def test_a_wrong_base_url_fails_fast_and_says_what_to_fix(data_dir, base_url, host, what):
    error, seconds = failed_run(base_url.format(port=free_port()))
    assert isinstance(error, AmoConfigError) and not error.retryable
    message = str(error)
    assert host in message and what in message and EXPECTED_FORM in message and "sources.amocrm.base_url" in message
    assert "secret-password" not in message
    assert seconds < 5


def test_a_rejected_token_fails_on_the_first_request_naming_the_host(sim):
    error, seconds = failed_run(sim.base_url, token="not-the-right-token-0123")
    assert isinstance(error, AmoAuthError) and not error.retryable
    assert "401" in str(error) and "127.0.0.1" in str(error) and EXPECTED_FORM in str(error)
    assert sim.stats.total == 1 and seconds < 5


@pytest.mark.parametrize("status", [402, 403, 404])
def test_a_refusal_on_the_first_request_is_not_retried(sim, status):
    if status == 403:
        sim.block()  # the nginx page amoCRM shows a blocked account
    else:
        sim.faults.fail_next(1, status=status)
    error, seconds = failed_run(sim.base_url, token=sim.long_lived_token)
    assert not error.retryable
    assert isinstance(error, AmoBlockedError if status == 403 else AmoConfigError)
    message = str(error)
    assert f"{status} " in message and "127.0.0.1" in message and EXPECTED_FORM in message
    assert sim.stats.total == 1 and seconds < 5
    if status == 403:
        assert "blocks accounts" in message and "support" in message


def test_a_lost_connection_after_the_host_answered_is_retried(account):
    sim = Simulator(account, rate_limit=None, port=free_port()).start()
    down = False

    def back_online(seconds: float) -> None:  # the backoff after the failed request: the server returns
        if down:
            sim.start()

    client = AmoClient(sim.base_url, LongLivedToken(sim.long_lived_token), limiter=RateLimiter(None), sleep=back_online)
    try:
        assert client.get_json("/api/v4/account")["id"]
        sim.stop()  # a blip: the host answered once, now it refuses
        down = True
        assert client.get_json("/api/v4/account")["id"]
        assert client.stats.statuses["ConnectionError"] == 1 and client.stats.retries == 1
    finally:
        sim.stop()
