"""Rate limiting (429, 403 block) and every switchable fault, on and then off."""

import json
import threading
import time

import pytest
import requests
from sim_support import Client

from pipelines.simulator import SimulatedAccount, Simulator


def test_eighth_request_within_a_second_gets_429(account):
    with Simulator(account, rate_limit=7) as sim:
        client = Client(sim)
        statuses = [client.get("/api/v4/account").status_code for _ in range(8)]
        assert statuses == [200] * 7 + [429]
        time.sleep(1.05)
        assert client.get("/api/v4/account").status_code == 200
        assert sim.stats.by_status[429] == 1 and sim.stats.total == 9


def test_a_request_counts_when_it_arrived_not_when_the_simulator_got_to_it(account):
    """The simulator shares the CPU with the extractors it serves; amoCRM counts requests where they arrive.
    A (arrives 0 s, handled 0.9 s late), B (0.5 s), C (1.3 s) at 2 per second: every second holds two
    arrivals. Counted when handled, A, B and C would fall in one second and C would get a 429."""
    with Simulator(account, rate_limit=2, block_after=100) as sim:
        handle = sim.handle

        def late(method, target, headers, body):
            if "late=1" in target:
                time.sleep(0.9)  # the handler thread waits for the CPU
            return handle(method, target, headers, body)

        sim.handle = late
        statuses: dict[str, int] = {}

        def send(name: str, **params) -> None:
            statuses[name] = Client(sim).get("/api/v4/account", **params).status_code

        first = threading.Thread(target=send, args=("A",), kwargs={"late": 1})
        first.start()
        time.sleep(0.5)
        send("B")
        time.sleep(0.8)
        send("C")
        first.join()
    assert statuses == {"A": 200, "B": 200, "C": 200}


def test_an_arrival_registered_late_is_judged_by_every_second_it_falls_in():
    from pipelines.simulator.limits import OK, TOO_MANY, RateLimiter

    clock = [10.0]
    limiter = RateLimiter(rate=2, monotonic=lambda: clock[0])
    clock[0] = 10.5
    assert limiter.check() == OK
    clock[0] = 10.6
    assert limiter.check() == OK
    clock[0] = 10.7
    assert limiter.check(age=0.5) == TOO_MANY  # arrived 10.2: 10.2, 10.5 and 10.6 within one second
    clock[0] = 11.75
    assert limiter.check(age=0.1) == OK  # arrived 11.65: alone in its second


def test_429_bodies_are_json_or_plain_text(account):
    with Simulator(account, rate_limit=1, block_after=100) as sim:
        client = Client(sim)
        client.get("/api/v4/account")
        rejected = [client.get("/api/v4/account") for _ in range(3)]
    assert [r.status_code for r in rejected] == [429] * 3
    json_bodies = [r for r in rejected if r.headers["Content-Type"].startswith("application/problem+json")]
    plain = [r for r in rejected if r.headers["Content-Type"].startswith("text/plain")]
    assert len(json_bodies) == 2 and len(plain) == 1
    assert json_bodies[0].json()["status"] == 429 and json_bodies[0].json()["retry_after"] >= 1
    with pytest.raises(ValueError):
        plain[0].json()


def test_sustained_429s_block_with_nginx_403_until_unblocked(account):
    with Simulator(account, rate_limit=2, block_after=3, block_seconds=60) as sim:
        client = Client(sim)
        statuses = [client.get("/api/v4/account").status_code for _ in range(8)]
        assert statuses[:2] == [200, 200] and 429 in statuses and statuses[-1] == 403
        blocked = client.get("/api/v4/leads")
        assert blocked.status_code == 403 and "nginx" in blocked.text and blocked.headers["Content-Type"].startswith("text/html")
        sim.unblock()
        assert client.get("/api/v4/account").status_code == 200


def test_rate_limit_none_never_limits(client):
    assert {client.get("/api/v4/account").status_code for _ in range(30)} == {200}


def test_fail_next_on_a_path_then_recovers(client, sim):
    sim.faults.fail_next(2, status=503, path="/api/v4/leads")
    assert client.get("/api/v4/account").status_code == 200  # other paths unaffected
    first, second = client.get("/api/v4/leads"), client.get("/api/v4/leads")
    assert first.status_code == second.status_code == 503 and "nginx" in first.text
    assert client.get("/api/v4/leads").status_code == 200
    sim.faults.fail_next(1, status=500)
    failed = client.get("/api/v4/tasks")
    assert failed.status_code == 500 and failed.json()["status"] == 500
    sim.faults.fail_next(1, status=504)
    assert client.get("/api/v4/events").status_code == 504
    assert client.get("/api/v4/events").status_code == 200


@pytest.mark.parametrize("kind", ["truncated", "invalid_json", "wrong_shape"])
def test_malformed_bodies(client, sim, kind):
    good = client.get("/api/v4/leads", limit=3).json()
    sim.faults.malformed_next(1, kind=kind, path="/api/v4/leads")
    bad = client.get("/api/v4/leads", limit=3)
    assert bad.status_code == 200
    if kind == "wrong_shape":
        assert not isinstance(bad.json()["_embedded"]["leads"], list)
    else:
        with pytest.raises(ValueError):
            json.loads(bad.content)
    assert client.get("/api/v4/leads", limit=3).json() == good


def test_added_fields_appear_on_the_items_of_that_list_only(client, sim):
    sim.faults.add_fields("/api/v4/leads", ai_score=7)
    try:
        leads = client.get("/api/v4/leads", limit=3).json()["_embedded"]["leads"]
        assert [lead["ai_score"] for lead in leads] == [7, 7, 7]
        notes = client.get("/api/v4/leads/notes", limit=3).json()["_embedded"]["notes"]
        assert not any("ai_score" in note for note in notes)
    finally:
        sim.faults.reset()
    assert "ai_score" not in client.get("/api/v4/leads", limit=1).json()["_embedded"]["leads"][0]


def test_latency_on_and_off(client, sim):
    sim.faults.latency_ms = 150
    started = time.perf_counter()
    client.get("/api/v4/account")
    assert time.perf_counter() - started >= 0.15
    sim.faults.reset()
    started = time.perf_counter()
    client.get("/api/v4/account")
    assert time.perf_counter() - started < 0.15


def test_error_rate_is_seeded_and_switchable():
    def run():
        with Simulator(SimulatedAccount.generate(seed=2, leads=50, now=1_790_000_000), rate_limit=None) as sim:
            sim.faults.error_rate = 0.3
            client = Client(sim)
            statuses = [client.get("/api/v4/account").status_code for _ in range(40)]
            sim.faults.error_rate = 0
            after = {client.get("/api/v4/account").status_code for _ in range(10)}
            return statuses, after

    (first, after), (second, _) = run(), run()
    assert first == second
    assert set(first) - {200} <= {500, 502, 503, 504} and 5 <= sum(s != 200 for s in first) <= 20
    assert after == {200}


def test_storm_429(client, sim):
    sim.faults.storm_429(3)
    assert [client.get("/api/v4/leads").status_code for _ in range(4)] == [429, 429, 429, 200]


def test_ignore_filters(client, sim):
    lead_id = client.get("/api/v4/leads", limit=1, page=3).json()["_embedded"]["leads"][0]["id"]
    assert len(client.get("/api/v4/leads", **{"filter[id]": lead_id}).json()["_embedded"]["leads"]) == 1
    sim.faults.ignore_filters = True
    flag = client.get("/api/v4/account", **{"with": "is_api_filter_enabled"}).json()["is_api_filter_enabled"]
    assert flag is False
    ignored = client.get("/api/v4/leads", **{"filter[id]": lead_id, "order[id]": "desc"}).json()["_embedded"]["leads"]
    assert len(ignored) == 50 and ignored[0]["id"] < ignored[1]["id"]
    sim.faults.reset()
    assert client.get("/api/v4/account", **{"with": "is_api_filter_enabled"}).json()["is_api_filter_enabled"] is True


def test_next_always(client, sim):
    last_page = client.get("/api/v4/leads", limit=250, page=2).json()
    assert len(last_page["_embedded"]["leads"]) < 250 and "next" not in last_page["_links"]
    sim.faults.next_always = True
    quirky = client.get("/api/v4/leads", limit=250, page=2).json()
    assert "next" in quirky["_links"]
    assert requests.get(quirky["_links"]["next"]["href"], headers=client.session.headers, timeout=10).status_code == 204
    sim.faults.reset()
    assert "next" not in client.get("/api/v4/leads", limit=250, page=2).json()["_links"]


def test_mutate_while_paging_edits_an_unread_lead(fresh_client, fresh_sim):
    sim, client = fresh_sim, fresh_client
    before = sim.truth().leads.set_index("id")
    params = {"limit": 50, "order[updated_at]": "asc", "filter[updated_at][to]": sim.clock.now}
    sim.faults.mutate_while_paging = True
    first = client.get("/api/v4/leads", **params).json()["_embedded"]["leads"]
    [edited] = sim.faults.mutated
    assert edited not in {lead["id"] for lead in first}
    after = sim.truth()
    leads = after.leads.set_index("id")
    assert leads.updated_at[edited] == sim.clock.now and leads.price[edited] != before.price[edited]
    events = after.events
    change = events[(events.entity_id == edited) & (events.type == "sale_field_changed")
                    & (events.created_at == sim.clock.now)]
    assert len(change) == 1
    assert change.value_after.iloc[0][0]["sale_field_value"]["sale"] == leads.price[edited]
    sim.faults.mutate_while_paging = False
    rest = client.all("/api/v4/leads", "leads", **{**params, "page": 2})
    assert rest[-1]["id"] == edited and rest[-1]["updated_at"] == sim.clock.now  # it moved to the end
    assert sim.faults.mutated == [edited]


def test_faults_are_off_by_default_and_after_reset(sim):
    faults = sim.faults
    assert (faults.latency_ms, faults.error_rate, faults.mutate_while_paging, faults.ignore_filters,
            faults.next_always) == (0, 0.0, False, False, False)
    faults.fail_next(5)
    faults.storm_429(5)
    faults.malformed_next(5)
    faults.reset()
    client = Client(sim)
    assert {client.get("/api/v4/leads").status_code for _ in range(6)} == {200}
    assert all(isinstance(client.get("/api/v4/leads").json(), dict) for _ in range(2))


def test_stats_count_requests(client, sim):
    sim.stats.reset()
    client.get("/api/v4/leads")
    client.get("/api/v4/leads/notes")
    requests.get(f"{sim.base_url}/api/v4/leads", timeout=10)
    assert sim.stats.total == 3 and sim.stats.count("/api/v4/leads") == 3
    assert sim.stats.by_path["/api/v4/leads/notes"] == 1 and sim.stats.by_status[401] == 1
