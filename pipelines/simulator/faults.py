"""Switchable, deterministic faults, flipped by tests while the server runs.

All are off after `reset()`. Rules armed with `fail_next` / `malformed_next` /
`storm_429` / `reset_next` / `spike_next` / the bad-page rules are consumed by the next matching
requests in arrival order; `error_rate` draws from a generator seeded by the account seed.

Network-level faults (used by the chaos campaign, `chaos/`): `reset_next` drops
the TCP connection with a RST instead of answering (what a proxy restart or a
dropped NAT entry looks like to the client); `spike_next` delays single answers
(a latency spike, unlike `latency_ms` which slows every request).

Bad list pages (each seen on real accounts; the extractor must never take one for
the end of a list):

* `empty_200_next(n, path)`: the next `n` list answers under `path` are a 200
  with an empty body (amoCRM's own "nothing found" is a 204).
* `no_embedded_next(n, path)`: the next `n` list answers under `path` lose their
  `_embedded` (the envelope and its links stay).
* `short_page_next(n, path)`: the next `n` *full* list pages under `path` (pages
  with a `next` link) come back with only their first half and no `next` link.
* `hide_records(n, entity)`: the `n` lowest live ids of `leads`, `contacts` or `companies` are left out
  of their lists and answer 204 by id, as for a token whose user may not see them (rights limited to
  their own records): no error, no trace, the pages just hold fewer rows.
* `events_page_cap = N`: `/api/v4/events` serves at most N events a page, whatever
  `limit` asked, and never a `next` link (offsets follow the cap, as a server
  clamping `limit` would).
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass


@dataclass
class _Rule:
    remaining: int
    path: str
    value: object


MALFORMED_KINDS = ("truncated", "invalid_json", "wrong_shape")
BAD_PAGE_KINDS = ("empty_200", "no_embedded", "short_page")


class Faults:
    def __init__(self, seed: int = 0):
        self._seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.latency_ms = 0
            self.error_rate = 0.0
            self.mutate_while_paging = False
            self.ignore_filters = False
            self.next_always = False
            self.mutated: list[int] = []  # ids of leads edited by mutate_while_paging, in order
            self._failures: list[_Rule] = []
            self._malformed: list[_Rule] = []
            self._storm: list[tuple[int | None, bool]] = []  # (retry_after, as a header?) of each armed 429
            self.new_fields: dict[str, dict[str, object]] = {}  # list path -> fields added to its items
            self._random = random.Random(self._seed)
            self._bad_pages: list[_Rule] = []
            self.events_page_cap: int | None = None
            self._resets: list[_Rule] = []
            self._spikes: list[_Rule] = []
            self.hidden: dict[str, int] = {}  # list name -> how many of its lowest live ids are hidden

    def fail_next(self, n: int, status: int = 503, path: str = "/api/v4/") -> None:
        """The next `n` requests whose path starts with `path` answer `status`."""
        with self._lock:
            self._failures.append(_Rule(n, path, status))

    def malformed_next(self, n: int, kind: str = "truncated", path: str = "/api/v4/") -> None:
        """The next `n` successful JSON answers under `path` come back broken in the given way."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}")
        with self._lock:
            self._malformed.append(_Rule(n, path, kind))

    def empty_200_next(self, n: int, path: str = "/api/v4/") -> None:
        """The next `n` list answers under `path` are a 200 with an empty body."""
        self._bad_page(n, path, "empty_200")

    def no_embedded_next(self, n: int, path: str = "/api/v4/") -> None:
        """The next `n` list answers under `path` come without `_embedded`."""
        self._bad_page(n, path, "no_embedded")

    def short_page_next(self, n: int, path: str = "/api/v4/") -> None:
        """The next `n` full list pages under `path` lose their second half and their `next` link."""
        self._bad_page(n, path, "short_page")

    def _bad_page(self, n: int, path: str, kind: str) -> None:
        with self._lock:
            self._bad_pages.append(_Rule(n, path, kind))

    def hide_records(self, n: int, entity: str = "leads") -> None:
        """The `n` lowest live ids of `entity` vanish from its lists and by-id reads (a rights-limited token)."""
        if entity not in ("leads", "contacts", "companies"):
            raise ValueError("entity must be leads, contacts or companies")
        with self._lock:
            self.hidden[entity] = n

    def add_fields(self, path: str, **fields: object) -> None:
        """amoCRM starts sending new fields: every item of the list at `path` (exactly) carries `fields` too."""
        with self._lock:
            self.new_fields[path] = {**self.new_fields.get(path, {}), **fields}

    def storm_429(self, n: int, retry_after: int | None = None, header: bool = False) -> None:
        """The next `n` requests answer 429, whatever their rate. With `retry_after` each is a JSON 429
        carrying `"retry_after": retry_after` (amoCRM documents 300), or, with `header`, a plain 429 with
        a `Retry-After` header; without, the server's usual 429s."""
        with self._lock:
            self._storm += [(retry_after, header)] * n

    # -- consumed by the server ------------------------------------------------------------

    def take_storm(self) -> tuple[int | None, bool] | None:
        """None, or this request answers 429: (the retry_after it carries or None, as a header?)."""
        with self._lock:
            return self._storm.pop(0) if self._storm else None

    def take_failure(self, path: str) -> int | None:
        """Status to fail this request with, if any."""
        with self._lock:
            status = _take(self._failures, path)
            if status is None and self.error_rate and self._random.random() < self.error_rate:
                status = self._random.choice((500, 502, 503, 504))
            return status

    def take_malformed(self, path: str) -> str | None:
        with self._lock:
            return _take(self._malformed, path)

    def pick(self, n: int) -> int:
        """A deterministic choice among n things (which unread lead to edit)."""
        with self._lock:
            return self._random.randrange(n)

    def spoil_page(self, path: str, body: bytes) -> bytes:
        """The list answer `body` as the next matching bad-page rule spoils it (unchanged if none applies).
        `short_page` rules wait for a full page (one with a `next` link)."""
        try:
            payload = json.loads(body)
        except ValueError:
            return body
        if not isinstance(payload, dict) or not isinstance(payload.get("_embedded"), dict):
            return body  # not a list page
        full = isinstance((payload.get("_links") or {}).get("next"), dict)
        with self._lock:
            rule = next((r for r in self._bad_pages if path.startswith(r.path) and (r.value != "short_page" or full)),
                        None)
            if rule is None:
                return body
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._bad_pages.remove(rule)
        if rule.value == "empty_200":
            return b""
        if rule.value == "no_embedded":
            del payload["_embedded"]
        else:
            payload["_links"].pop("next")
            payload["_embedded"] = {k: v[: len(v) // 2] if isinstance(v, list) else v
                                    for k, v in payload["_embedded"].items()}
        return json.dumps(payload, ensure_ascii=False).encode()

    # -- network faults (the chaos campaign) -----------------------------------------------

    def reset_next(self, n: int, path: str = "/api/v4/") -> None:
        """The next `n` requests under `path` get no answer: the connection is reset (TCP RST)."""
        with self._lock:
            self._resets.append(_Rule(n, path, True))

    def spike_next(self, n: int, ms: int, path: str = "/api/v4/") -> None:
        """The next `n` requests under `path` are answered `ms` milliseconds late."""
        with self._lock:
            self._spikes.append(_Rule(n, path, ms))

    def take_reset(self, path: str) -> bool:
        with self._lock:
            return bool(_take(self._resets, path))

    def take_spike(self, path: str) -> int:
        """Extra milliseconds to wait before answering this request."""
        with self._lock:
            return _take(self._spikes, path) or 0


def _take(rules: list[_Rule], path: str):
    for rule in rules:
        if path.startswith(rule.path):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule.value
    return None


def with_fields(body: bytes, fields: dict[str, object]) -> bytes:
    """A list body whose every item carries `fields` as well."""
    payload = json.loads(body)
    for items in (payload.get("_embedded") or {}).values():
        for item in items if isinstance(items, list) else []:
            item.update(fields)
    return json.dumps(payload, ensure_ascii=False).encode()


def corrupt(body: bytes, kind: str) -> bytes:
    """A JSON body broken in the given way."""
    if kind == "truncated":
        return body[: len(body) // 2]
    if kind == "invalid_json":
        return body.replace(b",", b",,", 1) if b"," in body else b"{" + body
    payload = json.loads(body)
    embedded = payload.get("_embedded") if isinstance(payload, dict) else None
    if isinstance(embedded, dict) and any(isinstance(v, list) for v in embedded.values()):
        payload["_embedded"] = {k: {str(i): x for i, x in enumerate(v)} if isinstance(v, list) else v
                                for k, v in embedded.items()}
    else:
        payload = [payload]
    return json.dumps(payload, ensure_ascii=False).encode()
