"""Switchable, deterministic faults, flipped by tests while the server runs.

All are off after `reset()`. Rules armed with `fail_next` / `malformed_next` /
`storm_429` / `reset_next` / `spike_next` are consumed by the next matching
requests in arrival order; `error_rate` draws from a generator seeded by the
account seed.

Network-level faults (used by the chaos campaign, `chaos/`): `reset_next` drops
the TCP connection with a RST instead of answering (what a proxy restart or a
dropped NAT entry looks like to the client); `spike_next` delays single answers
(a latency spike, unlike `latency_ms` which slows every request).
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
            self._storm = 0
            self.new_fields: dict[str, dict[str, object]] = {}  # list path -> fields added to its items
            self._random = random.Random(self._seed)
            self._resets: list[_Rule] = []
            self._spikes: list[_Rule] = []

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

    def add_fields(self, path: str, **fields: object) -> None:
        """amoCRM starts sending new fields: every item of the list at `path` (exactly) carries `fields` too."""
        with self._lock:
            self.new_fields[path] = {**self.new_fields.get(path, {}), **fields}

    def storm_429(self, n: int) -> None:
        """The next `n` requests answer 429, whatever their rate."""
        with self._lock:
            self._storm += n

    # -- consumed by the server ------------------------------------------------------------

    def take_storm(self) -> bool:
        with self._lock:
            if self._storm > 0:
                self._storm -= 1
                return True
            return False

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
