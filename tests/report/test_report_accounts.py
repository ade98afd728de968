"""Several accounts in one serving copy: one page, an account selector, each account's figures its own."""

from __future__ import annotations

import html
import re

from report_accounts import ACCOUNTS, build_accounts
from report_marts import TODAY

from pipelines.report import build_report
from pipelines.report.build import morning_lines

DATA_VALUE = re.compile(r'data-(?:kpi|forecast|row|col)="[^"]*"|data-value="[^"]*"')
FRAME = re.compile(r'<section class="account" id="account-(\d+)" data-account="\d+">.*?srcdoc="([^"]*)"', re.S)


def figures(page: str) -> list[str]:
    """Every number of the page with the attribute naming it, in page order."""
    return DATA_VALUE.findall(page)


def embedded(page: str) -> dict[int, str]:
    """Each account's own report as embedded in the account page."""
    return {int(a): html.unescape(doc) for a, doc in FRAME.findall(page)}


def test_each_account_shows_exactly_its_own_report(two_accounts):
    report, singles = two_accounts
    pages = embedded(report.path.read_text(encoding="utf-8"))
    assert sorted(pages) == [a[0] for a in ACCOUNTS]
    for account_id, single in singles.items():
        own = figures(pages[account_id])
        assert len(own) > 100
        assert own == figures(single.path.read_text(encoding="utf-8"))


def test_no_figure_adds_up_the_accounts(two_accounts):
    report, singles = two_accounts
    revenue = {a: next(t.value for t in s.headline if t.key == "revenue_won") for a, s in singles.items()}
    assert all(revenue.values())
    page = report.path.read_text(encoding="utf-8")
    assert f'data-kpi="revenue_won" data-value="{sum(revenue.values())}"' not in html.unescape(page)
    assert [a.account_id for a in report.accounts] == [a[0] for a in ACCOUNTS]


def test_header_names_each_accounts_currency_timezone_and_freshness(two_accounts):
    report, _ = two_accounts
    page = report.path.read_text(encoding="utf-8")
    assert '<select id="account">' in page
    meta = dict(re.findall(r'data-account-meta="(\d+)">([^<]*)<', page))
    assert meta == {"31001": "Валюта RUB · часовой пояс Europe/Moscow · данные на 15.10.2026 07:30",
                    "31002": "Валюта USD · часовой пояс Asia/Yekaterinburg · данные на 15.10.2026 09:30"}
    beta = embedded(page)[31002]
    assert "$" in beta and "₽" not in beta  # each account's money in its own currency


def test_summary_and_console_have_one_named_block_per_account(two_accounts):
    report, singles = two_accounts
    blocks = report.summary.split("### ")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["Альфа", "Beta Ltd"]
    for block, (account_id, single) in zip(blocks, singles.items()):
        body = block.split("\n", 2)[2]
        own_table = [line for line in body.splitlines() if line.startswith("| ")]
        assert own_table == [line for line in single.summary.splitlines() if line.startswith("| ")]
        assert f"#account-{account_id})" in body
    lines = morning_lines(report.path.parent.parent / "amocrm_kpi.duckdb", today=TODAY)
    assert lines[0] == "Альфа:" and "Beta Ltd:" in lines
    assert all(line.startswith("  ") for line in lines if not line.endswith(":"))


def test_one_account_in_dim_accounts_is_the_plain_page_with_its_own_settings(two_accounts, tmp_path):
    _, singles = two_accounts
    serving, _ = build_accounts(tmp_path, ACCOUNTS[1:])
    report = build_report(serving, tmp_path / "reports", today=TODAY)
    page = report.path.read_text(encoding="utf-8")
    assert 'id="account"' not in page and "srcdoc" not in page  # no selector
    assert "Beta Ltd" in page and "Asia/Yekaterinburg" in page and "$" in page
    assert figures(page) == figures(singles[31002].path.read_text(encoding="utf-8"))
    assert "### " not in report.summary
