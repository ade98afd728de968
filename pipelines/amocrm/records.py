"""API JSON -> raw rows (docs/design.md §3). Pure functions, no I/O.

Each shaper takes one item exactly as `/api/v4/...` returns it and gives the row
of its raw table; nested lists become lists of child rows that carry the parent
id, which dlt loads as child tables (`leads__tags`, ...). Anything that is not
the documented shape raises `ValueError`; the caller names the endpoint and page.
The benchmarks feed `SimulatedAccount.api_records(...)` through these too.
"""

from __future__ import annotations

from typing import Any, Callable

from pipelines.amocrm.json_values import (
    as_json,
    as_text,
    bool_field,
    embedded_of,
    value_of,
    int_field,
    list_field,
    str_field,
)

Row = dict[str, Any]

# trash views and notes endpoints use plural entity names, the raw tables the singular
SINGULAR = {"leads": "lead", "contacts": "contact", "companies": "company"}

_LINKS = {"_links", "_embedded", "account_id"}
_CRM_ENTITY = _LINKS | {"id", "name", "responsible_user_id", "group_id", "created_by", "updated_by", "created_at",
                        "updated_at", "closest_task_at", "is_deleted", "custom_fields_values"}
# The top-level fields amoCRM documents for the items of each list (../shared/amocrm-api.md §2),
# whether the shapers below load them or leave them out on purpose. Anything else in an item is
# new in the API: the extractor reports it (`ExtractionStats.note_fields`) instead of dropping it unseen.
DOCUMENTED_FIELDS = {
    "leads": _CRM_ENTITY | {"price", "status_id", "pipeline_id", "loss_reason_id", "source_id", "closed_at",
                            "score", "labor_cost", "is_price_modified_by_robot"},
    "contacts": _CRM_ENTITY | {"first_name", "last_name"},
    "companies": _CRM_ENTITY,
    "events": _LINKS | {"id", "type", "entity_id", "entity_type", "created_by", "created_at", "value_after",
                        "value_before"},
    "notes": _LINKS | {"id", "entity_id", "created_by", "updated_by", "created_at", "updated_at",
                       "responsible_user_id", "group_id", "note_type", "params"},
    "tasks": _LINKS | {"id", "created_by", "updated_by", "created_at", "updated_at", "responsible_user_id",
                       "group_id", "entity_id", "entity_type", "is_completed", "task_type_id", "text", "duration",
                       "complete_till", "result"},
    "users": _LINKS | {"id", "name", "email", "lang", "rights"},
    "pipelines": _LINKS | {"id", "name", "sort", "is_main", "is_unsorted_on", "is_archive"},
    "loss_reasons": _LINKS | {"id", "name", "sort", "created_at", "updated_at"},
    "custom_fields": _LINKS | {"id", "name", "code", "sort", "type", "entity_type", "is_predefined",
                               "is_deletable", "is_api_only", "group_id", "required_statuses", "hidden_statuses",
                               "enums", "remind", "currency", "settings", "chained_lists", "tracking_callback",
                               "search_in"},
}


def _custom_field_values(item: Row, parent_key: str, parent_id: int) -> list[Row]:
    """One row per value of each custom field (multitext fields have several)."""
    rows = []
    for field in list_field(item, "custom_fields_values"):
        for value in list_field(field, "values"):
            rows.append(
                {
                    parent_key: parent_id,
                    "field_id": int_field(field, "field_id", required=True),
                    "field_name": str_field(field, "field_name"),
                    "field_code": str_field(field, "field_code"),
                    "field_type": str_field(field, "field_type"),
                    "value": as_text(value_of(value, "value")),
                    "enum_id": int_field(value, "enum_id"),
                    # older payloads say "enum" where current ones say "enum_code"
                    "enum_code": str_field(value, "enum_code") if value.get("enum_code") is not None
                    else str_field(value, "enum"),
                }
            )
    return rows


def _tags(item: Row, parent_key: str, parent_id: int) -> list[Row]:
    return [
        {parent_key: parent_id, "tag_id": int_field(tag, "id", required=True), "name": str_field(tag, "name")}
        for tag in list_field(embedded_of(item), "tags")
    ]


def _company_id(item: Row) -> int | None:
    companies = list_field(embedded_of(item), "companies")
    return int_field(companies[0], "id", required=True) if companies else None


def account(item: Row) -> Row:
    settings = value_of(embedded_of(item), "datetime_settings") or {}
    return {
        "id": int_field(item, "id", required=True),
        "name": str_field(item, "name"),
        "subdomain": str_field(item, "subdomain"),
        "currency": str_field(item, "currency"),
        "currency_symbol": str_field(item, "currency_symbol"),
        "country": str_field(item, "country"),
        "language": str_field(item, "language"),
        "timezone": str_field(settings, "timezone") or str_field(item, "timezone"),
        "timezone_offset": str_field(settings, "timezone_offset") or str_field(item, "timezone_offset"),
        "is_loss_reason_enabled": bool_field(item, "is_loss_reason_enabled"),
        "is_api_filter_enabled": bool_field(item, "is_api_filter_enabled"),
    }


def task_types(item: Row) -> list[Row]:
    return [
        {"id": int_field(t, "id", required=True), "name": str_field(t, "name"), "code": str_field(t, "code")}
        for t in list_field(embedded_of(item), "task_types")
    ]


def user_groups(item: Row) -> list[Row]:
    return [{"id": int_field(g, "id", required=True), "name": str_field(g, "name")}
            for g in list_field(embedded_of(item), "users_groups")]


def user(item: Row) -> Row:
    rights = value_of(item, "rights") or {}
    return {
        "id": int_field(item, "id", required=True),
        "name": str_field(item, "name"),
        "email": str_field(item, "email"),
        "lang": str_field(item, "lang"),
        "is_admin": bool_field(rights, "is_admin"),
        "is_active": bool_field(rights, "is_active"),
        "is_free": bool_field(rights, "is_free"),
        "group_id": int_field(rights, "group_id"),
        "role_id": int_field(rights, "role_id"),
    }


def pipeline(item: Row) -> Row:
    return {
        "id": int_field(item, "id", required=True),
        "name": str_field(item, "name"),
        "sort": int_field(item, "sort"),
        "is_main": bool_field(item, "is_main"),
        "is_unsorted_on": bool_field(item, "is_unsorted_on"),
        "is_archive": bool_field(item, "is_archive"),
    }


def pipeline_statuses(item: Row) -> list[Row]:
    pipeline_id = int_field(item, "id", required=True)
    return [
        {
            "pipeline_id": pipeline_id,
            "id": int_field(s, "id", required=True),
            "name": str_field(s, "name"),
            "sort": int_field(s, "sort"),
            "type": int_field(s, "type"),
            "color": str_field(s, "color"),
            "is_editable": bool_field(s, "is_editable"),
        }
        for s in list_field(embedded_of(item), "statuses")
    ]


def loss_reason(item: Row) -> Row:
    return {
        "id": int_field(item, "id", required=True),
        "name": str_field(item, "name"),
        "sort": int_field(item, "sort"),
        "created_at": int_field(item, "created_at"),
        "updated_at": int_field(item, "updated_at"),
    }


def custom_field(item: Row) -> Row:
    field_id = int_field(item, "id", required=True)
    return {
        "entity_type": str_field(item, "entity_type"),
        "id": field_id,
        "name": str_field(item, "name"),
        "code": str_field(item, "code"),
        "type": str_field(item, "type"),
        "sort": int_field(item, "sort"),
        "is_predefined": bool_field(item, "is_predefined"),
        "enums": [
            {
                "field_id": field_id,
                "id": int_field(e, "id", required=True),
                "value": str_field(e, "value"),
                "sort": int_field(e, "sort"),
                "code": str_field(e, "code"),
            }
            for e in list_field(item, "enums")
        ],
    }


def _loss_reason_id(item: Row) -> int | None:
    if item.get("loss_reason_id") is not None:
        return int_field(item, "loss_reason_id")
    # `with=loss_reason` embeds it, documented both as an object and as a one-element array
    embedded = value_of(embedded_of(item), "loss_reason")
    if isinstance(embedded, list):
        embedded = embedded[0] if embedded else None
    return int_field(embedded, "id") if embedded is not None else None


def _source(item: Row) -> tuple[int | None, str | None]:
    """The lead's amoCRM source: `source_id` (`with=source_id`), its name from `_embedded.source` (`with=source`)."""
    embedded = value_of(embedded_of(item), "source")
    if embedded is None:
        return int_field(item, "source_id"), None
    return int_field(item, "source_id") or int_field(embedded, "id", required=True), str_field(embedded, "name")


def lead(item: Row) -> Row:
    lead_id = int_field(item, "id", required=True)
    source_id, source_name = _source(item)
    return {
        "id": lead_id,
        "name": str_field(item, "name"),
        "price": int_field(item, "price"),
        "responsible_user_id": int_field(item, "responsible_user_id"),
        "group_id": int_field(item, "group_id"),
        "status_id": int_field(item, "status_id"),
        "pipeline_id": int_field(item, "pipeline_id"),
        "loss_reason_id": _loss_reason_id(item),
        "source_id": source_id,
        "source_name": source_name,
        "company_id": _company_id(item),
        "created_by": int_field(item, "created_by"),
        "updated_by": int_field(item, "updated_by"),
        "created_at": int_field(item, "created_at"),
        "updated_at": int_field(item, "updated_at", required=True),
        "closed_at": int_field(item, "closed_at"),
        "closest_task_at": int_field(item, "closest_task_at"),
        "score": int_field(item, "score"),
        "labor_cost": int_field(item, "labor_cost"),
        "is_deleted": bool(bool_field(item, "is_deleted")),
        "deleted_at": None,
        "custom_field_values": _custom_field_values(item, "lead_id", lead_id),
        "tags": _tags(item, "lead_id", lead_id),
        "contacts": [
            {"lead_id": lead_id, "contact_id": int_field(c, "id", required=True), "is_main": bool_field(c, "is_main")}
            for c in list_field(embedded_of(item), "contacts")
        ],
    }


def _ownership(item: Row) -> Row:
    """Who owns and who touched a record, and when: the same six fields on entities, notes and tasks."""
    return {
        "responsible_user_id": int_field(item, "responsible_user_id"),
        "group_id": int_field(item, "group_id"),
        "created_by": int_field(item, "created_by"),
        "updated_by": int_field(item, "updated_by"),
        "created_at": int_field(item, "created_at"),
        "updated_at": int_field(item, "updated_at", required=True),
    }


def _crm_entity(item: Row, parent_key: str, extra: dict[str, Any]) -> Row:
    """Fields contacts and companies share, with `extra` (their own fields) after the name."""
    entity_id = int_field(item, "id", required=True)
    return {
        "id": entity_id,
        "name": str_field(item, "name"),
        **extra,
        **_ownership(item),
        "is_deleted": bool(bool_field(item, "is_deleted")),
        "deleted_at": None,
        "custom_field_values": _custom_field_values(item, parent_key, entity_id),
        "tags": _tags(item, parent_key, entity_id),
    }


def contact(item: Row) -> Row:
    return _crm_entity(item, "contact_id", {
        "first_name": str_field(item, "first_name"),
        "last_name": str_field(item, "last_name"),
        "company_id": _company_id(item),
    })


def company(item: Row) -> Row:
    return _crm_entity(item, "company_id", {})


def _value_field(values: list[Any], key: str, field: str) -> Any:
    """`value_after: [{"lead_status": {"id": ..}}]` -> the `id` of the first `lead_status` entry."""
    for entry in values:
        inner = value_of(entry, key)
        if inner is not None:
            return value_of(inner, field)
    return None


def event(item: Row) -> Row:
    event_id = value_of(item, "id")
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or event_id == "":
        raise ValueError(f"event 'id' must be a string, got {event_id!r:.40}")
    before, after = list_field(item, "value_before"), list_field(item, "value_after")
    nps = _value_field(after, "nps", "rate")
    message = _value_field(after, "message", "id")
    row = {
        "id": str(event_id),
        "type": str_field(item, "type"),
        "entity_type": str_field(item, "entity_type"),
        "entity_id": int_field(item, "entity_id"),
        "created_by": int_field(item, "created_by"),
        "created_at": int_field(item, "created_at", required=True),
        "status_id_before": _value_field(before, "lead_status", "id"),
        "pipeline_id_before": _value_field(before, "lead_status", "pipeline_id"),
        "status_id_after": _value_field(after, "lead_status", "id"),
        "pipeline_id_after": _value_field(after, "lead_status", "pipeline_id"),
        "note_id": _value_field(after, "note", "id"),
        "message_id": None if message is None else str(message),
        "talk_id": _value_field(after, "message", "talk_id"),
        "message_origin": as_text(_value_field(after, "message", "origin")),
        # a chat event on a lead or customer names the talk's contact (amocrm-api.md §2.5)
        "linked_talk_contact_id": value_of(value_of(embedded_of(item), "entity") or {}, "linked_talk_contact_id"),
        "nps_rate": nps,
        "responsible_user_id_before": _value_field(before, "responsible_user", "id"),
        "responsible_user_id_after": _value_field(after, "responsible_user", "id"),
        "value_before_json": as_json(before),
        "value_after_json": as_json(after),
    }
    for key in ("status_id_before", "pipeline_id_before", "status_id_after", "pipeline_id_after", "note_id",
                "nps_rate", "responsible_user_id_before", "responsible_user_id_after", "talk_id",
                "linked_talk_contact_id"):
        int_field(row, key)
    return row


def note(item: Row, entity_type: str) -> Row:
    """`entity_type` is the endpoint's entity (`leads` for /leads/notes); rows carry the singular."""
    params = value_of(item, "params")
    if params is None or params == []:
        params = {}
    if not isinstance(params, dict):
        raise ValueError("'params' must be an object")
    return {
        "id": int_field(item, "id", required=True),
        "entity_type": SINGULAR[entity_type],
        "entity_id": int_field(item, "entity_id"),
        "note_type": str_field(item, "note_type"),
        **_ownership(item),
        "text": as_text(params.get("text")),
        "call_duration": int_field(params, "duration"),
        "call_status": int_field(params, "call_status"),
        "call_result": as_text(params.get("call_result")),
        "call_phone": as_text(params.get("phone")),
        "mail_income": bool_field(params, "income"),
        "mail_subject": as_text(params.get("subject")),
        "params_json": as_json(params),
    }


def task(item: Row) -> Row:
    result = value_of(item, "result")
    if result in (None, []):
        result = {}
    if not isinstance(result, dict):
        raise ValueError("'result' must be an object or []")
    return {
        "id": int_field(item, "id", required=True),
        "entity_type": str_field(item, "entity_type"),
        "entity_id": int_field(item, "entity_id"),
        "task_type_id": int_field(item, "task_type_id"),
        "text": str_field(item, "text"),
        "duration": int_field(item, "duration"),
        **_ownership(item),
        "complete_till": int_field(item, "complete_till"),
        "is_completed": bool_field(item, "is_completed"),
        "result_text": str_field(result, "text"),
    }


def deletion(item: Row, entity_type: str) -> Row:
    """A trash-view item (`with=only_deleted`): its `updated_at`/`updated_by` are the deletion's time and author."""
    return {
        "entity_type": SINGULAR[entity_type],
        "id": int_field(item, "id", required=True),
        "deleted_at": int_field(item, "updated_at", required=True),
        "deleted_by": int_field(item, "updated_by"),
    }


# API entity name (as in `SimulatedAccount.api_records`) -> (raw table, shaper)
SHAPERS: dict[str, tuple[str, Callable[[Row], Row]]] = {
    "leads": ("leads", lead),
    "contacts": ("contacts", contact),
    "companies": ("companies", company),
    "events": ("events", event),
    "tasks": ("tasks", task),
    "notes_leads": ("notes", lambda item: note(item, "leads")),
    "notes_contacts": ("notes", lambda item: note(item, "contacts")),
    "notes_companies": ("notes", lambda item: note(item, "companies")),
}
