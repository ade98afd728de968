"""The morning-check sections of the report (issue 15): response speed, the hygiene checklist, the open
pipeline per day and the breakdowns. One module per section holds its query and its view; a section whose
table is missing or empty renders one plain "no data yet" sentence instead (`common.Unavailable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from pipelines.report.morning import breakdowns, hygiene, pipeline, response
from pipelines.report.morning.common import Unavailable, message


@dataclass(frozen=True)
class MorningData:
    response: response.ResponseData | Unavailable
    hygiene: hygiene.HygieneData | Unavailable
    pipeline: pipeline.PipelineData | Unavailable
    breakdowns: breakdowns.BreakdownData | Unavailable


def load(con: duckdb.DuckDBPyConnection, periods: dict[str, list[date]]) -> MorningData:
    return MorningData(
        response=response.load(con, periods),
        hygiene=hygiene.load(con),
        pipeline=pipeline.load(con, periods["day"]),
        breakdowns=breakdowns.load(con, periods["month"][-1]),
    )


def views(data: MorningData, p) -> dict[str, Any]:
    """Display-ready views of every section for the template; `p` is the Presenter."""
    result = {
        "response": response.view(data.response, p),
        "hygiene": hygiene.view(data.hygiene, p),
        "pipeline": pipeline.view(data.pipeline, p),
        "breakdowns": breakdowns.view(data.breakdowns, p),
    }
    for section in result.values():
        section["empty"] = message(p.t, section["unavailable"]) if section["unavailable"] else None
    return result
