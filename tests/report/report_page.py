"""Read the numbers back out of a rendered report through its `data-*` attributes.

Each element is filed under the nearest enclosing `data-scope` (account,
pipeline or manager view), `data-grain`, `data-pipeline` and `data-dimension`, so a
test can ask for "the revenue tile of pipeline 1001", "the day bars of the whole
account" or "the breakdown table of tags".
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)  # tr: col -> (data-value, text)
    label: str | None = None  # tr: text of its first non-numeric cell
    rows: dict[str, "Element"] = field(default_factory=dict)  # table: data-row -> tr

    @property
    def content(self) -> str:
        return re.sub(r"[ \t\r\n]+", " ", "".join(self.text)).strip()  # keeps no-break spaces


class ReportPage(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[Element] = []
        self.tiles: dict[tuple[str, str], Element] = {}  # (scope, kpi)
        self.forecast: dict[tuple[str, str], Element] = {}  # (scope, key)
        self.tables: dict[tuple[str | None, str], Element] = {}  # (scope or pipeline, table key)
        self.bars: dict[tuple[str | None, str | None], list[float]] = defaultdict(list)  # (scope, grain)
        # line charts outside the scope views: (section id, grain or pipeline) -> one list per series
        self.lines: dict[tuple[str | None, str | None], list[list[float | None]]] = defaultdict(list)
        self.no_data: dict[str | None, str] = {}  # section id -> its "no data yet" sentence
        self.svgs = 0
        self.title = ""
        self.feed(html)
        self.close()

    def context(self, name: str) -> str | None:
        for element in reversed(self.stack):
            if name in element.attrs:
                return element.attrs[name]
        return None

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs})
        if tag == "svg":
            self.svgs += 1
        if tag == "rect" and "bar" in element.attrs.get("class", "").split():
            self.bars[(self.context("data-scope"), self.context("data-grain"))].append(float(element.attrs["data-value"]))
        if tag == "g" and "data-values" in element.attrs:
            where = self.context("data-grain") or self.context("data-pipeline")
            values = [None if v == "" else float(v) for v in element.attrs["data-values"].split(",")]
            self.lines[(self.context("id"), where)].append(values)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_data(self, data):
        for element in self.stack:
            element.text.append(data)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            element = self.stack.pop()
            if element.tag == tag:
                break
        self._file(element)

    def _file(self, element: Element) -> None:
        a = element.attrs
        parent = self.stack[-1] if self.stack else None
        if element.tag == "title" and not self.title and not any(e.tag == "svg" for e in self.stack):
            self.title = element.content
        if "data-no-data" in a:
            self.no_data[self.context("id")] = element.content
        if "data-kpi" in a:
            self.tiles[(self.context("data-scope"), a["data-kpi"])] = element
        elif "data-forecast" in a:
            self.forecast[(self.context("data-scope"), a["data-forecast"])] = element
        elif element.tag == "td" and parent is not None and parent.tag == "tr":
            if "data-col" in a:
                parent.cells[a["data-col"]] = (a["data-value"], element.content)
            elif parent.label is None:
                parent.label = element.content
        elif element.tag == "tr" and "data-row" in a:
            table = next(e for e in reversed(self.stack) if e.tag == "table")
            table.rows[a["data-row"]] = element
        elif element.tag == "table" and "data-table" in a:
            where = self.context("data-scope") or self.context("data-pipeline") or self.context("data-dimension")
            self.tables[(where, a["data-table"])] = element
