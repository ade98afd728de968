"""amoCRM API v4 routing, row selection, paging and envelopes, with no HTTP in it (queries: query.py).

`Api.get(path, query, at)` answers one authorised GET as the real API would at the
simulated moment `at`; `server.py` adds auth, limits and faults around it. A list
query's matching rows are computed once per (state, query) and then sliced per page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlencode

import numpy as np

from . import chats
from . import events as ev
from . import reference as ref
from . import render, shapes
from .generator import COMPANY, CONTACT, LEAD
from .query import BadRequest, Query, in_mask, ordered, range_mask
from .responses import NO_CONTENT, Response, hal, problem  # noqa: F401  (Response, problem: server.py's too)
from .state import State

MAX_LIMIT = 250
DEFAULT_LIMIT = 50
MEMO_KEPT = 64


@dataclass
class Listing:
    """One list endpoint: how to pick rows of the state and render them."""

    collection: str
    select: Callable[[State, Query, bool], np.ndarray]  # (state, query, filters honoured) -> row indices in order
    item: Callable[[render.Renderer, int, set[str]], dict]
    max_limit: int = MAX_LIMIT


class Api:
    def __init__(self, account, events_max_limit: int = MAX_LIMIT):
        self.account = account
        self.hidden: dict[str, int] = {}  # fault `hide_records`: list name -> lowest live ids hidden
        self.listings = {
            "leads": Listing("leads", self._leads, lambda r, i, w: r.lead(i, w)),
            "contacts": Listing("contacts", self._people("contacts"), lambda r, i, w: r.contact(i, w)),
            "companies": Listing("companies", self._people("companies"), lambda r, i, w: r.company(i, w)),
            "tasks": Listing("tasks", self._tasks, lambda r, i, w: r.task(i)),
            "events": Listing("events", self._events, lambda r, i, w: r.event(i), max_limit=events_max_limit),
            **{f"notes_{p}": Listing("notes", self._notes(kind), lambda r, i, w: r.note(i))
               for p, kind in (("leads", LEAD), ("contacts", CONTACT), ("companies", COMPANY))},
        }

    def _event_index(self) -> ev.EventIndex:
        return self.account.events

    # -- selections ------------------------------------------------------------------------

    def _leads(self, st: State, q: Query, honour: bool) -> np.ndarray:
        s = st.leads
        ids = ref.LEAD_ID_BASE + np.arange(len(s["status"]))
        if "only_deleted" in q.with_():
            cols = {"id": ids, "updated_at": s["deleted_at"], "updated_by": s["deleted_by"]}
            mask = s["in_trash"].copy()  # merged-away leads are deleted, but not in the trash
            if honour:
                mask = in_mask(mask, ids, q.ints("filter", "id"))
                mask = range_mask(mask, s["deleted_at"], q.range("updated_at"))
            return ordered(mask, ids, q, {"id": ids, "updated_at": cols["updated_at"]}, honour)
        mask = ~s["is_deleted"]
        if honour:
            for name, col in (("id", ids), ("pipeline_id", s["pipeline"]), ("responsible_user_id", s["responsible"]),
                              ("created_by", s["created_by"]), ("updated_by", s["updated_by"]),
                              ("status_id", s["status"])):
                mask = in_mask(mask, col, q.ints("filter", name))
            for name, col in (("created_at", s["created_at"]), ("updated_at", s["updated_at"]),
                              ("price", s["price"])):
                mask = range_mask(mask, col, q.range(name))
            mask = range_mask(mask, s["closed_at"], q.range("closed_at"), nullable=True)
            mask = mask & self._statuses_mask(s, q)
        return ordered(mask, ids, q, {"id": ids, "created_at": s["created_at"], "updated_at": s["updated_at"]},
                        honour)

    @staticmethod
    def _statuses_mask(s: dict, q: Query) -> np.ndarray:
        """`filter[statuses][i][pipeline_id]` + `[status_id]`: any of the listed (pipeline, status) pairs."""
        pairs: dict[str, dict[str, int]] = {}
        for key, value in q.keys:
            if key[:2] == ("filter", "statuses") and len(key) == 4:
                try:
                    pairs.setdefault(key[2], {})[key[3]] = int(value)
                except ValueError:
                    raise BadRequest("filter[statuses] must hold integers") from None
        if not pairs:
            return np.ones(len(s["status"]), bool)
        mask = np.zeros(len(s["status"]), bool)
        for pair in pairs.values():
            m = np.ones(len(s["status"]), bool)
            if "pipeline_id" in pair:
                m &= s["pipeline"] == pair["pipeline_id"]
            if "status_id" in pair:
                m &= s["status"] == pair["status_id"]
            mask |= m
        return mask

    def _people(self, which: str):
        base = ref.CONTACT_ID_BASE if which == "contacts" else ref.COMPANY_ID_BASE

        def select(st: State, q: Query, honour: bool) -> np.ndarray:
            s = getattr(st, which)
            ids = base + np.arange(len(s["is_deleted"]))
            deleted_view = "only_deleted" in q.with_()
            mask = s["in_trash"].copy() if deleted_view else ~s["is_deleted"]
            updated = s["deleted_at"] if deleted_view else s["updated_at"]
            if honour:
                mask = in_mask(mask, ids, q.ints("filter", "id"))
                mask = range_mask(mask, updated, q.range("updated_at"))
                if not deleted_view:
                    mask = range_mask(mask, s["created_at"], q.range("created_at"))
            return ordered(mask, ids, q, {"id": ids, "updated_at": updated}, honour)

        return select

    def _tasks(self, st: State, q: Query, honour: bool) -> np.ndarray:
        t, s = self.account.timeline.tasks, st.tasks
        n = len(s["is_completed"])
        ids = ref.TASK_ID_BASE + np.arange(n)
        kinds = t["kind"][:n]
        entity_ids = np.where(kinds == LEAD, ref.LEAD_ID_BASE, ref.CONTACT_ID_BASE) + t["entity"][:n]
        mask = ~s["is_deleted"]
        if honour:
            mask = in_mask(mask, ids, q.ints("filter", "id"))
            mask = in_mask(mask, t["responsible"][:n], q.ints("filter", "responsible_user_id"))
            mask = in_mask(mask, t["type"][:n], q.ints("filter", "task_type"))
            mask = in_mask(mask, entity_ids, q.ints("filter", "entity_id"))
            entity_types = q.values("filter", "entity_type")
            if entity_types:
                wanted = [k for k, name in render.ENTITY_PATH.items() if name in entity_types]
                mask &= np.isin(kinds, wanted)
            completed = q.values("filter", "is_completed")
            if completed:
                mask &= s["is_completed"] == (completed[0] in ("1", "true"))
            mask = range_mask(mask, s["updated_at"], q.range("updated_at"))
        return ordered(mask, ids, q, {"id": ids, "created_at": t["created"][:n],
                                       "complete_till": t["complete_till"][:n]}, honour)

    def _notes(self, kind: int):
        def select(st: State, q: Query, honour: bool) -> np.ndarray:
            nt = self.account.timeline.notes
            n = st.n_notes
            ids = ref.NOTE_ID_BASE + np.arange(n)
            base = {LEAD: ref.LEAD_ID_BASE, CONTACT: ref.CONTACT_ID_BASE, COMPANY: ref.COMPANY_ID_BASE}[kind]
            mask = (nt["kind"][:n] == kind) & (nt["deleted_at"][:n] > st.at)
            if honour:
                mask = in_mask(mask, ids, q.ints("filter", "id"))
                mask = in_mask(mask, base + nt["entity"][:n], q.ints("filter", "entity_id"))
                types = q.values("filter", "note_type")
                if types:
                    mask &= shapes.note_type_mask(nt["type"][:n], types, self.account.seed, self._live)
                mask = range_mask(mask, nt["created"][:n], q.range("updated_at"))
            return ordered(mask, ids, q, {"id": ids, "updated_at": nt["created"][:n]}, honour)

        return select

    def _events(self, st: State, q: Query, honour: bool) -> np.ndarray:
        e = self.account.events
        n = e.count_at(st.at)
        mask = np.ones(n, bool)
        if honour:
            ids = q.values("filter", "id")
            if ids:
                found = [i for i in (e.find(x) for x in ids) if i is not None and i < n]
                mask = np.zeros(n, bool)
                mask[found] = True
            mask = range_mask(mask, e.created_at[:n], q.range("created_at"))
            mask = in_mask(mask, e.created_by[:n], q.ints("filter", "created_by"))
            types = q.values("filter", "type")
            if types:
                mask &= np.isin(e.type[:n], [ev.TYPE_CODE[t] for t in types if t in ev.TYPE_CODE])
            entity_ids, entities = q.ints("filter", "entity_id"), q.values("filter", "entity")
            if entity_ids or entities:
                mask &= chats.entity_mask(self.account.timeline.chats, e, st.leads["is_deleted"], n, entity_ids,
                                          entities)
        return np.flatnonzero(mask)[::-1]  # newest first; events have no order parameter

    # -- answering ------------------------------------------------------------------------

    def rows(self, name: str, st: State, q: Query, honour: bool) -> np.ndarray:
        key = (name, honour, "only_deleted" in q.with_(), q.filter_key() if honour else ())
        rows = st.memo.get(key)
        if rows is None:
            if len(st.memo) >= MEMO_KEPT:
                st.memo.clear()
            rows = st.memo[key] = self.listings[name].select(st, q, honour)
        if self.hidden.get(name) and not key[2]:
            rows = rows[~np.isin(rows, self._hidden_rows(name, st))]
        return rows

    def _hidden_rows(self, name: str, st: State) -> np.ndarray:
        """Rows of `name` a rights-limited token does not see (fault `hide_records`): its lowest live ids."""
        return np.flatnonzero(~getattr(st, name)["is_deleted"])[:self.hidden.get(name, 0)]

    def unread(self, path: str, query_text: str, at: int, honour: bool) -> np.ndarray:
        """Lead rows a client paging `GET /leads?query` has not reached yet (after the requested page)."""
        q = Query(query_text)
        if path.rstrip("/") != "/api/v4/leads" or "only_deleted" in q.with_():
            return np.zeros(0, dtype=np.int64)
        page, limit = max(q.int("page", 1), 1), min(max(q.int("limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        return self.rows("leads", self.account.state(at), q, honour)[page * limit:]

    def records(self, entity: str, at: int, with_: str | None) -> Iterator[dict]:
        """All records of one listing (see SimulatedAccount.api_records)."""
        statics = {"users": "users", "pipelines": "leads/pipelines", "loss_reasons": "leads/loss_reasons",
                   **{f"custom_fields_{p}": f"{p}/custom_fields" for p in ("leads", "contacts", "companies")}}
        if entity in statics:
            body = json.loads(self.get(f"/api/v4/{statics[entity]}", "limit=250", at, "").body)
            yield from next(iter(body["_embedded"].values()))
            return
        name = entity.removesuffix("_deleted")
        if name not in self.listings:
            raise ValueError(f"unknown entity {entity!r}")
        default_with = {"leads": "contacts,loss_reason,source_id,source", "contacts": "leads",
                        "companies": "leads,contacts"}
        with_text = default_with.get(name, "") if with_ is None else with_
        if entity.endswith("_deleted"):
            with_text = "only_deleted"
        q = Query(urlencode({"with": with_text}))
        st = self.account.state(at)
        renderer = self._renderer(st, "")
        listing, w = self.listings[name], q.with_()
        deleted = "only_deleted" in w
        for i in self.rows(name, st, q, True):
            yield self._item(renderer, listing, name, st, int(i), w, deleted)

    def _item(self, renderer, listing, name, st, i, w, deleted) -> dict:
        if deleted:
            base = {"leads": ref.LEAD_ID_BASE, "contacts": ref.CONTACT_ID_BASE, "companies": ref.COMPANY_ID_BASE}[name]
            return renderer.deleted(name, base, getattr(st, name), i)
        return listing.item(renderer, i, w)

    def get(self, path: str, query_text: str, at: int, base: str, honour_filters: bool = True,
            next_always: bool = False, events_cap: int | None = None) -> Response:
        """Answer `GET path?query` at simulated time `at`; links point at `base`.
        `events_cap`: events pages hold at most that many, with no `next` link (fault `events_page_cap`)."""
        q = Query(query_text)
        try:
            return self._route(path.rstrip("/"), q, at, base, honour_filters, next_always, events_cap)
        except BadRequest as exc:
            return problem(400, "Bad Request", str(exc))

    def _route(self, path, q, at, base, honour, next_always, events_cap=None) -> Response:
        parts = path.split("/")[3:] if path.startswith("/api/v4/") else None
        if not parts:
            return problem(404, "Not Found", "Unknown method")
        head = parts[0]
        if parts == ["account"]:
            return hal(render.account(self.account.timeline, q.with_(), honour, base, at))
        if head in ("leads", "contacts", "companies", "tasks", "events") and len(parts) == 1:
            return self._page(head, q, at, base, path, honour, next_always, cap=events_cap if head == "events" else None)
        if head in ("leads", "contacts", "companies") and parts[1:] == ["notes"]:
            return self._page(f"notes_{head}", q, at, base, path, honour, next_always)
        if head in ("leads", "contacts", "companies") and len(parts) == 3 and parts[2] == "notes" \
                and parts[1].isdigit():
            scoped = Query(urlencode(q.pairs + [("filter[entity_id]", parts[1])]))
            return self._page(f"notes_{head}", scoped, at, base, path, True, next_always, q)
        if head in ("leads", "contacts", "companies") and parts[1:] == ["custom_fields"]:
            fields = [render.custom_field(f, base) for f in ref.FIELDS if f.entity_type == head]
            types = q.values("filter", "type")
            fields = [f for f in fields if not types or f["type"] in types]
            return self._static_page(fields, "custom_fields", q, base, path)
        if parts == ["leads", "pipelines"]:
            items = [render.pipeline(p, base, self._account_id, self._deleted_statuses(p, at), self._live)
                     for p in ref.PIPELINES]
            return hal({"_total_items": len(items), "_links": render.link(base + path),
                        "_embedded": {"pipelines": items}})
        if head == "leads" and len(parts) >= 3 and parts[1] == "pipelines":
            return self._pipeline(parts[2:], at, base)
        if parts == ["leads", "loss_reasons"]:
            items = [render.loss_reason(rid, self.account.start, base) for rid, _ in ref.LOSS_REASONS]
            return hal({"_total_items": len(items), "_page": 1, "_links": render.link(base + path),
                        "_embedded": {"loss_reasons": items}})
        if parts == ["users"]:
            return self._static_page([render.user(u, base, self._default_group_null, self._live) for u in ref.USERS],
                                     "users", q, base, path)
        if parts == ["events", "types"]:
            items = [{"key": t, "type": i + 1, "lang": t} for i, t in enumerate(ev.TYPES)]
            return hal({"_total_items": len(items), "_embedded": {"events_types": items}})
        if len(parts) == 2:
            return self._one(head, parts[1], q, at, base)
        return problem(404, "Not Found", "Unknown method")

    @property
    def _default_group_null(self) -> bool:
        return "default_group_null" in self.account.timeline.scenarios

    @property
    def _account_id(self) -> int:
        return self.account.profile.account_id

    @property
    def _live(self) -> bool:
        """The account serves the shapes of live accounts (shapes.py)."""
        return self.account.shapes == shapes.LIVE

    def _renderer(self, st: State, base: str) -> render.Renderer:
        return render.Renderer(self.account.timeline, st, self._event_index, base, self._live)

    def _deleted_statuses(self, p: ref.Pipeline, at: int) -> frozenset:
        return frozenset(s for pid, s, deleted_at in self.account.timeline.deleted_statuses
                         if pid == p.id and deleted_at <= at)

    def _pipeline(self, rest: list[str], at: int, base: str) -> Response:
        pipeline = next((p for p in ref.PIPELINES if str(p.id) == rest[0]), None)
        if pipeline is None:
            return NO_CONTENT
        hidden = self._deleted_statuses(pipeline, at)
        if len(rest) == 1:
            return hal(render.pipeline(pipeline, base, self._account_id, hidden, self._live))
        if rest[1:] == ["statuses"]:
            items = render.statuses(pipeline, base, self._account_id, hidden, self._live)
            return hal({"_total_items": len(items), "_embedded": {"statuses": items}})
        return problem(404, "Not Found", "Unknown method")

    def _one(self, head: str, key: str, q: Query, at: int, base: str) -> Response:
        """GET /{entity}/{id}: the item, or 204 when there is no such (live) entity."""
        if head == "users":
            user = next((u for u in ref.USERS if str(u.id) == key), None)
            return hal(render.user(user, base, self._default_group_null, self._live)) if user else NO_CONTENT
        listing_base = {"leads": ref.LEAD_ID_BASE, "contacts": ref.CONTACT_ID_BASE,
                        "companies": ref.COMPANY_ID_BASE, "tasks": ref.TASK_ID_BASE}
        st = self.account.state(at)
        renderer = self._renderer(st, base)
        if head == "events":
            i = self.account.events.find(key)
            ok = i is not None and i < self.account.events.count_at(at)
            return hal(renderer.event(i)) if ok else NO_CONTENT
        if head not in listing_base or not key.isdigit():
            return problem(404, "Not Found", "Unknown method")
        i = int(key) - listing_base[head]
        size = len(st.tasks["is_completed"]) if head == "tasks" else len(getattr(st, head)["is_deleted"])
        if not 0 <= i < size or getattr(st, head)["is_deleted"][i]:
            return NO_CONTENT
        if head in self.hidden and i in self._hidden_rows(head, st):
            return NO_CONTENT
        return hal(self.listings[head].item(renderer, i, q.with_()))

    def _page(self, name, q, at, base, path, honour, next_always, link_query: Query | None = None,
              cap: int | None = None) -> Response:
        listing = self.listings[name]
        page = max(q.int("page", 1), 1)
        limit = min(max(q.int("limit", DEFAULT_LIMIT), 1), listing.max_limit)
        capped = cap is not None
        if capped:
            limit = min(limit, cap)
        st = self.account.state(at)
        rows = self.rows(name, st, q, honour)
        chunk = rows[(page - 1) * limit: page * limit]
        if len(chunk) == 0:
            return NO_CONTENT
        renderer = self._renderer(st, base)
        w = q.with_()
        deleted = "only_deleted" in w and name in ("leads", "contacts", "companies")
        items = shapes.item_links([self._item(renderer, listing, name, st, int(i), w, deleted) for i in chunk],
                                  urlencode(q.pairs), self._live)
        more = (len(chunk) == limit or next_always) and not capped
        body = {"_page": page, "_links": _links(base + path, link_query or q, page, limit, more),
                "_embedded": {listing.collection: items}}
        return hal(shapes.list_envelope(body, self.account.seed, listing.collection, page, self._live))

    def _static_page(self, items: list[dict], collection: str, q: Query, base: str, path: str) -> Response:
        """A short, countable list (users, custom fields): `_total_items`, `_page_count`, `last`."""
        page = max(q.int("page", 1), 1)
        limit = min(max(q.int("limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        order = q.order()
        if order and order[0] in ("sort", "id") and collection == "custom_fields":
            items = sorted(items, key=lambda f: (f[order[0]], f["id"]), reverse=order[1])
        chunk = items[(page - 1) * limit: page * limit]
        if not chunk:
            return NO_CONTENT
        pages = -(-len(items) // limit)
        links = _links(base + path, q, page, limit, page < pages)
        links["last"] = {"href": _href(base + path, q, pages, limit)}
        return hal({"_total_items": len(items), "_page": page, "_page_count": pages, "_links": links,
                    "_embedded": {collection: chunk}})


def _href(url: str, q: Query, page: int, limit: int) -> str:
    pairs = [(k, v) for k, v in q.pairs if k not in ("page", "limit")] + [("limit", str(limit)), ("page", str(page))]
    return f"{url}?{urlencode(pairs, safe='[],')}"


def _links(url: str, q: Query, page: int, limit: int, more: bool) -> dict:
    links = {"self": {"href": _href(url, q, page, limit)}}
    if more:
        links["next"] = {"href": _href(url, q, page + 1, limit)}
    if page > 1:
        links["first"] = {"href": _href(url, q, 1, limit)}
        links["prev"] = {"href": _href(url, q, page - 1, limit)}
    return links
