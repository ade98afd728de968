"""`ExtractionStats`: what one extraction did so far, shared by the CLI's progress line, Dagster and the summary."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pipelines.amocrm import records
from pipelines.amocrm.client import RequestStats
from pipelines.amocrm.paging import ScanCounters

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    """Live counters of one extraction (requests of the whole run, rows and pages per resource)."""

    requests: RequestStats = field(default_factory=RequestStats)
    resources: dict[str, ScanCounters] = field(default_factory=dict)
    new_fields: dict[str, set[str]] = field(default_factory=dict)  # list -> undocumented fields amoCRM sent
    read_whole: set[str] = field(default_factory=set)  # reference lists read to their end (run.py prunes the rest)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def counters(self, resource: str) -> ScanCounters:
        return self.resources.setdefault(resource, ScanCounters())

    def note_fields(self, collection: str, items: list[Any]) -> None:
        """Remember fields amoCRM sends beyond `records.DOCUMENTED_FIELDS`: the raw tables keep only the
        documented ones, so a new field would otherwise go unseen. Warns once per field and run."""
        documented = records.DOCUMENTED_FIELDS[collection]
        extra = {key for item in items if isinstance(item, dict) for key in item.keys() - documented}
        if not extra:
            return
        with self._lock:
            seen = self.new_fields.setdefault(collection, set())
            fresh = extra - seen
            seen |= fresh
        if fresh:
            log.warning("amoCRM sends %s fields the extractor does not load: %s "
                        "(new in the API? see pipelines/amocrm/records.py)", collection, ", ".join(sorted(fresh)))
