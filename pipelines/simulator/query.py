"""Query strings of list requests: amoCRM's bracket syntax, filters as row masks, ordering.

Split from api.py (routing and envelopes); no HTTP and no account state in here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import numpy as np

KEY_PART = re.compile(r"\[([^\]]*)\]")


class BadRequest(Exception):
    pass


class Query:
    """Query parameters with amoCRM's bracket syntax: `filter[id][]=1`, `filter[id][0]=1`, `filter[id]=1,2`."""

    def __init__(self, text: str):
        self.pairs = parse_qsl(text, keep_blank_values=True)
        self.keys = []
        for key, value in self.pairs:
            head = key.split("[", 1)[0]
            self.keys.append(((head, *KEY_PART.findall(key[len(head):])), value))

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.keys if k == (name,)), None)

    def int(self, name: str, default: int) -> int:
        value = self.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"{name} must be an integer") from None

    def values(self, *path: str) -> list[str]:
        """Values of `path`, `path[]` and `path[N]`, comma lists split."""
        out = []
        for key, value in self.keys:
            if key == path or (len(key) == len(path) + 1 and key[:len(path)] == path and
                               (key[-1] == "" or key[-1].isdigit())):
                out += [v.strip() for v in value.split(",") if v.strip()]
        return out

    def ints(self, *path: str) -> list[int]:
        try:
            return [int(v) for v in self.values(*path)]
        except ValueError:
            raise BadRequest(f"{'.'.join(path)} must hold integers") from None

    def range(self, name: str) -> tuple[int, int] | None:
        """`filter[name][from|to]`, or `filter[name]=ts` (from ts on), or `filter[name]=from,to`."""
        lo = hi = None
        for key, value in self.keys:
            if key[:2] != ("filter", name):
                continue
            try:
                if key == ("filter", name):
                    parts = [int(p) for p in value.split(",") if p.strip()]
                    lo = parts[0] if parts else lo
                    hi = parts[1] if len(parts) > 1 else hi
                elif key[2:] == ("from",):
                    lo = int(value)
                elif key[2:] == ("to",):
                    hi = int(value)
            except ValueError:
                raise BadRequest(f"filter[{name}] must be unix seconds") from None
        if lo is None and hi is None:
            return None
        return (lo if lo is not None else -(2**62), hi if hi is not None else 2**62)

    def order(self) -> tuple[str, bool] | None:
        """(field, descending) of the first `order[field]=asc|desc`."""
        for key, value in self.keys:
            if key[0] == "order" and len(key) == 2:
                if value.lower() not in ("asc", "desc"):
                    raise BadRequest("order must be asc or desc")
                return key[1], value.lower() == "desc"
        return None

    def with_(self) -> set[str]:
        return set(self.values("with"))

    def filter_key(self) -> tuple:
        return tuple(sorted((k, v) for k, v in self.keys if k[0] in ("filter", "order")))


def range_mask(mask: np.ndarray, values: np.ndarray, bounds: tuple[int, int] | None, nullable=False) -> np.ndarray:
    if bounds is None:
        return mask
    mask = mask & (values >= bounds[0]) & (values <= bounds[1])
    return mask & (values >= 0) if nullable else mask


def in_mask(mask: np.ndarray, values: np.ndarray, wanted: list) -> np.ndarray:
    return mask & np.isin(values, np.asarray(wanted)) if wanted else mask


def ordered(mask: np.ndarray, ids: np.ndarray, q: Query, allowed: dict[str, np.ndarray], honour: bool,
             ) -> np.ndarray:
    """Rows of `mask` in the requested order (ties by id, same direction); default id ascending."""
    rows = np.flatnonzero(mask)
    order = q.order() if honour else None
    if order is None or order[0] not in allowed:
        return rows
    name, desc = order
    keys = allowed[name][rows]
    rows = rows[np.lexsort((ids[rows], keys))]
    return rows[::-1] if desc else rows
