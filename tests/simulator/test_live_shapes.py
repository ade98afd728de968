"""The simulator serves the shapes captured from live accounts (../shared/amocrm-api.md §8) by default.

Every test that reads a default account then guards the extractor and the models against them;
this file makes sure the guard cannot silently vanish. `shapes="documented"` serves the documented
shapes of the same data.
"""

import re

import pytest
from sim_support import NOW, Client

from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator import reference as ref
from pipelines.simulator import shapes


@pytest.fixture(scope="module")
def documented_client():
    account = SimulatedAccount.generate(seed=7, leads=300, now=NOW, shapes=shapes.DOCUMENTED)
    with Simulator(account, rate_limit=None) as running:
        yield Client(running)


def _leads_pages(client: Client, limit: int = 25) -> list[dict]:
    pages, page = [], 1
    while (response := client.get("/api/v4/leads", limit=limit, page=page)).status_code == 200:
        pages.append(response.json())
        page += 1
    return pages


def test_the_default_is_live(account):
    assert account.shapes == shapes.LIVE
    with pytest.raises(ValueError, match="unknown shapes"):
        SimulatedAccount.generate(seed=7, leads=10, now=NOW, shapes="docs")


def test_custom_fields(client):
    leads = [lead for page in _leads_pages(client) for lead in page["_embedded"]["leads"]]
    numeric = [v["value"] for lead in leads for f in lead["custom_fields_values"] or []
               if f["field_type"] == "numeric" for v in f["values"]]
    assert numeric and all(isinstance(v, str) and v.isdigit() for v in numeric)
    assert 0 < sum(lead["custom_fields_values"] is None for lead in leads) < len(leads)


def test_some_leads_pages_have_no_page_number(client):
    pages = _leads_pages(client)
    assert len(pages) >= 6
    without = [p for p in pages if "_page" not in p]
    assert 0 < len(without) < len(pages)
    assert all(set(p) == {"_links", "_embedded"} for p in without)
    assert all(p["_page"] == i + 1 for i, p in enumerate(pages) if "_page" in p)


def test_envelopes_with_total_items(client):
    for path in ("/api/v4/users", "/api/v4/leads/custom_fields"):
        body = client.get(path).json()
        assert {"_total_items", "_page_count"} <= set(body)
    pipelines = client.get("/api/v4/leads/pipelines").json()
    assert "_total_items" in pipelines and "_page" not in pipelines


def test_tasks_result(client):
    tasks = client.all("/api/v4/tasks", "tasks", limit=250)
    assert {type(t["result"]).__name__ for t in tasks} == {"list", "dict"}
    assert all(t["result"] == [] for t in tasks if not t["is_completed"])


def test_events(client):
    events = client.all("/api/v4/events", "events", limit=250)
    assert all(isinstance(e["id"], str) and len(e["id"]) == 26 for e in events)
    messages = [v["message"] for e in events for v in e["value_after"] if "message" in v]
    assert messages and all(set(m) == {"id", "origin", "talk_id"} for m in messages)
    assert all(isinstance(m["origin"], str) and isinstance(m["talk_id"], int) for m in messages)
    assert len({m["origin"] for m in messages}) > 1
    kinds = {next(iter(v)) for e in events for v in e["value_after"]}
    assert {"lead_status", "responsible_user", "note", "message", "nps", "sale_field_value"} <= kinds


def test_call_notes(client):
    notes = client.all("/api/v4/leads/notes", "notes", limit=250, **{"filter[note_type]": "call_in,call_out"})
    params = [n["params"] for n in notes]
    assert params and all(re.fullmatch(r"\d{10}\.\d{6}", p["uniq"]) for p in params)
    assert all(p["link"] is None for p in params if p["duration"] == 0)
    answered = [p["link"] for p in params if p["duration"] > 0]
    assert None in answered and any(isinstance(link, str) for link in answered)
    assert {p["phone"][0] for p in params} == {"+", "7"} and all(p["source"].isdigit() for p in params)


def test_mail_notes_on_contacts_have_string_ids(client):
    notes = client.all("/api/v4/contacts/notes", "notes", limit=250, **{"filter[note_type]": "amomail_message"})
    assert notes
    assert all(isinstance(n["params"]["thread_id"], str) and isinstance(n["params"]["message_id"], str)
               for n in notes)


def test_pipelines(client):
    pipelines = client.get("/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]
    closed = {(p["id"], s["id"]): s["name"] for p in pipelines for s in p["_embedded"]["statuses"]
              if s["id"] in (ref.WON, ref.LOST)}
    renamed = {key for key, name in closed.items() if name not in (ref.WON_NAME, ref.LOST_NAME)}
    assert 0 < len(renamed) < len(closed)
    for p in pipelines:
        types = {s["id"]: s["type"] for s in p["_embedded"]["statuses"]}
        assert types.pop(next(iter(types))) == 1 and set(types.values()) == {0}


def test_users(client):
    users = client.all("/api/v4/users", "users")
    groups = {u["id"]: u["rights"]["group_id"] for u in users}
    assert all(groups[u.id] == (None if u.group_id == 0 else u.group_id) for u in ref.USERS)
    assert all(isinstance(u["rights"]["status_rights"], list) for u in users)


def test_documented_shapes_on_request(documented_client, client):
    pages = _leads_pages(documented_client)
    assert all("_page" in p for p in pages)
    numeric = [v["value"] for p in pages for lead in p["_embedded"]["leads"]
               for f in lead["custom_fields_values"] or [] if f["field_type"] == "numeric" for v in f["values"]]
    assert numeric and all(isinstance(v, int) for v in numeric)
    events = documented_client.all("/api/v4/events", "events", limit=250, **{"filter[type]": "incoming_chat_message"})
    assert events and all(set(e["value_after"][0]["message"]) == {"id"} for e in events)
    users = documented_client.all("/api/v4/users", "users")
    assert {u["rights"]["group_id"] for u in users} >= {0}
    # same data, other shapes: the same leads in the same order
    live = [lead["id"] for p in _leads_pages(client) for lead in p["_embedded"]["leads"]]
    assert live == [lead["id"] for p in pages for lead in p["_embedded"]["leads"]]


def test_truth_follows_the_served_shapes(account):
    """The ground truth renders notes and events as the account serves them (so raw loads compare equal)."""
    truth = account.truth()
    served = {n["id"]: n["params"] for n in account.api_records("notes_contacts")}
    assert served and all(truth.notes.set_index("id").loc[i, "params"] == p for i, p in served.items())
    statuses = truth.statuses.set_index(["pipeline_id", "id"])["name"]
    for p in account.api_records("pipelines"):
        for s in p["_embedded"]["statuses"]:
            assert statuses[(p["id"], s["id"])] == s["name"]


def test_list_items_repeat_the_query_and_users_end_with_a_slash(client):
    leads = client.get("/api/v4/leads", limit=5, page=2, **{"filter[updated_at][from]": 1}).json()
    hrefs = [lead["_links"]["self"]["href"] for lead in leads["_embedded"]["leads"]]
    assert hrefs and all(h.endswith(f"/api/v4/leads/{lead['id']}?limit=5&page=2&filter%5Bupdated_at%5D%5Bfrom%5D=1")
                         for h, lead in zip(hrefs, leads["_embedded"]["leads"]))
    users = client.all("/api/v4/users", "users")
    assert all(u["_links"]["self"]["href"].endswith(f"/users/{u['id']}/") for u in users)


def test_tags_without_color(client):
    tags = [t for p in _leads_pages(client, limit=250) for lead in p["_embedded"]["leads"]
            for t in lead["_embedded"]["tags"]]
    assert any("color" not in t for t in tags) and any("color" in t for t in tags)


def test_service_message_notes(client):
    notes = client.all("/api/v4/leads/notes", "notes", limit=250)
    service = [n["params"] for n in notes if n["note_type"] == "service_message"]
    assert service and all(set(p) == {"service", "text"} for p in service)
    assert any(n["note_type"] == "common" for n in notes)


def test_contacts_and_companies_without_fields(client):
    for path in ("contacts", "companies"):
        items = client.all(f"/api/v4/{path}", path, limit=250)
        assert 0 < sum(i["custom_fields_values"] is None for i in items) < len(items), path


def test_chat_events_name_the_talk_contact_and_a_deleted_leads_contact(account, client):
    """A chat event on a lead names the talk's contact; a deleted lead's are served as the contact's."""
    events = client.all("/api/v4/events", "events", limit=250,
                        **{"filter[type]": "incoming_chat_message,outgoing_chat_message"})
    on_lead = [e for e in events if e["entity_type"] == "lead"]
    assert on_lead and all(isinstance(e["_embedded"]["entity"]["linked_talk_contact_id"], int) for e in on_lead)
    truth = account.truth().events.set_index("id")
    deleted = set(account.truth().leads.query("is_deleted")["id"])
    of_deleted = [e for e in events if truth.loc[e["id"], "talk_lead_id"] in deleted]
    assert of_deleted and {e["entity_type"] for e in of_deleted} == {"contact"}
    assert all("linked_talk_contact_id" not in e["_embedded"]["entity"] for e in of_deleted)


def test_note_type_filter_follows_the_served_type(client):
    service = client.all("/api/v4/leads/notes", "notes", limit=250, **{"filter[note_type]": "service_message"})
    common = client.all("/api/v4/leads/notes", "notes", limit=250, **{"filter[note_type]": "common"})
    assert service and {n["note_type"] for n in service} == {"service_message"}
    assert common and {n["note_type"] for n in common} == {"common"}
