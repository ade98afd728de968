"""API JSON -> raw rows (docs/design.md §3). Pure functions, no I/O.

Each shaper takes one item exactly as `/api/v4/...` returns it and gives the row
of its raw table; nested lists become lists of child rows that carry the parent
id, which dlt loads as child tables (`leads__tags`, ...). Anything that is not
the documented shape raises `ValueError`; the caller names the endpoint and page.
The benchmarks feed `SimulatedAccount.api_records(...)` through these too.
"""

from __future__ import annotations

import json
from typing import Any, Callable

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


def _get(item: Any, key: str) -> Any:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object holding {key!r}, got {type(item).__name__}")
    return item.get(key)


def _int(item: Any, key: str, required: bool = False) -> int | None:
    value = _get(item, key)
    if value is None and not required:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key!r} must be an integer, got {value!r:.40}")
    return value


def _str(item: Any, key: str) -> str | None:
    value = _get(item, key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {value!r:.40}")
    return value


def _bool(item: Any, key: str) -> bool | None:
    value = _get(item, key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key!r} must be a boolean, got {value!r:.40}")
    return value


def _list(item: Any, key: str) -> list[Any]:
    """A list that the API sends as a list, `null` or absent (both mean empty)."""
    value = _get(item, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, got {type(value).__name__}")
    return value


def _embedded(item: Row) -> dict[str, Any]:
    value = _get(item, "_embedded")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("'_embedded' must be an object")
    return value


def _text(value: Any) -> str | None:
    """A custom-field value as text: strings as they are, numbers in decimal, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _custom_field_values(item: Row, parent_key: str, parent_id: int) -> list[Row]:
    """One row per value of each custom field (multitext fields have several)."""
    rows = []
    for field in _list(item, "custom_fields_values"):
        for value in _list(field, "values"):
            rows.append(
                {
                    parent_key: parent_id,
                    "field_id": _int(field, "field_id", required=True),
                    "field_name": _str(field, "field_name"),
                    "field_code": _str(field, "field_code"),
                    "field_type": _str(field, "field_type"),
                    "value": _text(_get(value, "value")),
                    "enum_id": _int(value, "enum_id"),
                    # older payloads say "enum" where current ones say "enum_code"
                    "enum_code": _str(value, "enum_code") if value.get("enum_code") is not None else _str(value, "enum"),
                }
            )
    return rows


def _tags(item: Row, parent_key: str, parent_id: int) -> list[Row]:
    return [
        {parent_key: parent_id, "tag_id": _int(tag, "id", required=True), "name": _str(tag, "name")}
        for tag in _list(_embedded(item), "tags")
    ]


def _company_id(item: Row) -> int | None:
    companies = _list(_embedded(item), "companies")
    return _int(companies[0], "id", required=True) if companies else None


def account(item: Row) -> Row:
    settings = _get(_embedded(item), "datetime_settings") or {}
    return {
        "id": _int(item, "id", required=True),
        "name": _str(item, "name"),
        "subdomain": _str(item, "subdomain"),
        "currency": _str(item, "currency"),
        "currency_symbol": _str(item, "currency_symbol"),
        "country": _str(item, "country"),
        "language": _str(item, "language"),
        "timezone": _str(settings, "timezone") or _str(item, "timezone"),
        "timezone_offset": _str(settings, "timezone_offset") or _str(item, "timezone_offset"),
        "is_loss_reason_enabled": _bool(item, "is_loss_reason_enabled"),
        "is_api_filter_enabled": _bool(item, "is_api_filter_enabled"),
    }


def task_types(item: Row) -> list[Row]:
    return [
        {"id": _int(t, "id", required=True), "name": _str(t, "name"), "code": _str(t, "code")}
        for t in _list(_embedded(item), "task_types")
    ]


def user_groups(item: Row) -> list[Row]:
    return [{"id": _int(g, "id", required=True), "name": _str(g, "name")} for g in _list(_embedded(item), "users_groups")]


def user(item: Row) -> Row:
    rights = _get(item, "rights") or {}
    return {
        "id": _int(item, "id", required=True),
        "name": _str(item, "name"),
        "email": _str(item, "email"),
        "lang": _str(item, "lang"),
        "is_admin": _bool(rights, "is_admin"),
        "is_active": _bool(rights, "is_active"),
        "is_free": _bool(rights, "is_free"),
        "group_id": _int(rights, "group_id"),
        "role_id": _int(rights, "role_id"),
    }


def pipeline(item: Row) -> Row:
    return {
        "id": _int(item, "id", required=True),
        "name": _str(item, "name"),
        "sort": _int(item, "sort"),
        "is_main": _bool(item, "is_main"),
        "is_unsorted_on": _bool(item, "is_unsorted_on"),
        "is_archive": _bool(item, "is_archive"),
    }


def pipeline_statuses(item: Row) -> list[Row]:
    pipeline_id = _int(item, "id", required=True)
    return [
        {
            "pipeline_id": pipeline_id,
            "id": _int(s, "id", required=True),
            "name": _str(s, "name"),
            "sort": _int(s, "sort"),
            "type": _int(s, "type"),
            "color": _str(s, "color"),
            "is_editable": _bool(s, "is_editable"),
        }
        for s in _list(_embedded(item), "statuses")
    ]


def loss_reason(item: Row) -> Row:
    return {
        "id": _int(item, "id", required=True),
        "name": _str(item, "name"),
        "sort": _int(item, "sort"),
        "created_at": _int(item, "created_at"),
        "updated_at": _int(item, "updated_at"),
    }


def custom_field(item: Row) -> Row:
    field_id = _int(item, "id", required=True)
    return {
        "entity_type": _str(item, "entity_type"),
        "id": field_id,
        "name": _str(item, "name"),
        "code": _str(item, "code"),
        "type": _str(item, "type"),
        "sort": _int(item, "sort"),
        "is_predefined": _bool(item, "is_predefined"),
        "enums": [
            {
                "field_id": field_id,
                "id": _int(e, "id", required=True),
                "value": _str(e, "value"),
                "sort": _int(e, "sort"),
                "code": _str(e, "code"),
            }
            for e in _list(item, "enums")
        ],
    }


def _loss_reason_id(item: Row) -> int | None:
    if item.get("loss_reason_id") is not None:
        return _int(item, "loss_reason_id")
    # `with=loss_reason` embeds it, documented both as an object and as a one-element array
    embedded = _get(_embedded(item), "loss_reason")
    if isinstance(embedded, list):
        embedded = embedded[0] if embedded else None
    return _int(embedded, "id") if embedded is not None else None


def _source(item: Row) -> tuple[int | None, str | None]:
    """The lead's amoCRM source: `source_id` (`with=source_id`), its name from `_embedded.source` (`with=source`)."""
    embedded = _get(_embedded(item), "source")
    if embedded is None:
        return _int(item, "source_id"), None
    return _int(item, "source_id") or _int(embedded, "id", required=True), _str(embedded, "name")


def lead(item: Row) -> Row:
    lead_id = _int(item, "id", required=True)
    source_id, source_name = _source(item)
    return {
        "id": lead_id,
        "name": _str(item, "name"),
        "price": _int(item, "price"),
        "responsible_user_id": _int(item, "responsible_user_id"),
        "group_id": _int(item, "group_id"),
        "status_id": _int(item, "status_id"),
        "pipeline_id": _int(item, "pipeline_id"),
        "loss_reason_id": _loss_reason_id(item),
        "source_id": source_id,
        "source_name": source_name,
        "company_id": _company_id(item),
        "created_by": _int(item, "created_by"),
        "updated_by": _int(item, "updated_by"),
        "created_at": _int(item, "created_at"),
        "updated_at": _int(item, "updated_at", required=True),
        "closed_at": _int(item, "closed_at"),
        "closest_task_at": _int(item, "closest_task_at"),
        "score": _int(item, "score"),
        "labor_cost": _int(item, "labor_cost"),
        "is_deleted": bool(_bool(item, "is_deleted")),
        "deleted_at": None,
        "custom_field_values": _custom_field_values(item, "lead_id", lead_id),
        "tags": _tags(item, "lead_id", lead_id),
        "contacts": [
            {"lead_id": lead_id, "contact_id": _int(c, "id", required=True), "is_main": _bool(c, "is_main")}
            for c in _list(_embedded(item), "contacts")
        ],
    }


def _crm_entity(item: Row, parent_key: str, extra: dict[str, Any]) -> Row:
    """Fields contacts and companies share, with `extra` (their own fields) after the name."""
    entity_id = _int(item, "id", required=True)
    return {
        "id": entity_id,
        "name": _str(item, "name"),
        **extra,
        "responsible_user_id": _int(item, "responsible_user_id"),
        "group_id": _int(item, "group_id"),
        "created_by": _int(item, "created_by"),
        "updated_by": _int(item, "updated_by"),
        "created_at": _int(item, "created_at"),
        "updated_at": _int(item, "updated_at", required=True),
        "is_deleted": bool(_bool(item, "is_deleted")),
        "deleted_at": None,
        "custom_field_values": _custom_field_values(item, parent_key, entity_id),
        "tags": _tags(item, parent_key, entity_id),
    }


def contact(item: Row) -> Row:
    return _crm_entity(item, "contact_id", {
        "first_name": _str(item, "first_name"),
        "last_name": _str(item, "last_name"),
        "company_id": _company_id(item),
    })


def company(item: Row) -> Row:
    return _crm_entity(item, "company_id", {})


def _value_field(values: list[Any], key: str, field: str) -> Any:
    """`value_after: [{"lead_status": {"id": ..}}]` -> the `id` of the first `lead_status` entry."""
    for entry in values:
        inner = _get(entry, key)
        if inner is not None:
            return _get(inner, field)
    return None


def event(item: Row) -> Row:
    event_id = _get(item, "id")
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or event_id == "":
        raise ValueError(f"event 'id' must be a string, got {event_id!r:.40}")
    before, after = _list(item, "value_before"), _list(item, "value_after")
    nps = _value_field(after, "nps", "rate")
    message = _value_field(after, "message", "id")
    row = {
        "id": str(event_id),
        "type": _str(item, "type"),
        "entity_type": _str(item, "entity_type"),
        "entity_id": _int(item, "entity_id"),
        "created_by": _int(item, "created_by"),
        "created_at": _int(item, "created_at", required=True),
        "status_id_before": _value_field(before, "lead_status", "id"),
        "pipeline_id_before": _value_field(before, "lead_status", "pipeline_id"),
        "status_id_after": _value_field(after, "lead_status", "id"),
        "pipeline_id_after": _value_field(after, "lead_status", "pipeline_id"),
        "note_id": _value_field(after, "note", "id"),
        "message_id": None if message is None else str(message),
        "nps_rate": nps,
        "responsible_user_id_before": _value_field(before, "responsible_user", "id"),
        "responsible_user_id_after": _value_field(after, "responsible_user", "id"),
        "value_before_json": _json(before),
        "value_after_json": _json(after),
    }
    for key in ("status_id_before", "pipeline_id_before", "status_id_after", "pipeline_id_after", "note_id",
                "nps_rate", "responsible_user_id_before", "responsible_user_id_after"):
        _int(row, key)
    return row


def note(item: Row, entity_type: str) -> Row:
    """`entity_type` is the endpoint's entity (`leads` for /leads/notes); rows carry the singular."""
    params = _get(item, "params")
    if params is None or params == []:
        params = {}
    if not isinstance(params, dict):
        raise ValueError("'params' must be an object")
    return {
        "id": _int(item, "id", required=True),
        "entity_type": SINGULAR[entity_type],
        "entity_id": _int(item, "entity_id"),
        "note_type": _str(item, "note_type"),
        "created_by": _int(item, "created_by"),
        "updated_by": _int(item, "updated_by"),
        "responsible_user_id": _int(item, "responsible_user_id"),
        "group_id": _int(item, "group_id"),
        "created_at": _int(item, "created_at"),
        "updated_at": _int(item, "updated_at", required=True),
        "text": _text(params.get("text")),
        "call_duration": _int(params, "duration"),
        "call_status": _int(params, "call_status"),
        "call_result": _text(params.get("call_result")),
        "call_phone": _text(params.get("phone")),
        "mail_income": _bool(params, "income"),
        "mail_subject": _text(params.get("subject")),
        "params_json": _json(params),
    }


def task(item: Row) -> Row:
    result = _get(item, "result")
    if result in (None, []):
        result = {}
    if not isinstance(result, dict):
        raise ValueError("'result' must be an object or []")
    return {
        "id": _int(item, "id", required=True),
        "entity_type": _str(item, "entity_type"),
        "entity_id": _int(item, "entity_id"),
        "task_type_id": _int(item, "task_type_id"),
        "text": _str(item, "text"),
        "duration": _int(item, "duration"),
        "responsible_user_id": _int(item, "responsible_user_id"),
        "group_id": _int(item, "group_id"),
        "created_by": _int(item, "created_by"),
        "updated_by": _int(item, "updated_by"),
        "created_at": _int(item, "created_at"),
        "updated_at": _int(item, "updated_at", required=True),
        "complete_till": _int(item, "complete_till"),
        "is_completed": _bool(item, "is_completed"),
        "result_text": _str(result, "text"),
    }


def deletion(item: Row, entity_type: str) -> Row:
    """A trash-view item (`with=only_deleted`): its `updated_at`/`updated_by` are the deletion's time and author."""
    return {
        "entity_type": SINGULAR[entity_type],
        "id": _int(item, "id", required=True),
        "deleted_at": _int(item, "updated_at", required=True),
        "deleted_by": _int(item, "updated_by"),
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
