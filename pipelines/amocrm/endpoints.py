"""Every amoCRM endpoint the extractor reads, in one table: one `EntitySpec` per raw table.

`source.py` builds one dlt resource per entry; everything else that needs to know the
endpoints (the post-load steps in `run.py`, the restored records in `restored.py`, the
reconciliation in `reconcile.py`, the Dagster checks) derives its list from `ENDPOINTS`
below, so adding an endpoint is adding one entry here (and its shaper in `records.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import dlt

from pipelines.amocrm import records

Columns = dict[str, dict[str, Any]]
Shaper = Callable[[dict, "str | None"], Any]  # (raw item, entity of its list) -> a row (or rows, see `many`)

BIGINT, TEXT, BOOL = {"data_type": "bigint"}, {"data_type": "text"}, {"data_type": "bool"}
KEY = {"data_type": "bigint", "nullable": False}
# DuckDB loads jsonl files in bulk; dlt's default for it (INSERT statements) took 20 s and 2 GB for 36k events
FILE_FORMAT = "jsonl"
CURSOR = {"dedup_sort": "desc"}  # within one load, the newest version of a row wins
REFERENCE_SCANS = ("account", "all_pages")  # paging/reference.py
SCANS = (*REFERENCE_SCANS, "keyset", "window", "stripe")  # the incremental ones: paging/strategy.py
PAGE_SIZE_SETTINGS = ("page_size", "events_page_size")  # arguments of source.amocrm_source
CHECKS = ("data_fresh", "reference_count")  # pipelines/defs/checks.py
ENTITIES = ("leads", "contacts", "companies")


ACCOUNT_ID = "account_id"  # amoCRM's account id (/api/v4/account): first column and first key of every raw table


def _columns(spec: str, **overrides: dict[str, Any]) -> Columns:
    """`"id:key name:text price"` -> dlt column hints (bare names are bigint), after `account_id`."""
    types = {"key": KEY, "text": TEXT, "bool": BOOL, "bigint": BIGINT}
    columns = {ACCOUNT_ID: dict(KEY)}
    for token in spec.split():
        name, _, kind = token.partition(":")
        columns[name] = dict(types[kind or "bigint"])
    for name, hint in overrides.items():
        columns[name] = {**columns.get(name, {}), **hint}
    return columns


def _child(spec: str) -> dict[str, Any]:
    return dlt.mark.make_nested_hints(columns=_columns(spec))


def _item(shape: Callable[[dict], Any]) -> Shaper:
    """A `records` shaper that needs only the item, as a table shaper `(item, entity)`."""
    def shaper(item: dict, entity: str | None) -> Any:
        return shape(item)

    shaper.__name__ = shape.__name__
    return shaper


def _custom_field(item: dict, entity: str | None) -> dict:
    row = records.custom_field(item)
    row["entity_type"] = row["entity_type"] or entity  # the list it came from says whose field it is
    return row


CFV = "field_id field_name:text field_code:text field_type:text value:text enum_id enum_code:text"
TAGS = "tag_id name:text"


def _crm_children(parent: str) -> dict[str, Any]:
    return {"custom_field_values": _child(f"{parent}_id " + CFV), "tags": _child(f"{parent}_id " + TAGS)}


@dataclass(frozen=True)
class EntitySpec:
    """One raw table and the amoCRM lists it is read from.

    `scan` names how (paging/strategy.py for incremental tables, paging/reference.py for the rest):
    `account` (rows from the account object), `all_pages` (small lists read whole every run),
    `keyset`, `window`, `stripe`. `cursor` None = a reference table, replaced every run;
    otherwise merged on `primary_key` (`account_id`, then `key`) with dlt's incremental cursor on that column.
    `key` is the row's key within one account (amoCRM ids are unique only within an account).
    """

    name: str
    scan: str
    shape: Shaper
    columns: Columns
    lists: tuple[tuple[str, str], ...] = ()  # (path, entity) pairs, read one after another
    collection: str | None = None  # `_embedded` key of the lists; None: the entity of each list
    cursor: str | None = None
    list_cursor: str | None = None  # what the lists are filtered by, when it is not `cursor` (the trash views)
    order: str = "updated_at"  # what offset pages are ordered by (tasks cannot order by updated_at)
    key: tuple[str, ...] = ("id",)
    params: dict[str, Any] = field(default_factory=dict)
    page_size_setting: str = "page_size"  # the source argument giving the page size
    nested: dict[str, Any] = field(default_factory=dict)
    many: bool = False  # the shaper returns a list of rows per item
    checks: tuple[str, ...] = ()  # Dagster checks beyond every table's (pipelines/defs/checks.py)

    def __post_init__(self) -> None:
        if self.scan not in SCANS:
            raise ValueError(f"{self.name}: unknown scan {self.scan!r} (one of {', '.join(SCANS)})")
        reference = self.scan in REFERENCE_SCANS
        if reference == self.merged:
            raise ValueError(f"{self.name}: a {self.scan} scan " + ("reads a reference table, it takes no cursor"
                                                                    if reference else "needs a cursor"))
        if (self.scan == "account") == bool(self.lists):
            raise ValueError(f"{self.name}: an account scan reads no list, every other scan at least one")
        if self.page_size_setting not in PAGE_SIZE_SETTINGS or not set(self.checks) <= set(CHECKS):
            raise ValueError(f"{self.name}: page size setting one of {', '.join(PAGE_SIZE_SETTINGS)}, "
                             f"checks among {', '.join(CHECKS)}")

    @property
    def merged(self) -> bool:
        return self.cursor is not None

    @property
    def primary_key(self) -> tuple[str, ...]:
        return (ACCOUNT_ID, *self.key)

    def rows(self, item: dict, entity: str | None, account_id: int) -> list[dict]:
        """The rows of one raw item: every row of every resource is made here, each root row and
        each row of its nested lists stamped with the account it was read from."""
        shaped = self.shape(item, entity)
        rows = shaped if self.many else [shaped]
        return [self._stamped(row, account_id) for row in rows]

    def _stamped(self, row: dict, account_id: int) -> dict:
        for child in self.nested:
            if row.get(child):
                row[child] = [{ACCOUNT_ID: account_id, **element} for element in row[child]]
        return {ACCOUNT_ID: account_id, **row}


ENDPOINTS: tuple[EntitySpec, ...] = (
    EntitySpec("account", "account", _item(records.account), _columns(
        "id:key name:text subdomain:text currency:text currency_symbol:text country:text language:text "
        "timezone:text timezone_offset:text is_loss_reason_enabled:bool is_api_filter_enabled:bool")),
    EntitySpec("task_types", "account", _item(records.task_types), _columns("id:key name:text code:text"), many=True),
    EntitySpec("user_groups", "account", _item(records.user_groups), _columns("id:key name:text"), many=True),
    EntitySpec("users", "all_pages", _item(records.user), _columns(
        "id:key name:text email:text lang:text is_admin:bool is_active:bool is_free:bool group_id role_id"),
        lists=(("/api/v4/users", "users"),), checks=("reference_count",)),
    EntitySpec("pipelines", "all_pages", _item(records.pipeline),
               _columns("id:key name:text sort is_main:bool is_unsorted_on:bool is_archive:bool"),
               lists=(("/api/v4/leads/pipelines", "pipelines"),), checks=("reference_count",)),
    EntitySpec("pipeline_statuses", "all_pages", _item(records.pipeline_statuses),
               _columns("pipeline_id:key id:key name:text sort type color:text is_editable:bool"),
               lists=(("/api/v4/leads/pipelines", "pipelines"),), key=("pipeline_id", "id"), many=True),
    EntitySpec("loss_reasons", "all_pages", _item(records.loss_reason),
               _columns("id:key name:text sort created_at updated_at"),
               lists=(("/api/v4/leads/loss_reasons", "loss_reasons"),), checks=("reference_count",)),
    EntitySpec("custom_fields", "all_pages", _custom_field,
               _columns("entity_type:text id:key name:text code:text type:text sort is_predefined:bool"),
               lists=tuple((f"/api/v4/{e}/custom_fields", e) for e in ENTITIES), collection="custom_fields",
               nested={"enums": _child("field_id id value:text sort code:text")}),
    # leads, contacts, companies: restored.py reads restored records by id from the same lists, with the same `with`
    EntitySpec("leads", "keyset", _item(records.lead), _columns(
        "id:key name:text price responsible_user_id group_id status_id pipeline_id loss_reason_id source_id "
        "source_name:text company_id created_by updated_by created_at updated_at closed_at closest_task_at score "
        "labor_cost is_deleted:bool deleted_at", updated_at=CURSOR),
        lists=(("/api/v4/leads", "leads"),), cursor="updated_at",
        params={"with": "contacts,loss_reason,source_id,source"},
        nested={**_crm_children("lead"), "contacts": _child("lead_id contact_id is_main:bool")}, checks=("data_fresh",)),
    EntitySpec("contacts", "keyset", _item(records.contact), _columns(
        "id:key name:text first_name:text last_name:text responsible_user_id group_id company_id created_by "
        "updated_by created_at updated_at is_deleted:bool deleted_at", updated_at=CURSOR),
        lists=(("/api/v4/contacts", "contacts"),), cursor="updated_at", nested=_crm_children("contact"),
        checks=("data_fresh",)),
    EntitySpec("companies", "keyset", _item(records.company), _columns(
        "id:key name:text responsible_user_id group_id created_by updated_by created_at updated_at "
        "is_deleted:bool deleted_at", updated_at=CURSOR),
        lists=(("/api/v4/companies", "companies"),), cursor="updated_at", nested=_crm_children("company"),
        checks=("data_fresh",)),
    EntitySpec("events", "stripe", _item(records.event), _columns(
        "id:text type:text entity_type:text entity_id created_by created_at status_id_before pipeline_id_before "
        "status_id_after pipeline_id_after note_id message_id:text talk_id message_origin:text "
        "linked_talk_contact_id nps_rate responsible_user_id_before "
        "responsible_user_id_after value_before_json:text value_after_json:text", id={"nullable": False}),
        lists=(("/api/v4/events", "events"),), cursor="created_at", page_size_setting="events_page_size",
        checks=("data_fresh",)),
    EntitySpec("notes", "keyset", records.note, _columns(
        "id:key entity_type:text entity_id note_type:text created_by updated_by responsible_user_id group_id "
        "created_at updated_at text:text call_duration call_status call_result:text call_phone:text "
        "mail_income:bool mail_subject:text params_json:text", updated_at=CURSOR),
        lists=tuple((f"/api/v4/{e}/notes", e) for e in ENTITIES), collection="notes", cursor="updated_at",
        checks=("data_fresh",)),
    EntitySpec("tasks", "window", _item(records.task), _columns(
        "id:key entity_type:text entity_id task_type_id text:text duration responsible_user_id group_id "
        "created_by updated_by created_at updated_at complete_till is_completed:bool result_text:text",
        updated_at=CURSOR),
        lists=(("/api/v4/tasks", "tasks"),), cursor="updated_at", order="id", checks=("data_fresh",)),
    # the trash views of the entity lists: filtered by `updated_at`, which a deletion sets
    EntitySpec("deletions", "keyset", records.deletion,
               _columns("entity_type:text id:key deleted_at deleted_by", deleted_at=CURSOR,
                        entity_type={"nullable": False}),
               lists=tuple((f"/api/v4/{e}", e) for e in ENTITIES), cursor="deleted_at", list_cursor="updated_at",
               key=("entity_type", "id"), params={"with": "only_deleted"}),
)

COLUMNS: dict[str, Columns] = {spec.name: spec.columns for spec in ENDPOINTS}
NESTED: dict[str, dict[str, Any]] = {spec.name: spec.nested for spec in ENDPOINTS if spec.nested}
# Resources merged incrementally (the rest, small reference lists, are replaced each run).
MERGED_RESOURCES = frozenset(spec.name for spec in ENDPOINTS if spec.merged)
CURSORS = {spec.name: spec.cursor for spec in ENDPOINTS if "data_fresh" in spec.checks}  # raw table -> cursor
# raw table -> (path, collection) of the lists counted against the warehouse (reconcile.py)
REFERENCE_LISTS = {spec.name: (spec.lists[0][0], spec.collection or spec.lists[0][1])
                   for spec in ENDPOINTS if "reference_count" in spec.checks}


def entity(name: str) -> EntitySpec:
    """The spec of raw table `name`, read from `ENDPOINTS` now (tests may swap an entry)."""
    return next(spec for spec in ENDPOINTS if spec.name == name)
