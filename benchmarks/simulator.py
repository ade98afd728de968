"""The amoCRM simulator at scale: generation time and memory, and leads-page latency over HTTP.

Each account size is generated in a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time

import requests

NOW = 1_790_000_000
SIZES = (100_000, 1_000_000)


def _generate(leads: int, results) -> None:
    from pipelines.simulator import SimulatedAccount

    started = time.perf_counter()
    account = SimulatedAccount.generate(seed=7, leads=leads, now=NOW)
    generated = time.perf_counter()
    account.events
    indexed = time.perf_counter()
    account.state()
    folded = time.perf_counter()
    results.put({"leads": leads, "generate_s": generated - started, "events_s": indexed - generated,
                 "state_s": folded - indexed, "events": len(account.events),
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _measure_generation(leads: int) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_generate, args=(leads, results))
    process.start()
    figures = results.get()
    process.join()
    return figures


def _latency(session: requests.Session, url: str, params: dict, runs: int = 15) -> tuple[float, float, int]:
    """(first call ms, median of the next `runs` ms, items on the page)."""
    timings, items = [], 0
    for _ in range(runs + 1):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=60)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        items = len(response.json()["_embedded"]["leads"])
    return timings[0], statistics.median(timings[1:]), items


def main() -> None:
    for leads in SIZES:
        f = _measure_generation(leads)
        print(f"generate {leads:>9,} leads: timeline {f['generate_s']:.1f}s, event index {f['events_s']:.1f}s "
              f"({f['events']:,} events), state at now {f['state_s']:.2f}s; peak RSS {f['peak_rss_mb']:,.0f} MB",
              flush=True)

    from pipelines.simulator import SimulatedAccount, Simulator

    account = SimulatedAccount.generate(seed=7, leads=100_000, now=NOW)
    with Simulator(account, rate_limit=None) as sim:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sim.long_lived_token}"
        url = f"{sim.base_url}/api/v4/leads"
        pages = {
            "first page": {"limit": 250},
            "deep page (page 350)": {"limit": 250, "page": 350},
            "filtered + ordered": {"limit": 250, "page": 3, "with": "contacts,loss_reason,source_id",
                                   "filter[updated_at][from]": NOW - 90 * 86_400, "order[updated_at]": "asc"},
        }
        for name, params in pages.items():
            first, median, items = _latency(session, url, params)
            print(f"100k leads over HTTP, {name}: first {first:.1f} ms, then median {median:.1f} ms "
                  f"({items} leads/page)", flush=True)


if __name__ == "__main__":
    main()
