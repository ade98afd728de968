"""Extraction throughput against the simulator with amoCRM's 7 requests/s limit on.

For each account size, a full load runs as a separate process (`python -m pipelines.amocrm`,
configured through env vars like a deployment) into a fresh data folder, so its peak
memory is the extractor's own (the simulator serves from this process). Prints rows/s,
requests/s, the ratio to the ceiling 7 x 250 rows/s, 429s and the peak RSS.

    python -m benchmarks extraction                    # 10,000 and 100,000 leads
    AMOCRM_BENCH_LEADS=2000,20000 python -m benchmarks extraction
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time

from pipelines import paths
from pipelines.simulator import SimulatedAccount, Simulator

RATE_LIMIT = 7
CEILING_ROWS_PER_SECOND = RATE_LIMIT * 250
SIZES = (10_000, 100_000)


def run(leads: int) -> dict:
    account = SimulatedAccount.generate(seed=7, leads=leads, now=1_790_000_000)
    with Simulator(account, rate_limit=RATE_LIMIT) as sim, tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "AMOCRM_KPI_DATA_DIR": data, "SOURCES__AMOCRM__BASE_URL": sim.base_url,
               "SOURCES__AMOCRM__ACCESS_TOKEN": sim.long_lived_token}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pipelines.amocrm"], env=env, cwd=paths.PROJECT_ROOT,
                              capture_output=True, text=True)
        elapsed = time.monotonic() - started
        if done.returncode:
            raise SystemExit(f"extraction failed:\n{done.stderr[-3000:]}")
        items = re.search(r"^items read ([\d,]+) in ([\d.]+)s", done.stdout, re.M)
        requests = int(re.search(r"^requests ([\d,]+)", done.stdout, re.M).group(1).replace(",", ""))
        return {"leads": leads, "rows": int(items.group(1).replace(",", "")), "requests": requests,
                "elapsed": float(items.group(2)), "total_seconds": elapsed,
                "server_429": sim.stats.by_status.get(429, 0),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> None:
    sizes = [int(s) for s in os.environ.get("AMOCRM_BENCH_LEADS", "").split(",") if s] or SIZES
    print(f"{'leads':>8} {'rows':>10} {'requests':>9} {'seconds':>8} {'rows/s':>8} {'req/s':>6} "
          f"{'of ceiling':>10} {'429s':>5} {'peak RSS MB':>11}")
    for leads in sizes:
        r = run(leads)
        rate = r["rows"] / r["elapsed"]
        print(f"{r['leads']:>8,} {r['rows']:>10,} {r['requests']:>9,} {r['elapsed']:>8.1f} {rate:>8.0f} "
              f"{r['requests'] / r['elapsed']:>6.2f} {rate / CEILING_ROWS_PER_SECOND:>10.1%} {r['server_429']:>5} "
              f"{r['peak_rss_mb']:>11.0f}", flush=True)
    print(f"ceiling: {RATE_LIMIT} requests/s x 250 rows = {CEILING_ROWS_PER_SECOND} rows/s; "
          "rows = API list items; seconds = dlt extract step; peak RSS = largest extraction process so far")


if __name__ == "__main__":
    main()
