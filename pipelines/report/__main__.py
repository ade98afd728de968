"""`python -m pipelines.report`: build the KPI report from the serving copy and print its path.

`--screenshot PNG` also opens the report in headless Chromium, fails on any
console error, and saves a screenshot (the README's `docs/report.png` comes
from here).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pipelines.report.browser import BrowserError, HeadlessChromium
from pipelines.report.build import build_report
from pipelines.report.format import LANGUAGES

SCREENSHOT_SIZE = (1280, 1060)  # the top of the page: headline, forecast and trends


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.splitlines()[0])
    parser.add_argument("--serving-db", type=Path, help="DuckDB file with schema marts (default: the serving copy)")
    parser.add_argument("--out-dir", type=Path, help="where to write the report (default: <data>/reports)")
    parser.add_argument("--language", choices=LANGUAGES, help="default: the account's language")
    parser.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD; the report covers its month")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="also save a screenshot of the report")
    parser.add_argument("--full-page", action="store_true", help="screenshot the whole page, not just its top")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.serving_db, args.out_dir, args.language, args.today)
    except FileNotFoundError as error:
        parser.exit(2, f"{error}\n")
    print(report.path)
    if args.screenshot:
        try:
            with HeadlessChromium(width=SCREENSHOT_SIZE[0], height=SCREENSHOT_SIZE[1]) as browser:
                browser.open(report.path)
                if browser.errors:
                    print("the report has browser errors:", *browser.errors, sep="\n  ", file=sys.stderr)
                    return 1
                browser.screenshot(args.screenshot, full_page=args.full_page)
        except BrowserError as error:
            parser.exit(2, f"screenshot failed: {error}\n")
        print(args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
