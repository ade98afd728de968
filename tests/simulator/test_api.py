"""The HTTP API against ground truth: envelopes, shapes, paging, filters, ordering, `with=`."""

import pytest
from sim_support import NOW, plain, without_item_queries


def _ids(items):
    return [item["id"] for item in items]


def test_hal_envelope_links_and_headers(client, sim):
    response = client.get("/api/v4/leads", limit=5, page=2)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/hal+json")
    assert response.headers["X-Request-Id"]
    body = response.json()
    assert body.get("_page", 2) == 2  # live leads pages may omit `_page` (test_live_shapes.py)
    links = body["_links"]
    assert set(links) == {"self", "next", "first", "prev"}
    assert links["next"]["href"].startswith(f"{sim.base_url}/api/v4/leads?") and "page=3" in links["next"]["href"]
    assert "page=1" in links["first"]["href"] and "page=1" in links["prev"]["href"]
    lead = body["_embedded"]["leads"][0]
    # live items repeat the list request's query string (test_live_shapes.py)
    assert lead["_links"]["self"]["href"] == f"{sim.base_url}/api/v4/leads/{lead['id']}?limit=5&page=2"


def test_date_header_is_the_simulated_clock(client, sim):
    response = client.get("/api/v4/account")
    assert response.headers["Date"] == "Mon, 21 Sep 2026 14:13:20 GMT"


def test_lead_shape_null_vs_empty(client, account):
    leads = client.all("/api/v4/leads", "leads", limit=250)
    truth = account.truth().leads.set_index("id")
    assert len(leads) == (~truth.is_deleted).sum()
    expected_keys = {"id", "name", "price", "responsible_user_id", "group_id", "status_id", "pipeline_id",
                     "loss_reason_id", "created_by", "updated_by", "created_at", "updated_at", "closed_at",
                     "closest_task_at", "is_deleted", "custom_fields_values", "score", "account_id", "labor_cost",
                     "_links", "_embedded"}
    for lead in leads:
        assert set(lead) == expected_keys  # no source_id, no contacts without with=
        assert set(lead["_embedded"]) == {"tags", "companies"}
        assert lead["custom_fields_values"] is None or lead["custom_fields_values"]
        row = truth.loc[lead["id"]]
        assert (lead["price"], lead["status_id"], lead["pipeline_id"], lead["updated_at"]) == (
            row.price, row.status_id, row.pipeline_id, row.updated_at)
        assert lead["closed_at"] == plain(row.closed_at)
        assert lead["loss_reason_id"] == plain(row.loss_reason_id)
        assert [c["id"] for c in lead["_embedded"]["companies"]] == ([] if plain(row.company_id) is None
                                                                     else [row.company_id])
        utm = next((f["values"][0]["value"] for f in lead["custom_fields_values"] or []
                    if f["field_name"] == "utm_source"), None)
        assert utm == plain(row.utm_source)
    assert any(lead["custom_fields_values"] is None for lead in leads)
    assert any(lead["_embedded"]["companies"] for lead in leads)
    assert any(lead["_embedded"]["tags"] for lead in leads)


def test_with_contacts_loss_reason_source_id(client, account):
    truth = account.truth()
    leads = client.all("/api/v4/leads", "leads", limit=250, **{"with": "contacts,loss_reason,source_id"})
    links = truth.lead_contacts
    sources = truth.leads.set_index("id").source_id
    for lead in leads:
        assert lead["source_id"] == plain(sources[lead["id"]])
        expected = links[links.lead_id == lead["id"]]
        assert sorted((c["id"], c["is_main"]) for c in lead["_embedded"]["contacts"]) == sorted(
            zip(expected.contact_id, expected.is_main))
        if lead["loss_reason_id"] is not None:
            [reason] = lead["_embedded"]["loss_reason"]  # the documented array form
            assert reason["id"] == lead["loss_reason_id"] and reason["name"]
        else:
            assert "loss_reason" not in lead["_embedded"]
    assert any(lead["source_id"] is None for lead in leads) and any(lead["source_id"] for lead in leads)


def test_with_source_embeds_the_source_id_and_name(client, account):
    """`with=source`: `_embedded.source` {id, name} on a lead that has a source, nothing on one without."""
    truth = account.truth().leads.set_index("id")
    leads = client.all("/api/v4/leads", "leads", limit=250, **{"with": "source_id,source"})
    for lead in leads:
        row = truth.loc[lead["id"]]
        if plain(row.source_id) is None:
            assert "source" not in lead["_embedded"] and lead["source_id"] is None
        else:
            assert lead["_embedded"]["source"] == {"id": row.source_id, "name": row.source_name}
            assert lead["source_id"] == row.source_id
    named = [lead for lead in leads if "source" in lead["_embedded"]]
    assert named and len(named) < len(leads)
    assert truth.source_name.isna().equals(truth.source_id.isna())  # a name exactly where there is a source
    assert len({(lead["_embedded"]["source"]["id"], lead["_embedded"]["source"]["name"]) for lead in named}) >= 2


def test_pagination_to_the_end_with_204(client, account):
    live = account.truth().leads.query("~is_deleted")
    pages, page = [], 1
    while True:
        response = client.get("/api/v4/leads", limit=40, page=page)
        if response.status_code == 204:
            assert response.content == b""
            break
        pages.append(response.json())
        page += 1
    sizes = [len(p["_embedded"]["leads"]) for p in pages]
    assert sum(sizes) == len(live) and all(s == 40 for s in sizes[:-1])
    assert ("next" in pages[-1]["_links"]) == (sizes[-1] == 40)
    assert _ids(item for p in pages for item in p["_embedded"]["leads"]) == sorted(live.id)


def test_limit_defaults_to_50_and_clamps_to_250(client):
    assert len(client.get("/api/v4/leads").json()["_embedded"]["leads"]) == 50
    assert len(client.get("/api/v4/leads", limit=1000).json()["_embedded"]["leads"]) == 250
    assert len(client.get("/api/v4/events", limit=1000).json()["_embedded"]["events"]) == 250


def test_nothing_matches_is_204(client):
    response = client.get("/api/v4/leads", **{"filter[id]": 1})
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize("form", ["list", "indexed", "comma", "single"])
def test_filter_id_forms(client, account, form):
    wanted = sorted(account.truth().leads.query("~is_deleted").id[:3])
    params = {"list": {"filter[id][]": wanted}, "indexed": {f"filter[id][{i}]": v for i, v in enumerate(wanted)},
              "comma": {"filter[id]": ",".join(map(str, wanted))}, "single": {"filter[id]": wanted[0]}}[form]
    got = _ids(client.get("/api/v4/leads", **params).json()["_embedded"]["leads"])
    assert got == (wanted[:1] if form == "single" else wanted)


@pytest.mark.parametrize("field", ["updated_at", "created_at"])
def test_time_range_filters_are_inclusive(client, account, field):
    live = account.truth().leads.query("~is_deleted")
    lo, hi = int(live[field].quantile(0.3)), int(live[field].quantile(0.6))
    got = client.all("/api/v4/leads", "leads", limit=250, **{f"filter[{field}][from]": lo, f"filter[{field}][to]": hi})
    expected = live[(live[field] >= lo) & (live[field] <= hi)]
    assert sorted(_ids(got)) == sorted(expected.id) and len(expected) > 10
    only_from = client.all("/api/v4/leads", "leads", limit=250, **{f"filter[{field}][from]": hi})
    assert sorted(_ids(only_from)) == sorted(live[live[field] >= hi].id)


def test_status_pipeline_and_responsible_filters(client, account):
    live = account.truth().leads.query("~is_deleted")
    main = int(live.pipeline_id.mode()[0])
    won = client.all("/api/v4/leads", "leads", limit=250, **{"filter[statuses][0][pipeline_id]": main,
                                                             "filter[statuses][0][status_id]": 142})
    assert sorted(_ids(won)) == sorted(live[(live.pipeline_id == main) & (live.status_id == 142)].id)
    in_pipeline = client.all("/api/v4/leads", "leads", limit=250, **{"filter[pipeline_id][]": main})
    assert sorted(_ids(in_pipeline)) == sorted(live[live.pipeline_id == main].id)
    user = int(live.responsible_user_id.mode()[0])
    mine = client.all("/api/v4/leads", "leads", limit=250, **{"filter[responsible_user_id]": user})
    assert sorted(_ids(mine)) == sorted(live[live.responsible_user_id == user].id)


@pytest.mark.parametrize("field", ["updated_at", "created_at", "id"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_lead_ordering_with_id_tie_break(client, account, field, direction):
    live = account.truth().leads.query("~is_deleted")
    got = client.all("/api/v4/leads", "leads", limit=100, **{f"order[{field}]": direction})
    expected = live.sort_values([field, "id"], ascending=direction == "asc")
    assert _ids(got) == list(expected.id)


def test_only_deleted_is_the_reduced_trash_view(client, account):
    truth = account.truth()
    deleted = truth.leads[truth.leads.is_deleted]
    assert len(deleted)
    got = client.all("/api/v4/leads", "leads", **{"with": "only_deleted"})
    assert sorted(_ids(got)) == sorted(deleted.id)
    for item in got:
        assert set(item) == {"id", "updated_at", "updated_by", "is_deleted", "account_id", "_links"}
        assert item["is_deleted"] is True
        assert item["updated_at"] == deleted.set_index("id").deleted_at[item["id"]]
    live_ids = set(_ids(client.all("/api/v4/leads", "leads", limit=250)))
    assert live_ids.isdisjoint(deleted.id)
    assert client.get(f"/api/v4/leads/{deleted.id.iloc[0]}").status_code == 204


def test_contacts_and_companies(client, account):
    truth = account.truth()
    contacts = client.all("/api/v4/contacts", "contacts", limit=250, **{"with": "leads"})
    live = truth.contacts[~truth.contacts.is_deleted]
    assert sorted(_ids(contacts)) == sorted(live.id)
    companies_of = live.set_index("id").company_id
    assert any(c["custom_fields_values"] is None for c in contacts)  # live: a contact with no fields filled
    for contact in contacts:
        codes = {f["field_code"] for f in contact["custom_fields_values"] or []}
        assert {"PHONE", "EMAIL"} <= codes or contact["custom_fields_values"] is None
        assert "leads" in contact["_embedded"]
        company = plain(companies_of[contact["id"]])
        assert [c["id"] for c in contact["_embedded"]["companies"]] == ([] if company is None else [company])
    links = truth.lead_contacts
    sample = contacts[0]
    leads_live = set(truth.leads[~truth.leads.is_deleted].id)
    assert sorted(_ids(sample["_embedded"]["leads"])) == sorted(
        set(links[links.contact_id == sample["id"]].lead_id) & leads_live)
    companies = client.all("/api/v4/companies", "companies", limit=250, **{"with": "contacts,leads"})
    assert sorted(_ids(companies)) == sorted(truth.companies[~truth.companies.is_deleted].id)
    assert any(c["_embedded"]["contacts"] for c in companies) and any(c["_embedded"]["leads"] for c in companies)
    ordered = client.all("/api/v4/contacts", "contacts", limit=250, **{"order[updated_at]": "desc"})
    assert _ids(ordered) == list(live.sort_values(["updated_at", "id"], ascending=False).id)


def test_tasks_filters_order_and_result_shape(client, account):
    tasks = account.truth().tasks
    got = client.all("/api/v4/tasks", "tasks", limit=250)
    assert sorted(_ids(got)) == sorted(tasks.id)
    for task in got:
        assert task["entity_type"] in ("leads", "contacts")
        assert task["result"] == ({"text": task["result"]["text"]} if task["is_completed"] else [])
    open_meetings = client.all("/api/v4/tasks", "tasks", limit=250, **{"filter[is_completed]": 0,
                                                                       "filter[task_type][]": 2})
    expected = tasks[(tasks.task_type_id == 2) & ~tasks.is_completed]
    assert sorted(_ids(open_meetings)) == sorted(expected.id) and len(expected)
    since = int(tasks.updated_at.quantile(0.8))
    changed = client.all("/api/v4/tasks", "tasks", limit=250, **{"filter[updated_at]": since})
    assert sorted(_ids(changed)) == sorted(tasks[tasks.updated_at >= since].id)
    by_deadline = client.all("/api/v4/tasks", "tasks", limit=250, **{"order[complete_till]": "asc"})
    assert _ids(by_deadline) == list(tasks.sort_values(["complete_till", "id"]).id)


def test_notes_per_entity_type_and_note_type_filter(client, account):
    notes = account.truth().notes
    calls = client.all("/api/v4/leads/notes", "notes", limit=250,
                       **{"filter[note_type][]": ["call_in", "call_out"]})
    expected = notes[(notes.entity_type == "lead") & notes.note_type.isin(["call_in", "call_out"])]
    assert sorted(_ids(calls)) == sorted(expected.id)
    assert all(isinstance(n["params"]["duration"], int) and n["params"]["phone"] for n in calls)
    for entity, path in (("contact", "contacts"), ("company", "companies")):
        got = client.all(f"/api/v4/{path}/notes", "notes", limit=250)
        assert sorted(_ids(got)) == sorted(notes[notes.entity_type == entity].id) and got
    lead_id = int(expected.entity_id.iloc[0])
    one_lead = client.all(f"/api/v4/leads/{lead_id}/notes", "notes")
    assert sorted(_ids(one_lead)) == sorted(notes[(notes.entity_type == "lead") & (notes.entity_id == lead_id)].id)


def test_events_default_order_and_filters(client, account):
    events = account.truth().events
    first = client.get("/api/v4/events", limit=100).json()["_embedded"]["events"]
    newest = events.sort_values(["created_at", "id"], ascending=False).head(100)
    assert _ids(first) == list(newest.id)
    status_changes = client.all("/api/v4/events", "events", limit=250,
                                **{"filter[type]": "lead_status_changed,lead_deleted"})
    assert sorted(_ids(status_changes)) == sorted(events[events.type.isin(["lead_status_changed", "lead_deleted"])].id)
    lo, hi = int(events.created_at.quantile(0.5)), int(events.created_at.quantile(0.7))
    for params in ({"filter[created_at]": f"{lo},{hi}"}, {"filter[created_at][from]": lo, "filter[created_at][to]": hi}):
        got = client.all("/api/v4/events", "events", limit=250, **params)
        assert sorted(_ids(got)) == sorted(events[events.created_at.between(lo, hi)].id)
    contacts = client.all("/api/v4/events", "events", limit=250, **{"filter[entity][]": "contact"})
    assert {e["entity_type"] for e in contacts if not e["type"].endswith("_chat_message")} == {"contact"}
    # chat events are found under `contact` only, whatever entity they name (amocrm-api.md §2.5)
    chats = set(events.loc[events["type"].str.endswith("_chat_message"), "id"])
    assert chats and chats <= set(_ids(contacts))
    leads = client.all("/api/v4/events", "events", limit=250, **{"filter[entity][]": "lead"})
    assert not chats & set(_ids(leads))
    one = events.iloc[5]
    assert _ids(client.get("/api/v4/events", **{"filter[id]": one.id}).json()["_embedded"]["events"]) == [one.id]
    assert client.get(f"/api/v4/events/{one.id}").json()["type"] == one.type
    assert client.get("/api/v4/events/types").json()["_total_items"] > 10


def test_events_max_limit_switch(account):
    from pipelines.simulator import Simulator
    from sim_support import Client

    with Simulator(account, rate_limit=None, events_max_limit=100) as sim:
        assert len(Client(sim).get("/api/v4/events", limit=250).json()["_embedded"]["events"]) == 100


def test_account_and_reference_endpoints(client, account):
    acc = client.get("/api/v4/account", **{"with": "datetime_settings,task_types,users_groups,is_api_filter_enabled"}).json()
    assert acc["currency"] == "RUB" and acc["is_api_filter_enabled"] is True
    assert acc["_embedded"]["datetime_settings"]["timezone"] == "Europe/Moscow"
    assert {t["code"] for t in acc["_embedded"]["task_types"]} >= {"FOLLOW_UP", "MEETING"}
    assert len(acc["_embedded"]["users_groups"]) == 3
    assert "_embedded" not in client.get("/api/v4/account").json()
    users = client.get("/api/v4/users", limit=250).json()
    assert users["_total_items"] == users["_page"] * 0 + len(users["_embedded"]["users"]) == 8
    assert [u for u in users["_embedded"]["users"] if not u["rights"]["is_active"]]
    assert all("group_id" in u["rights"] and "is_admin" in u["rights"] for u in users["_embedded"]["users"])
    pipelines = client.get("/api/v4/leads/pipelines").json()
    assert pipelines["_total_items"] == len(pipelines["_embedded"]["pipelines"])
    statuses = pipelines["_embedded"]["pipelines"][0]["_embedded"]["statuses"]
    assert {142, 143} <= {s["id"] for s in statuses} and [s for s in statuses if s["type"] == 1]
    reasons = client.get("/api/v4/leads/loss_reasons").json()
    assert reasons["_total_items"] == len(reasons["_embedded"]["loss_reasons"]) >= 5
    fields = client.get("/api/v4/leads/custom_fields").json()
    assert {"utm_source", "Оценка клиента"} <= {f["name"] for f in fields["_embedded"]["custom_fields"]}
    contact_fields = client.get("/api/v4/contacts/custom_fields").json()["_embedded"]["custom_fields"]
    phone = next(f for f in contact_fields if f["code"] == "PHONE")
    assert phone["type"] == "multitext" and {e["value"] for e in phone["enums"]} >= {"WORK", "MOB"}


def test_single_items_and_unknown_paths(client, account):
    lead = account.truth().leads.query("~is_deleted").iloc[0]
    assert client.get(f"/api/v4/leads/{lead.id}").json()["id"] == lead.id
    assert client.get("/api/v4/leads/1").status_code == 204
    missing = client.get("/api/v4/nonsense")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("application/problem+json")
    bad = client.get("/api/v4/leads", page="x")
    assert bad.status_code == 400 and bad.json()["status"] == 400


def test_api_records_equal_served_pages(client, account):
    served = client.all("/api/v4/leads", "leads", limit=250, **{"with": "contacts,loss_reason,source_id,source"})
    base = client.sim.base_url
    records = list(account.api_records("leads", at=NOW))

    def strip(obj):
        import json
        return json.loads(json.dumps(obj).replace(base, ""))

    assert without_item_queries(strip(served)) == without_item_queries(records)


def test_same_seed_serves_identical_pages():
    from pipelines.simulator import SimulatedAccount, Simulator
    from sim_support import Client

    def pages(seed):
        with Simulator(SimulatedAccount.generate(seed=seed, leads=120, now=NOW), rate_limit=None) as sim:
            client = Client(sim)
            bodies = [client.get(path, limit=50, page=page, **{"with": "contacts,loss_reason"}).text
                      for path in ("/api/v4/leads", "/api/v4/events", "/api/v4/leads/notes", "/api/v4/tasks")
                      for page in (1, 2)]
            return [body.replace(sim.base_url, "") for body in bodies]

    first = pages(9)
    assert first == pages(9)
    assert first != pages(10)
