"""Typed reads of amoCRM JSON values, each failing with a `ValueError` that names the key.

The API sends some values in more than one shape (a list as `null` or absent,
numbers inside strings, custom-field values of any type); these readers accept
exactly the documented and captured shapes and refuse anything else, so a
changed API is an error the extractor reports with the endpoint and page, never
a silently wrong row.
"""

from __future__ import annotations

import json
from typing import Any

Row = dict[str, Any]


def value_of(item: Any, key: str) -> Any:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object holding {key!r}, got {type(item).__name__}")
    return item.get(key)


def int_field(item: Any, key: str, required: bool = False) -> int | None:
    value = value_of(item, key)
    if value is None and not required:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key!r} must be an integer, got {value!r:.40}")
    return value


def str_field(item: Any, key: str) -> str | None:
    value = value_of(item, key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {value!r:.40}")
    return value


def bool_field(item: Any, key: str) -> bool | None:
    value = value_of(item, key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key!r} must be a boolean, got {value!r:.40}")
    return value


def list_field(item: Any, key: str) -> list[Any]:
    """A list that the API sends as a list, `null` or absent (both mean empty)."""
    value = value_of(item, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, got {type(value).__name__}")
    return value


def embedded_of(item: Row) -> dict[str, Any]:
    value = value_of(item, "_embedded")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("'_embedded' must be an object")
    return value


def as_text(value: Any) -> str | None:
    """A custom-field value as text: strings as they are, numbers in decimal, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def as_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
