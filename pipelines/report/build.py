"""Build the KPI report from the serving copy: `build_report()`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from pipelines import paths
from pipelines.report import morning
from pipelines.report.accounts import AccountInfo, account_marts, list_accounts
from pipelines.report.account_page import render_accounts
from pipelines.report.data import ALL, GRAINS, load, read_account, trend_periods
from pipelines.report.format import Formatter, language_of
from pipelines.report.labels import LABELS
from pipelines.report.morning import summary
from pipelines.report.model import Scope
from pipelines.report.render import Presenter, Tile
from pipelines.runguard import remove_stale_temp_files, temp_name

DEFAULT_CURRENCY = "RUB"
DEFAULT_TIMEZONE = "Europe/Moscow"  # amoCRM's own default, and the schedule's
LATEST_NAME = "kpi_report.html"


@dataclass(frozen=True)
class Report:
    path: Path  # the latest report, replaced by every run
    dated_path: Path  # the same page kept under the day it was built for
    language: str
    month: date  # the current period (first day of the month)
    headline: tuple[Tile, ...]  # the first account's whole-account tiles as shown: current and previous month
    summary: str  # Markdown: the headline table and a link to the page (one block per account)
    accounts: tuple[AccountInfo, ...] = ()  # the accounts of the page, when the serving copy lists them


def build_report(
    serving_db: Path | None = None,
    out_dir: Path | None = None,
    language: str | None = None,
    today: date | None = None,
) -> Report:
    """Render the report for the month containing `today` (default: today in the account's timezone).

    The language is `language` when given, else the account's (from the marts'
    `dim_account` or a raw `account` table, where the database has one), else
    Russian; currency and timezone likewise default to RUB and Europe/Moscow.
    With several accounts in the serving copy each gets its own page (own
    timezone, currency and `today`), shown one at a time under an account selector.
    """
    serving_db = serving_db or paths.serving_path()
    out_dir = out_dir or paths.reports_dir()
    pages = _pages(serving_db, language, today)
    first = pages[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / LATEST_NAME
    dated = out_dir / f"kpi_report_{first.presenter.data.today:%Y-%m-%d}.html"
    if len(pages) == 1:
        html = first.presenter.html(generated_at=first.now)
        summary_md = first.presenter.markdown(latest.as_uri())
    else:
        html = render_accounts([(p.info, p.presenter, p.now) for p in pages])
        summary_md = "\n\n".join(
            f"### {p.info.label}\n\n" + p.presenter.markdown(f"{latest.as_uri()}#account-{p.info.account_id}")
            for p in pages
        )
    for path in (dated, latest):
        _write_atomically(path, html)
    return Report(
        path=latest,
        dated_path=dated,
        language=first.presenter.fmt.language,
        month=first.presenter.data.month,
        headline=tuple(first.presenter.tiles(Scope(ALL, "all"))),
        summary=summary_md,
        accounts=tuple(p.info for p in pages if p.info is not None),
    )


def morning_lines(serving_db: Path | None = None, language: str = "en", today: date | None = None) -> list[str]:
    """The morning checks of the month containing `today` in plain lines (`make demo` prints them).

    With several accounts: one block per account, headed by its name.
    """
    serving_db = serving_db or paths.serving_path()
    blocks: list[tuple[AccountInfo | None, list[str]]] = []
    for info, con in _connections(serving_db):
        with con:
            account = read_account(con)
            tz = ZoneInfo(account.timezone or DEFAULT_TIMEZONE)
            con.execute(f"set TimeZone = '{tz.key}'")
            periods = {grain: trend_periods(today or datetime.now(tz).date(), grain) for grain in GRAINS}
            data = morning.load(con, periods)
        fmt = Formatter(language, account.currency or DEFAULT_CURRENCY, account.currency_symbol)
        blocks.append((info, summary.lines(data, periods["month"][-1], LABELS[fmt.language], fmt)))
    if len(blocks) == 1:
        return blocks[0][1]
    return [line for info, block in blocks for line in [f"{info.label}:", *(f"  {x}" for x in block)]]


@dataclass(frozen=True)
class _Page:
    info: AccountInfo | None  # None: a serving copy of one account without `dim_accounts`
    presenter: Presenter
    now: datetime


def _connections(serving_db: Path) -> Iterator[tuple[AccountInfo | None, duckdb.DuckDBPyConnection]]:
    """One connection per account: its own rows of the serving copy, its `dim_accounts` row as `dim_account`."""
    if not serving_db.exists():
        raise FileNotFoundError(f"no serving copy at {serving_db}: run the pipeline (it publishes the marts) first")
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        accounts = list_accounts(con)
    except BaseException:
        con.close()
        raise
    if not accounts:  # published before `dim_accounts`: one account, read as it is
        yield None, con
        return
    con.close()
    for info in accounts:
        with account_marts(serving_db, info.account_id) as view:
            yield info, view


def _pages(serving_db: Path, language: str | None, today: date | None) -> list[_Page]:
    pages = []
    for info, con in _connections(serving_db):
        with con:
            account = read_account(con)
            tz = ZoneInfo(account.timezone or DEFAULT_TIMEZONE)
            con.execute(f"set TimeZone = '{tz.key}'")  # a validated zone name: calendar days of timestamps
            now = datetime.now(tz)
            data = load(con, today or now.date(), account)
            morning_data = morning.load(con, data.periods)
        fmt = Formatter(language or language_of(account.language or "ru"), account.currency or DEFAULT_CURRENCY,
                        account.currency_symbol)
        pages.append(_Page(info, Presenter(data, fmt, morning_data), now))
    return pages


def _write_atomically(path: Path, text: str) -> None:
    """Someone may have the report open, or a mailer may be attaching it: never show half a file."""
    remove_stale_temp_files(path)  # left by a build that was killed midway
    partial = temp_name(path)
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
