"""`Log`: one kind of timeline change as columns, sorted by (entity, time, arrival).

"The state at T" is each entity's last row at or before T, so every fold in
`state.py` is a `last_at`; and every row is exactly one event.
"""

from __future__ import annotations

import numpy as np


class Log:
    """Rows of one kind of change, sorted by (entity, time, order of arrival).

    `uid` numbers rows in order of arrival and never changes, so ids derived from
    it (event ids) stay stable when rows are appended later.
    """

    def __init__(self, entity: np.ndarray, time: np.ndarray, **columns: np.ndarray):
        self.entity = np.asarray(entity, dtype=np.int32)
        self.time = np.asarray(time, dtype=np.int64)
        self.columns = {k: _narrow(np.asarray(v)) for k, v in columns.items()}
        self.uid = np.arange(len(self.entity), dtype=np.int32)
        self._sort()

    def _sort(self) -> None:
        order = np.lexsort((self.uid, self.time, self.entity))
        self.entity, self.time, self.uid = self.entity[order], self.time[order], self.uid[order]
        self.columns = {k: v[order] for k, v in self.columns.items()}

    def __len__(self) -> int:
        return len(self.entity)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def append(self, entity: int, time: int, **values) -> None:
        self.entity = np.append(self.entity, entity).astype(np.int32)
        self.time = np.append(self.time, time)
        self.uid = np.append(self.uid, self.uid.max(initial=-1) + 1).astype(np.int32)
        self.columns = {k: np.append(v, values[k]).astype(v.dtype) for k, v in self.columns.items()}
        self._sort()

    def last_at(self, at: int, n: int) -> np.ndarray:
        """Row index of each entity's latest change at or before `at` (-1 when none), for entities 0..n-1."""
        rows = np.flatnonzero(self.time <= at)
        out = np.full(n, -1, dtype=np.int64)
        if len(rows):
            ent = self.entity[rows]
            last = rows[np.r_[ent[1:] != ent[:-1], True]]
            last = last[self.entity[last] < n]
            out[self.entity[last]] = last
        return out

    def previous(self) -> np.ndarray:
        """Index of the same entity's previous row (-1 for its first row)."""
        prev = np.arange(len(self.entity)) - 1
        first = np.r_[True, self.entity[1:] != self.entity[:-1]]
        prev[first] = -1
        return prev


def _narrow(values: np.ndarray) -> np.ndarray:
    """int64 ids and codes as int32 (times stay int64: they are multiplied and compared with big numbers)."""
    if values.dtype == np.int64 and (len(values) == 0 or (values.min() > -2**31 and values.max() < 2**31)):
        return values.astype(np.int32)
    return values


def _columns(cols: dict[str, np.ndarray], order: np.ndarray, times: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Reorder a table's columns, narrowing all but the time columns."""
    return {k: v[order] if k in times else _narrow(v[order]) for k, v in cols.items()}
