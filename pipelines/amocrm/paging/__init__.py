"""Scan strategies: how to read a changing list completely, fast, without skips, and never stop early.

amoCRM lists only have offset paging (`page`, `limit`). Offset paging over a set
that changes while it is read skips rows: when a row before the current offset
leaves the set, every later row slides back one place and the first row of the
next page lands on a page already read. Each strategy is built so that the
changes it can meet cannot cause that:

* `keyset_scan` (`keyset.py`; leads, contacts, companies, notes, trash views):
  `updated_at >= pos` ascending, page 1 only, restarting from the last row seen.
* `window_scan` (`windows.py`; tasks: filterable by `updated_at`, not orderable
  by it): one page per `updated_at` window, each a consistent snapshot.
* `striped_scan` (`offset.py`; events, fallbacks): offset pages fetched in
  parallel by page number, for sets where offsets are stable enough;
  `head_safe_stripe` (events) stripes only what is older than the server's clock.
* `strategy.scan` picks one of these for an incremental table (`EntitySpec.scan`
  in endpoints.py); `reference.reference_rows` reads the small reference lists.
* Every row is checked against the requested window. A row outside it means the
  account ignores filters (amoCRM's paid "API filter" add-on): `FiltersIgnored`
  is raised and the caller re-reads with `fallback_scan`, newest first, stopping
  at the cursor and filtering client-side.

When a listing ends (the rule every scan keeps):

* It ends on a 204 (amoCRM's answer for "nothing found"), or on a 200 whose
  `_embedded.<collection>` is an empty list.
* A 200 with an empty body, or a body without `_embedded.<collection>`, is not
  an end: it is read again (`pages.REREADS` times), then the resource fails with
  an `AmoIncompletePage` naming the endpoint and the page.
* A short page (fewer rows than `limit`) without `next` is ambiguous: the server
  may cap pages below `limit` without saying so (events: 100 or 250, the docs
  disagree), or have cut the page short. It ends a listing only when it is shorter
  than the page size this server was seen to serve on that listing in this scan
  (a page as long as `limit`, or a short page that more rows followed), or than
  50 rows (amoCRM's default page size: no list serves fewer); otherwise the scan
  reads on: the next keyset step, page 2 of the window, the next offset page. So
  an ambiguous end costs one more request. Keyset chains read on after every
  page with new rows (that step is cheap, and makes a page cut short harmless).
* Offset scans end only on an empty page, and then check that every page but the
  last with rows is as long as the longest (and has 50 rows at least); a shorter
  one fails the resource (its rows went missing). A server that cuts every page
  to the same length of 50 or more cannot be told from one that caps its pages;
  windows trust a short page once the
  page size is known (a page cut short there goes unseen).
* Small reference lists (`all_pages`) also end once they read the `_total_items`
  the server announced, or on a page repeating the last (a list not paged).
* A failed resource raises inside its dlt generator: dlt keeps none of its rows
  and does not move its cursor, so the next run reads the same range again.

Pages are shaped on the worker threads and handed to the single consumer (dlt)
through a bounded queue (`stream.py`), so memory does not grow with the account.
"""

from pipelines.amocrm.paging.keyset import keyset_scan, read_second
from pipelines.amocrm.paging.offset import all_pages, fallback_scan, head_safe_stripe, striped_scan, window_keep
from pipelines.amocrm.paging.pages import Endpoint, FiltersIgnored, ServedSize, read_page
from pipelines.amocrm.paging.stream import PageStream, ScanCounters
from pipelines.amocrm.paging.windows import window_scan

__all__ = [
    "Endpoint", "FiltersIgnored", "PageStream", "ScanCounters", "ServedSize", "all_pages", "fallback_scan",
    "head_safe_stripe", "keyset_scan", "read_page", "read_second", "striped_scan", "window_keep", "window_scan",
]
