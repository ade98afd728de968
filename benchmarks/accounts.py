"""Several amoCRM accounts extracted in parallel processes into one warehouse (issue 14, plan §7).

Each simulated account runs in its own simulator process (as real accounts are separate servers),
with amoCRM's 7 requests/s limit and ~400 ms per answer. Run 1: account 1 alone, fresh data folder.
Run 2: all N at once, one extraction process each (`run_extraction(account_key=...)`, whose load
phases take the real warehouse flock in turns). Printed: wall time and its ratio to run 1 (target
<= 1.3), per process peak RSS (memory flat: <= 1.1 x run 1), CPU seconds of every extraction and of
the simulators, dlt step times, per account requests/s over its active span / 7 (target >= 95%),
429s (must be 0), a per-second request timeline (ramp-up, gaps, tail), and PASS/MISS per target.

    python -m benchmarks accounts                  # 4 accounts x 20,000 leads
    python -m benchmarks.accounts 2000             # a quick look: 4 x 2,000
    python -m benchmarks.accounts 20000 4 400      # leads, accounts, latency ms
    python -m benchmarks.accounts 2000 --one-simulator   # all accounts in one simulator process, to compare
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from pipelines import paths

RATE_LIMIT = 7
LEADS, ACCOUNTS, LATENCY_MS = 20_000, 4, 400
SEED, NOW = 7, 1_790_000_000


def _start_simulators(accounts: int, leads: int, latency_ms: int, shared: bool) -> tuple[list[subprocess.Popen], dict[str, str]]:
    """The simulated accounts on free ports; returns (processes, extractor env).

    One process per account by default: real amoCRM accounts are separate servers, and one
    Python process serving all of them shares one GIL and one core among their answers, so
    the simulator, not the extractor, would set the pace. `shared`: all in one process (the
    simulator CLI's `--accounts N`), to compare."""
    if shared:
        commands = [[sys.executable, "-m", "pipelines.simulator", "--port", "0", "--seed", str(SEED),
                     "--leads", str(leads), "--accounts", str(accounts), "--rate-limit", str(RATE_LIMIT),
                     "--latency-ms", str(latency_ms), "--now", str(NOW)]]
    else:
        commands = [[sys.executable, "-m", "benchmarks.accounts", "--serve", str(n), str(accounts), str(leads),
                     str(latency_ms)] for n in range(1, accounts + 1)]
    processes = [subprocess.Popen(command, cwd=paths.PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
                 for command in commands]  # generating the accounts in parallel
    env: dict[str, str] = {}
    for process in processes:
        banner = ""
        for line in process.stdout:
            banner += line
            if match := re.match(r"^(SOURCES__AMOCRM__\w+)=(\S+)$", line.strip()):
                env[match.group(1)] = match.group(2)
            if line.startswith("serving"):
                break
        else:
            for other in processes:
                other.kill()
            raise SystemExit(f"simulator did not start:\n{banner}")
    return processes, env


def serve(number: int, accounts: int, leads: int, latency_ms: int) -> None:
    """A simulator process serving account `number` of `accounts` (acc1..accN, as the CLI's `--accounts N`
    derives them: own id, subdomain, seed, timezone) until SIGTERM; prints the extractor's env."""
    import signal

    from pipelines.simulator.hub import Simulators
    from pipelines.simulator.profiles import derived_specs

    spec = derived_specs(accounts, SEED, leads)[number - 1]
    hub = Simulators.generate([spec], now=NOW, latency_ms=latency_ms, rate_limit=RATE_LIMIT).start()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for name, value in hub.env().items():
            print(f"{name}={value}")
        print("serving", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User + system CPU seconds the running processes used so far (Linux /proc; NaN elsewhere)."""
    total = 0.0
    try:
        for process in processes:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")
    return total


def _extract_in_parallel(keys: list[str], hub_env: dict[str, str]) -> tuple[float, dict[str, dict]]:
    """One extraction process per key, all at once, into one fresh data folder; (wall seconds, figures)."""
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if "AMOCRM" not in k.upper()}
        env |= {"AMOCRM_KPI_DATA_DIR": data, "PYTHONPATH": str(paths.PROJECT_ROOT)}
        env |= {k: v for k, v in hub_env.items() if any(f"__ACCOUNTS__{key.upper()}__" in k for key in keys)}
        started = time.time()
        processes = {key: subprocess.Popen([sys.executable, "-m", "benchmarks.accounts", "--extract", key], env=env,
                                           cwd=paths.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True) for key in keys}
        outputs = {key: process.communicate() for key, process in processes.items()}
        wall = time.time() - started
    failed = {key: out[1][-3000:] for key, out in outputs.items() if processes[key].returncode}
    if failed:
        raise SystemExit("extraction failed:\n" + "\n".join(f"{k}:\n{v}" for k, v in failed.items()))
    return wall, {key: json.loads(out[0].splitlines()[-1]) for key, out in outputs.items()}


def extract(key: str) -> None:
    """The extraction process: a full load of account `key`; prints its figures as JSON."""
    from pipelines.amocrm.client import RequestStats
    from pipelines.amocrm.run import make_pipeline, run_extraction
    from pipelines.amocrm.source import ExtractionStats

    @dataclass
    class TimedRequests(RequestStats):
        times: list = field(default_factory=list)

        def count(self, status, retry):
            super().count(status, retry)
            self.times.append(time.time())

    stats, pipeline = ExtractionStats(requests=TimedRequests()), make_pipeline(key)
    summary = run_extraction(account_key=key, stats=stats, pipeline=pipeline)
    steps: dict[str, float] = {}
    for step in pipeline.last_trace.steps:
        steps[step.step] = steps.get(step.step, 0.0) + (step.finished_at - step.started_at).total_seconds()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    offset = time.time() - time.monotonic()  # the counters keep monotonic time
    spans = {name: [c.first_request + offset, c.last_response + offset, c.pages]
             for name, c in stats.resources.items() if c.first_request and c.last_response}
    print(json.dumps({
        "requests": summary.requests, "statuses": summary.statuses, "items": summary.items,
        "times": stats.requests.times, "elapsed": summary.elapsed, "extract_seconds": summary.extract_seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime, "steps": steps,
        "spans": spans,
    }))


def _rate(figures: dict) -> float:
    """Requests per second over the account's active span (first to last request) / the limit."""
    times = figures["times"]
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return (len(times) - 1) / span / RATE_LIMIT


def _timeline(runs: dict[str, dict], start: float) -> list[str]:
    """Requests per second of each account, second by second (10 s per line)."""
    lines = []
    for key, figures in sorted(runs.items()):
        counts: dict[int, int] = {}
        for t in figures["times"]:
            counts[int(t - start)] = counts.get(int(t - start), 0) + 1
        last = max(counts, default=0)
        seconds = [counts.get(s, 0) for s in range(last + 1)]
        lines.append(f"  {key}: " + " ".join("".join(str(min(c, 9)) for c in seconds[i:i + 10])
                                             for i in range(0, len(seconds), 10)))
        spans = sorted(figures.get("spans", {}).items(), key=lambda kv: kv[1][1])
        lines.append(f"  {'':{len(key)}}  lists read, s from the start (pages): " + ", ".join(
            f"{name} {a - start:.0f}-{b - start:.0f} ({pages})" for name, (a, b, pages) in spans))
    return lines


def _table(title: str, wall: float, runs: dict[str, dict], single: dict | None) -> list[str]:
    lines = [title, f"  {'account':<8} {'requests':>8} {'items':>8} {'req/s /7':>8} {'429s':>5} {'peak RSS MB':>11} "
             f"{'x single':>8} {'CPU s':>6} {'extract':>7} {'normalize':>9} {'load':>6} {'elapsed':>7}"]
    for key, f in sorted(runs.items()):
        flat = f"{f['peak_rss_mb'] / single['peak_rss_mb']:>8.2f}" if single else f"{'':>8}"
        lines.append(f"  {key:<8} {f['requests']:>8,} {f['items']:>8,} {_rate(f):>8.1%} {f['statuses'].get('429', 0):>5} "
                     f"{f['peak_rss_mb']:>11.0f} {flat} {f['cpu_seconds']:>6.1f} {f['steps'].get('extract', 0):>7.1f} "
                     f"{f['steps'].get('normalize', 0):>9.1f} {f['steps'].get('load', 0):>6.1f} {f['elapsed']:>7.1f}")
    lines.append(f"  wall time {wall:.1f} s")
    return lines


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = [int(a) for a in argv if a.isdigit()]
    shared = "--one-simulator" in argv
    leads, accounts, latency = (args + [LEADS, ACCOUNTS, LATENCY_MS][len(args):])[:3]
    print(f"{accounts} simulated accounts x {leads:,} leads, {RATE_LIMIT} requests/s and {latency} ms per answer "
          f"each, {'all in one simulator process' if shared else 'one simulator process each'}; generating...",
          flush=True)
    simulators, env = _start_simulators(accounts, leads, latency, shared)
    try:
        keys = [f"acc{i}" for i in range(1, accounts + 1)]
        cpu, started = _cpu_seconds(simulators), time.time()
        wall_one, one = _extract_in_parallel(keys[:1], env)
        cpu_one, cpu = _cpu_seconds(simulators) - cpu, _cpu_seconds(simulators)
        print("\n".join(_table("run 1: one account alone", wall_one, one, None)), flush=True)
        print(f"  simulator CPU s: {cpu_one:.1f}", flush=True)
        print("\n".join(_timeline(one, started)), flush=True)
        started = time.time()
        wall_all, many = _extract_in_parallel(keys, env)
        cpu_all = _cpu_seconds(simulators) - cpu
        print("\n".join(_table(f"run 2: {accounts} accounts in parallel processes", wall_all, many, one[keys[0]])),
              flush=True)
        print(f"  simulator CPU s: {cpu_all:.1f}", flush=True)
        print("\n".join(_timeline(many, started)), flush=True)
    finally:
        for process in simulators:
            process.terminate()  # SIGTERM: SIGINT is ignored when the benchmark runs as a background job
        for process in simulators:
            process.wait()
    ratio = wall_all / wall_one
    rss = max(f["peak_rss_mb"] for f in many.values()) / one[keys[0]]["peak_rss_mb"]
    single = _rate(one[keys[0]])
    worst = min(_rate(f) for f in many.values())
    throttled = sum(f["statuses"].get("429", 0) for f in [*many.values(), *one.values()])
    print("timeline: requests per second of each account from its run's start (9 = 9 or more), 10 s per group")
    print(f"\n{_verdict(ratio <= 1.3)} wall time {wall_all:.1f} s for {accounts} accounts vs {wall_one:.1f} s for one: "
          f"x{ratio:.2f} (target <= 1.3)")
    print(f"{_verdict(rss <= 1.1)} peak RSS: max {rss:.2f} x the single account's (memory flat: <= 1.1)")
    print(f"{_verdict(single >= 0.95)} one account alone: {single:.1%} of {RATE_LIMIT} requests/s over its active span "
          "(target >= 95%)")
    print(f"{_verdict(worst >= 0.95)} {accounts} accounts at once: lowest {worst:.1%} of {RATE_LIMIT} requests/s "
          "(target >= 95%)")
    print(f"{_verdict(not throttled)} 429s: {throttled} (must be 0)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--extract"]:
        extract(sys.argv[2])
    elif sys.argv[1:2] == ["--serve"]:
        serve(*(int(a) for a in sys.argv[2:6]))
    else:
        main()
