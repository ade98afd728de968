"""The bad-list-page faults: each spoils exactly the pages it says, then the server is itself again."""

from sim_support import Client, without_item_queries


def test_empty_200_next(client, sim):
    sim.faults.empty_200_next(2, path="/api/v4/events")
    assert client.get("/api/v4/leads", limit=5).json()["_embedded"]["leads"]  # other lists unaffected
    spoiled = [client.get("/api/v4/events", limit=5, page=p) for p in (1, 2)]
    assert [(r.status_code, r.content) for r in spoiled] == [(200, b""), (200, b"")]
    assert len(client.get("/api/v4/events", limit=5).json()["_embedded"]["events"]) == 5


def test_no_embedded_next(client, sim):
    good = client.get("/api/v4/tasks", limit=5, page=2).json()
    sim.faults.no_embedded_next(1, path="/api/v4/tasks")
    spoiled = client.get("/api/v4/tasks", limit=5, page=2)
    assert spoiled.status_code == 200
    body = spoiled.json()
    assert "_embedded" not in body and body["_links"] == good["_links"] and body["_page"] == 2
    assert client.get("/api/v4/tasks", limit=5, page=2).json() == good


def test_short_page_next_spoils_full_pages_only(client, sim):
    last = client.get("/api/v4/leads", limit=250, page=2).json()  # short: left alone, rule kept
    sim.faults.short_page_next(1, path="/api/v4/leads")
    assert client.get("/api/v4/leads", limit=250, page=2).json() == last
    spoiled = client.get("/api/v4/leads", limit=10, page=3).json()
    assert len(spoiled["_embedded"]["leads"]) == 5 and "next" not in spoiled["_links"]
    whole = client.get("/api/v4/leads", limit=10, page=3).json()
    assert whole["_embedded"]["leads"][:5] == spoiled["_embedded"]["leads"] and "next" in whole["_links"]


def test_events_page_cap(client, sim):
    every = client.all("/api/v4/events", "events", limit=250)
    assert len(every) > 120
    sim.faults.events_page_cap = 100
    first, second = (client.get("/api/v4/events", limit=250, page=p).json() for p in (1, 2))
    assert [len(b["_embedded"]["events"]) for b in (first, second)] == [100, 100]
    assert "next" not in first["_links"] and "next" not in second["_links"]
    capped = first["_embedded"]["events"] + second["_embedded"]["events"]
    assert without_item_queries(capped) == without_item_queries(every[:200])  # offsets follow the cap
    assert len(client.get("/api/v4/leads", limit=250).json()["_embedded"]["leads"]) == 250  # events only
    sim.faults.reset()
    assert "next" in client.get("/api/v4/events", limit=100).json()["_links"]


def test_bad_page_faults_are_off_after_reset(sim):
    faults = sim.faults
    assert faults.events_page_cap is None
    faults.empty_200_next(3)
    faults.no_embedded_next(3)
    faults.short_page_next(3)
    faults.reset()
    client = Client(sim)
    assert all("_embedded" in client.get("/api/v4/leads", limit=5).json() for _ in range(4))
