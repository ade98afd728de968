"""Which JSON shapes the simulator serves: the live ones (default) or the plain documented ones.

Responses captured from live amoCRM accounts (../shared/amocrm-api.md §8) differ from the
documentation in shape, not in meaning. `SimulatedAccount.generate(..., shapes=LIVE)` (the default)
serves them, so every test that reads the simulator guards the extractor and models against them;
`shapes=DOCUMENTED` serves the documentation's shapes, for a test that needs those. The ground
truth renders with the account's shapes, so the data (and every KPI) is the same under both.

What `LIVE` changes, each deterministic per seed (a share of the items where live accounts mix):
- a `numeric` custom field's value is a string (`"4"`), not a number;
- chat-message events: `value_after` `{"message": {"id", "origin", "talk_id"}}` (documented: only `id`);
- call notes: `uniq` is a string like `"1685622681.204020"`; `link` is null when there is no
  recording (every unanswered call and `NO_RECORDING_SHARE` of the answered ones); `source` is the
  account's phone line, not a service name; `NO_PLUS_SHARE` of the phones come without the `+`;
- e-mail notes: `thread_id` is a string;
- leads list pages: `NO_PAGE_SHARE` of them have no `_page` (only `_links` and `_embedded`);
- pipelines: statuses 142/143 are renamed in some pipelines (`RENAMED_CLOSED`);
- users: the default group (id 0) is sent as `rights.group_id: null`; `status_rights` is a list; a
  user's `_links.self.href` has a trailing slash;
- list items: each item's `_links.self.href` repeats the list request's query string;
- tags: `NO_COLOR_SHARE` of the tags come without `color` (the others with `color: null`);
- notes: `SERVICE_SHARE` of the common notes are `service_message` notes (`{service, text}`) left
  by integrations;
- contacts and companies: `NO_FIELDS_SHARE` of them have no custom field values and are sent with
  `custom_fields_values: null`.
Shapes both modes serve (the documentation shows them too): `custom_fields_values: null`, task
`result` `[]` or an object, 26-character string event ids, pipelines with `_total_items` and no
`_page`, users and custom fields with `_total_items`, the unsorted status with `type: 1`.
"""

from __future__ import annotations

from . import reference as ref

LIVE, DOCUMENTED = "live", "documented"
NAMES = (LIVE, DOCUMENTED)

NO_PAGE_SHARE = 0.3
NO_RECORDING_SHARE = 0.2
NO_PLUS_SHARE = 0.3
NO_COLOR_SHARE = 0.5
SERVICE_SHARE = 0.3
NO_FIELDS_SHARE = 0.15
SERVICES = ("Wazzup", "Sipuni", "Tilda Publishing", "Salesbot")
PBX_LINE = "74951500123"
CHAT_ORIGINS = ("telegram", "com.amocrm.amocrmwa", "avito", "instagram_business", "viber")
TALK_ID_BASE = 3_000
# pipeline id -> (name of 142, name of 143), as some accounts rename them; other pipelines keep the defaults
RENAMED_CLOSED = {ref.PIPELINES[0].id: ("Заказ вручен", "Отказ"),
                  ref.PIPELINES[2].id: ("Тендер выигран", "Тендер проигран")}

_M64 = (1 << 64) - 1
_SALTS = {"page": 1, "recording": 2, "uniq": 3, "origin": 4, "plus": 5, "color": 6, "service": 7, "fields": 8}


def check(shapes: str) -> str:
    if shapes not in NAMES:
        raise ValueError(f"unknown shapes {shapes!r}; known: {list(NAMES)}")
    return shapes


def _hash(seed: int, salt: str, key: int) -> int:
    """splitmix64 of (seed, salt, key): a stable, well-spread 64-bit draw."""
    x = (seed * 0x9E3779B97F4A7C15 + _SALTS[salt] * 0xD1B54A32D192ED03 + key) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def chance(seed: int, salt: str, key: int, share: float) -> bool:
    return _hash(seed, salt, key) / 2**64 < share


def numeric_value(value: int, live: bool) -> str | int:
    return str(value) if live else value


def chat_message(seed: int, message_id: str, talk: int, live: bool) -> dict:
    """The `message` object of a chat-message event's `value_after` (`talk`: chats.py's talk key)."""
    if not live:
        return {"id": message_id}
    return {"id": message_id, "origin": CHAT_ORIGINS[_hash(seed, "origin", talk) % len(CHAT_ORIGINS)],
            "talk_id": TALK_ID_BASE + talk}


def call_uniq(seed: int, note_id: int, created: int) -> str:
    return f"{created}.{_hash(seed, 'uniq', note_id) % 1_000_000:06d}"


def call_line(seed: int, note_id: int, phone: str, live: bool) -> tuple[str, str]:
    """(source, phone) of a call note."""
    if not live:
        return "sim_pbx", phone
    return PBX_LINE, phone.lstrip("+") if chance(seed, "plus", note_id, NO_PLUS_SHARE) else phone


def recording_link(seed: int, note_id: int, duration: int, live: bool) -> str | None:
    url = f"https://pbx.simulated.example/rec/{note_id}.mp3"
    if not live:
        return url if duration else ""
    return url if duration and not chance(seed, "recording", note_id, NO_RECORDING_SHARE) else None


def list_envelope(body: dict, seed: int, collection: str, page: int, live: bool) -> dict:
    """A list page's envelope: live leads pages sometimes come without `_page`."""
    if live and collection == "leads" and chance(seed, "page", page, NO_PAGE_SHARE):
        return {k: v for k, v in body.items() if k != "_page"}
    return body


def closed_status_names(pipeline_id: int, live: bool) -> tuple[str, str]:
    default = (ref.WON_NAME, ref.LOST_NAME)
    return RENAMED_CLOSED.get(pipeline_id, default) if live else default


def tag(tag_id: int, name: str, seed: int, lead: int, live: bool) -> dict:
    """A tag of a lead: live ones sometimes come without `color`."""
    if live and chance(seed, "color", lead, NO_COLOR_SHARE):
        return {"id": tag_id, "name": name}
    return {"id": tag_id, "name": name, "color": None}


def service_note(seed: int, note_id: int, live: bool) -> str | None:
    """The integration that left this common note as a `service_message` (live), or None."""
    if not live or not chance(seed, "service", note_id, SERVICE_SHARE):
        return None
    return SERVICES[_hash(seed, "service", note_id) % len(SERVICES)]


def people_fields(values: list, seed: int, key: int, live: bool) -> list | None:
    """A contact's or company's `custom_fields_values`: null (live) for one with no field filled."""
    return None if live and chance(seed, "fields", key, NO_FIELDS_SHARE) else values


def item_links(items: list[dict], query: str, live: bool) -> list[dict]:
    """List items whose `_links.self.href` repeats the list request's query string, as live ones do."""
    if live and query:
        for item in items:
            self_link = item.get("_links", {}).get("self")
            if self_link:
                self_link["href"] = f"{self_link['href']}?{query}"
    return items


def note_type_mask(types, wanted: list[str], seed: int, live: bool):
    """Notes (by timeline type code) that `filter[note_type]` keeps, by the type each is served as."""
    import numpy as np

    from .activity import COMMON, NOTE_TYPES

    mask = np.isin(types, [NOTE_TYPES.index(t) for t in wanted if t in NOTE_TYPES])
    if live:
        common = np.flatnonzero(types == COMMON)
        service = np.array([service_note(seed, ref.NOTE_ID_BASE + int(i), live) is not None for i in common], bool)
        mask[common] = np.where(service, "service_message" in wanted, "common" in wanted)
    return mask
