"""Rows of the reference tables (`EntitySpec.scan` `account` or `all_pages` in endpoints.py).

`account` tables come from the account object the session already holds; `all_pages` tables from
small lists read whole every run (`all_pages`). A list is read once per session: pipelines and
pipeline statuses are made from the same list. A shaper that fails on an item names the list and page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from pipelines.amocrm.client import AmoClient, AmoPayloadError
from pipelines.amocrm.paging.offset import all_pages

if TYPE_CHECKING:
    from pipelines.amocrm.endpoints import EntitySpec

SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)
ACCOUNT_PATH = "/api/v4/account"


class Holder(Protocol):
    """What reference rows need of the session (session.Session)."""

    def account(self) -> dict[str, Any]: ...

    def cached(self, key: str, fetch: Callable[[AmoClient], Any]) -> Any: ...


def reference_rows(spec: EntitySpec, session: Holder, limit: int,
                   note_fields: Callable[[str, list[Any]], None]) -> Iterator[dict]:
    if spec.scan == "account":
        yield from shaped(spec, session, ACCOUNT_PATH, None, session.account(), None)
        return
    if spec.scan != "all_pages":
        raise ValueError(f"{spec.name}: {spec.scan!r} is not a reference scan (account, all_pages)")
    for path, entity in spec.lists:
        collection = spec.collection or entity

        def read(client: AmoClient, path: str = path, collection: str = collection) -> list[tuple[int, list]]:
            pages = list(all_pages(client, path, collection, spec.params or None, limit))
            for _, items in pages:
                note_fields(collection, items)
            return pages

        for page_no, items in session.cached(f"{path} {sorted(spec.params.items())}", read):
            for item in items:
                yield from shaped(spec, session, path, page_no, item, entity)


def shaped(spec: EntitySpec, session: Holder, path: str, page: int | None, item: dict,
           entity: str | None) -> list[dict]:
    """The rows of one item, a malformed item reported with its list and page."""
    try:
        return spec.rows(item, entity, session.account()["id"])
    except SHAPE_ERRORS as exc:
        raise AmoPayloadError(path, page, str(exc)) from None
