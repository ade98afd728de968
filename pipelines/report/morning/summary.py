"""The morning checks in a few plain lines, for the Markdown summary and the `make demo` console.

A head of sales reading a chat message or a terminal sees this month's response speed and today's
open deals that need a look without opening the page; a section without data says so in one line.
"""

from __future__ import annotations

from datetime import date

from pipelines.report.model import shift_months
from pipelines.report.morning import MorningData
from pipelines.report.morning.common import Unavailable, message
from pipelines.report.morning.response import sla_text


def lines(data: MorningData, month: date, t: dict[str, str], fmt) -> list[str]:
    """Two lines: response speed of `month` (the whole account; the previous month's SLA share beside it, as
    early in a month there is little to go by), and the latest hygiene snapshot."""
    return [_response(data, month, t, fmt), _hygiene(data, t, fmt)]


def _response(data: MorningData, month: date, t: dict[str, str], fmt) -> str:
    r = data.response
    if isinstance(r, Unavailable):
        return f"{t['response_section']}: {message(t, r)}"
    total, before = r.month["total"], r.previous["total"]
    return t["summary_response"].format(
        month=fmt.month(month), share=fmt.percent(total.sla_share, 0), sla=sla_text(r.sla_minutes, t, fmt),
        previous_month=fmt.month(shift_months(month, -1)), previous=fmt.percent(before.sla_share, 0),
        within=fmt.number(total.responded_within_sla), elapsed=fmt.number(total.leads_sla_elapsed),
        median=fmt.minutes(total.median))


def _hygiene(data: MorningData, t: dict[str, str], fmt) -> str:
    h = data.hygiene
    if isinstance(h, Unavailable):
        return f"{t['hygiene_section']}: {message(t, h)}"

    def total(measure: str) -> str:
        return fmt.number(sum(int(r[measure]) for r in h.rows)) if measure in h.measures else t["not_available"]

    when = fmt.datetime(h.extracted_at) if h.extracted_at is not None else fmt.date(h.snapshot_date)
    return t["summary_hygiene"].format(
        when=when, open=fmt.number(sum(int(r["open_deals"]) for r in h.rows)),
        no_task=total("open_without_next_task"), overdue=total("open_with_overdue_task"), stuck=total("stuck_deals"))
