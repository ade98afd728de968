"""Several simulated accounts at once: own port, profile, data, clock and 7 requests/s limit each."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests
from sim_support import NOW

from pipelines.simulator import SimulatedAccount
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_profile, derived_specs, parse_spec


def _get(sim, path: str, **params) -> requests.Response:
    return requests.get(sim.base_url + path, params=params, timeout=10,
                        headers={"Authorization": f"Bearer {sim.long_lived_token}"})


@pytest.fixture(scope="module")
def hub():
    with Simulators.generate(derived_specs(2, seed=7, leads=80), now=NOW, rate_limit=None) as running:
        yield running


def test_each_port_serves_its_own_account(hub):
    first, second = hub["acc1"], hub["acc2"]
    assert first.base_url != second.base_url
    accounts = {key: _get(hub[key], "/api/v4/account", **{"with": "datetime_settings"}).json() for key in hub}
    assert [(a["id"], a["subdomain"], a["currency"], a["_embedded"]["datetime_settings"]["timezone"])
            for a in accounts.values()] == [(29_000_001, "simulated", "RUB", "Europe/Moscow"),
                                            (29_000_002, "simulated2", "KZT", "Asia/Almaty")]
    assert accounts["acc1"]["_embedded"]["datetime_settings"]["timezone_offset"] == "+03:00"
    assert accounts["acc2"]["_embedded"]["datetime_settings"]["timezone_offset"] != "+03:00"


def test_lead_ids_overlap_and_each_account_serves_its_own_leads(hub):
    truths = hub.truths()
    served = {key: _get(hub[key], "/api/v4/leads", limit=250).json()["_embedded"]["leads"] for key in hub}
    ids = {key: {lead["id"] for lead in leads} for key, leads in served.items()}
    assert len(ids["acc1"] & ids["acc2"]) >= 50  # the same ids, in two accounts
    for key, leads in served.items():
        truth = truths[key].leads.set_index("id")
        assert {lead["account_id"] for lead in leads} == {truths[key].account["id"]}
        assert {(lead["id"], lead["price"]) for lead in leads} == {
            (i, int(truth.price[i])) for i in truth.index[~truth.is_deleted]}
    shared = sorted(ids["acc1"] & ids["acc2"])
    by_id = {key: {lead["id"]: lead for lead in leads} for key, leads in served.items()}
    assert any(by_id["acc1"][i]["name"] != by_id["acc2"][i]["name"] for i in shared)  # different data


def test_env_names_every_account_for_the_extractor(hub):
    env = hub.env()
    assert env == {
        "SOURCES__AMOCRM__ACCOUNTS__ACC1__BASE_URL": hub["acc1"].base_url,
        "SOURCES__AMOCRM__ACCOUNTS__ACC1__ACCESS_TOKEN": hub["acc1"].long_lived_token,
        "SOURCES__AMOCRM__ACCOUNTS__ACC2__BASE_URL": hub["acc2"].base_url,
        "SOURCES__AMOCRM__ACCOUNTS__ACC2__ACCESS_TOKEN": hub["acc2"].long_lived_token,
    }
    # one account's token does not open the other
    wrong = requests.get(hub["acc2"].base_url + "/api/v4/account", timeout=10,
                         headers={"Authorization": f"Bearer {hub['acc1'].long_lived_token}"})
    assert wrong.status_code == 401


def test_advance_moves_every_clock():
    with Simulators.generate(derived_specs(2, seed=3, leads=30), now=NOW, rate_limit=None) as hub:
        before = {key: hub.truths()[key].at for key in hub}
        assert hub.advance(days=2) == {key: NOW + 2 * 86_400 for key in hub}
        assert {key: t.at for key, t in hub.truths().items()} == {key: at + 2 * 86_400 for key, at in before.items()}


def test_each_account_has_its_own_rate_limit():
    with Simulators.generate(derived_specs(2, seed=3, leads=30), now=NOW, rate_limit=7) as hub:
        hammered, other = hub["acc1"], hub["acc2"]
        statuses = [_get(hammered, "/api/v4/account").status_code for _ in range(25)]
        assert 429 in statuses
        assert [_get(other, "/api/v4/account").status_code for _ in range(5)] == [200] * 5
        assert other.stats.by_status[429] == 0 and hammered.stats.by_status[429] > 0


def test_a_fault_on_one_account_leaves_the_other_alone(hub):
    hub["acc1"].faults.fail_next(2, 503)
    try:
        assert [_get(hub["acc1"], "/api/v4/account").status_code for _ in range(2)] == [503, 503]
        assert _get(hub["acc2"], "/api/v4/account").status_code == 200
    finally:
        hub["acc1"].faults.reset()


def test_latency_slows_every_account():
    with Simulators.generate(derived_specs(2, seed=3, leads=30), now=NOW, rate_limit=None, latency_ms=150) as hub:
        for key in hub:
            assert _get(hub[key], "/api/v4/account").elapsed.total_seconds() >= 0.15


def test_two_keys_for_one_account_or_a_bad_key_are_refused():
    one = SimulatedAccount.generate(seed=3, leads=20, now=NOW)
    with pytest.raises(ValueError, match="same account_id 29000001"):
        Simulators({"alpha": one, "beta": SimulatedAccount.generate(seed=4, leads=20, now=NOW)})
    for key in ("default", "Acme", "a__b", "9lives"):
        with pytest.raises(ValueError, match="account key"):
            Simulators({key: one})


def test_a_port_that_cannot_be_taken_stops_the_accounts_already_started():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        accounts = {key: SimulatedAccount.generate(seed=n, leads=20, now=NOW, profile=derived_profile(n))
                    for n, key in ((1, "first"), (2, "second"))}
        hub = Simulators(accounts, rate_limit=None)
        hub["second"]._port = blocker.getsockname()[1]  # taken by someone else
        with pytest.raises(OSError):
            hub.start()
        assert hub["first"]._server is None  # stopped again, not left serving


def test_account_specs_from_the_command_line():
    spec = parse_spec("acme:11:40:Asia/Yekaterinburg:KZT", 3, seed=7, leads=500)
    assert (spec.key, spec.seed, spec.leads) == ("acme", 11, 40)
    assert (spec.profile.account_id, spec.profile.subdomain, spec.profile.timezone, spec.profile.currency,
            spec.profile.currency_symbol) == (29_000_003, "simulated3", "Asia/Yekaterinburg", "KZT", "₸")
    defaults = parse_spec("beta", 2, seed=7, leads=500)
    assert (defaults.seed, defaults.leads, defaults.profile.timezone) == (8, 500, "Asia/Almaty")
    for bad, why in (("acme:x", "whole numbers"), ("acme:1:0", "at least 1"), ("acme:1:2:Mars/Base", "IANA"),
                     ("acme:1:2::XYZ", "currency"), ("a:1:2:3:4:5", "expected key")):
        with pytest.raises(ValueError, match=why):
            parse_spec(bad, 1, seed=7, leads=500)


def test_the_command_line_serves_several_accounts_and_prints_their_env():
    command = [sys.executable, "-m", "pipelines.simulator", "--port", "0", "--leads", "30", "--now", str(NOW),
               "--accounts", "2", "--account", "gamma::20:Europe/Kaliningrad:EUR"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("serving"):
                break
        env = dict(line.split("=", 1) for line in lines if line.startswith("SOURCES__"))
        assert sorted(env) == sorted(f"SOURCES__AMOCRM__ACCOUNTS__{key}__{name}"
                                     for key in ("ACC1", "ACC2", "GAMMA") for name in ("BASE_URL", "ACCESS_TOKEN"))
        answered = {}
        for key in ("ACC1", "ACC2", "GAMMA"):
            prefix = f"SOURCES__AMOCRM__ACCOUNTS__{key}__"
            response = requests.get(env[prefix + "BASE_URL"] + "/api/v4/account", timeout=10,
                                    headers={"Authorization": f"Bearer {env[prefix + 'ACCESS_TOKEN']}"})
            answered[key] = (response.json()["id"], response.json()["currency"])
        assert answered == {"ACC1": (29_000_001, "RUB"), "ACC2": (29_000_002, "KZT"), "GAMMA": (29_000_003, "EUR")}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
