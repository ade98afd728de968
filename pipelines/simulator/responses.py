"""An API answer before HTTP: status, body and headers, and the two JSON envelopes amoCRM uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def hal(payload: dict, status: int = 200) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), "application/hal+json")


def problem(status: int, title: str, detail: str, **extra) -> Response:
    body = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status, "detail": detail, **extra}
    return Response(status, json.dumps(body, ensure_ascii=False).encode(), "application/problem+json")


NO_CONTENT = Response(204)
