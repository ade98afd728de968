"""Extraction throughput and memory against the simulator with amoCRM's 7 requests/s limit on.

Three processes per account size, so each figure is the extractor's own: the simulator
(`python -m pipelines.simulator --rate-limit 7`, on a free loopback port, same seed and
`--now` for every size), this benchmark, and the extraction (a full load into a fresh
data folder, configured through env vars like a deployment). The extraction process
reports its peak RSS (getrusage, with a per-step breakdown) and its counters; this one
prints rows/s, requests/s and the ratio to the ceiling 7 requests/s x 250 rows, overall
and per entity.

    python -m benchmarks extraction                    # 10,000 and 100,000 leads
    AMOCRM_BENCH_LEADS=2000,20000 python -m benchmarks extraction
    python -m benchmarks.extraction 2000 20000
"""

from __future__ import annotations

import array
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time

from pipelines import paths

RATE_LIMIT = 7
PAGE_SIZE = 250
CEILING_ROWS_PER_SECOND = RATE_LIMIT * PAGE_SIZE
SIZES = (10_000, 100_000)
SEED = 7
NOW = 1_790_000_000


def _start_simulator(leads: int) -> tuple[subprocess.Popen, str, str]:
    """The simulator CLI on port 0 (the OS picks a free one); returns (process, base_url, token)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.simulator", "--port", "0", "--seed", str(SEED), "--leads", str(leads),
         "--rate-limit", str(RATE_LIMIT), "--now", str(NOW)],
        cwd=paths.PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    banner = ""
    for line in process.stdout:  # it prints its URL and credentials, then "serving"
        banner += line
        if line.startswith("serving"):
            break
    url = re.search(r"^amoCRM simulator: (\S+)", banner, re.M)
    token = re.search(r"^long-lived token: (\S+)", banner, re.M)
    if not (url and token):
        process.kill()
        raise SystemExit(f"simulator did not start:\n{banner}")
    return process, url.group(1), token.group(1)


def run(leads: int) -> dict:
    simulator, base_url, token = _start_simulator(leads)
    try:
        with tempfile.TemporaryDirectory() as data:
            env = {**os.environ, "AMOCRM_KPI_DATA_DIR": data, "SOURCES__AMOCRM__BASE_URL": base_url,
                   "SOURCES__AMOCRM__ACCESS_TOKEN": token}
            done = subprocess.run([sys.executable, "-m", "benchmarks.extraction", "--extract"], env=env,
                                  cwd=paths.PROJECT_ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"extraction failed:\n{done.stderr[-3000:]}")
            return {"leads": leads, **json.loads(done.stdout.splitlines()[-1])}
    finally:
        simulator.terminate()  # SIGTERM: SIGINT is ignored when the benchmark runs as a background job
        simulator.wait()


def extract() -> None:
    """The extraction process: a full load with the dlt config from env; prints its figures as JSON."""
    from pipelines.amocrm import make_pipeline, run_extraction
    from pipelines.amocrm.source import ExtractionStats

    times, rss = array.array("d"), array.array("d")  # compact: the samples must not weigh in the peak
    stop = threading.Event()

    def sample_rss() -> None:  # to tell which step holds the peak (Linux only; the peak itself is getrusage's)
        page = os.sysconf("SC_PAGE_SIZE")
        while not stop.wait(0.1):
            with open("/proc/self/statm") as statm:
                times.append(time.time())
                rss.append(int(statm.read().split()[1]) * page)

    if os.path.exists("/proc/self/statm"):
        threading.Thread(target=sample_rss, daemon=True).start()
    stats, pipeline = ExtractionStats(), make_pipeline()
    summary = run_extraction(pipeline=pipeline, stats=stats)
    stop.set()
    steps = {s.step: (s.started_at.timestamp(), s.finished_at.timestamp()) for s in pipeline.last_trace.steps
             if s.step != "run"}
    steps["finish_load"] = (max(b for _, b in steps.values()), time.time())  # deletions, after dlt's steps
    step_peaks = {step: max((r for t, r in zip(times, rss) if a <= t <= b), default=0) / 2**20
                  for step, (a, b) in steps.items()}
    entities = {name: {"rows": c.rows, "requests": c.pages, "largest_page": c.largest_page,
                       "span": (c.last_response - c.first_request) if c.first_request else 0.0}
                for name, c in stats.resources.items()}
    print(json.dumps({
        "rows": summary.items, "requests": summary.requests, "statuses": summary.statuses,
        "extract_seconds": summary.extract_seconds, "total_seconds": summary.elapsed, "entities": entities,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "step_peak_rss_mb": step_peaks,
    }))


def _entity_table(r: dict) -> list[str]:
    """Per entity: its rows per request against a full page (its share of the ceiling it delivers)."""
    lines = [f"  {'entity':<18} {'rows':>10} {'requests':>9} {'max page':>8} {'rows/req':>8} {'fill':>6} "
             f"{'active s':>8} {'rows/s':>7} {'req/s':>6}"]
    scanned = 0
    for name, e in sorted(r["entities"].items(), key=lambda kv: -kv[1]["rows"]):
        if not e["requests"]:
            continue
        scanned += e["requests"]
        per = e["rows"] / e["requests"]
        span = e["span"] or float("nan")
        lines.append(f"  {name:<18} {e['rows']:>10,} {e['requests']:>9,} {e['largest_page']:>8} {per:>8.1f} "
                     f"{per / PAGE_SIZE:>6.1%} {span:>8.1f} {e['rows'] / span:>7.0f} {e['requests'] / span:>6.2f}")
    reference = sum(e["rows"] for e in r["entities"].values() if not e["requests"])
    lines.append(f"  {'reference lists':<18} {reference:>10,} {r['requests'] - scanned:>9,}   (account, users, "
                 "pipelines, loss reasons, custom fields; retries, if any, also land here)")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sizes = ([int(a) for a in args if a.isdigit()]
             or [int(s) for s in os.environ.get("AMOCRM_BENCH_LEADS", "").split(",") if s] or list(SIZES))
    results = []
    for leads in sizes:
        r = run(leads)
        results.append(r)
        print(f"{leads:,} leads: extract {r['extract_seconds']:.1f}s ({r['total_seconds']:.1f}s with normalize "
              f"and load), statuses {r['statuses']}, peak RSS {r['peak_rss_mb']:.0f} MB, by step: "
              + ", ".join(f"{k} {v:.0f}" for k, v in r["step_peak_rss_mb"].items()), flush=True)
        print("\n".join(_entity_table(r)), flush=True)
    print(f"\n{'leads':>8} {'rows':>10} {'requests':>9} {'seconds':>8} {'rows/s':>8} {'req/s':>6} "
          f"{'of ceiling':>10} {'429s':>5} {'peak RSS MB':>11}")
    for r in results:
        rate = r["rows"] / r["extract_seconds"]
        print(f"{r['leads']:>8,} {r['rows']:>10,} {r['requests']:>9,} {r['extract_seconds']:>8.1f} {rate:>8.0f} "
              f"{r['requests'] / r['extract_seconds']:>6.2f} {rate / CEILING_ROWS_PER_SECOND:>10.1%} "
              f"{r['statuses'].get('429', 0):>5} {r['peak_rss_mb']:>11.0f}")
    print(f"ceiling: {RATE_LIMIT} requests/s x {PAGE_SIZE} rows = {CEILING_ROWS_PER_SECOND} rows/s; rows = API list "
          "items; seconds = dlt extract step; 429s = as received by the extractor; peak RSS = the extraction "
          "process alone (simulator in its own process)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--extract"]:
        extract()
    else:
        main()
