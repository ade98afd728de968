"""Several accounts on one page: an account selector over each account's own, unchanged report.

Each account's report is rendered exactly as a single-account page and
embedded whole (`<iframe srcdoc>`), so its filters, ids and script stay its own
and nothing can add one account's figures to another's.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pipelines.report.accounts import AccountInfo
from pipelines.report.format import MISSING
from pipelines.report.render import Presenter, _templates


def render_accounts(pages: list[tuple[AccountInfo, Presenter, datetime]]) -> str:
    """The page with the account selector; the first account is shown first (or the one named in `#account-<id>`)."""
    first = pages[0][1]
    return _templates.get_template("accounts.html.j2").render(
        t=first.t,
        language=first.fmt.language,
        title=f"{first.t['title']} — {first.fmt.month(first.data.month)}",
        accounts=[_account_view(info, presenter, now) for info, presenter, now in pages],
    )


def _account_view(info: AccountInfo, presenter: Presenter, now: datetime) -> dict[str, str]:
    account = presenter.data.account
    tz = now.tzinfo
    freshness = MISSING
    if info.extracted_at is not None:
        at = info.extracted_at if info.extracted_at.tzinfo else info.extracted_at.replace(tzinfo=ZoneInfo("UTC"))
        freshness = presenter.fmt.datetime(at.astimezone(tz))
    t = presenter.t
    return {
        "id": str(info.account_id),
        "label": info.label,
        "meta": " · ".join([
            f"{t['currency']} {presenter.fmt.currency}",
            f"{t['timezone']} {tz}",
            f"{t['data_as_of']} {freshness}",
        ]),
        "source": t["simulated_source"] if account.simulated else (account.source_host or ""),
        "html": presenter.html(generated_at=now),
    }
