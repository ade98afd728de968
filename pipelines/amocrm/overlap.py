"""Re-read rows inside the cursor's overlap that did not change are dropped (see source.py's docstring).

Timestamps are whole seconds and a second may still be filling while it is read, so every
incremental list is re-read from `overlap_seconds` before its cursor. `recent` in the resource's
dlt state holds a digest of every row inside that overlap, so a run with no changes loads nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterator

import dlt


def digest(row: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(row, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def skip_unchanged(pages: Iterator[list[dict] | None], key: Callable[[dict], str], cursor: str,
                   overlap: int) -> Iterator[list[dict] | None]:
    """Drop rows re-read inside the overlap that are identical to what was loaded; remember the new overlap.
    A `None` (no page ready yet, paging.stream.PageStream's `poll`) is passed on as it is."""
    state = dlt.current.resource_state()
    recent: dict[str, list] = state.get("recent", {})
    updated = dict(recent)
    top = max((v for v, _ in recent.values()), default=0)
    for rows in pages:
        if rows is None:
            yield None
            continue
        fresh = []
        for row in rows:
            row_key, entry = key(row), [row[cursor], digest(row)]
            if recent.get(row_key) == entry:
                continue
            fresh.append(row)
            if updated.get(row_key, [0])[0] <= entry[0]:
                updated[row_key] = entry
            top = max(top, entry[0])
        if len(updated) > 2 * len(recent) + 10_000:  # keep memory flat during a full load
            updated = {k: e for k, e in updated.items() if e[0] >= top - overlap}
        if fresh:
            yield fresh
    state["recent"] = {k: e for k, e in updated.items() if e[0] >= top - overlap}
