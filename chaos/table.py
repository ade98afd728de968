"""The campaign's printed table and its invariants (what must hold for the campaign to pass)."""

from __future__ import annotations

from collections import Counter

from chaos import faults as fault_table
from chaos.campaign import Result, failed_runs
from chaos.runs import PHASES


def invariants(result: Result) -> list[tuple[str, bool, str]]:
    """(invariant, holds, detail) for every promise the pipeline makes under faults."""
    verdict = result.verdict
    rows = verdict.rows
    missing = sum(r.missing for r in rows)
    duplicated = sum(r.duplicated for r in rows)
    unexpected = sum(r.unexpected for r in rows)
    mismatched = sum(m.mismatched for m in verdict.marts)
    failed = failed_runs(result)
    alert_counts = Counter(result.alerts.get(run_id, 0) for run_id in failed)
    stuck = [r.index for r in result.records if r.outcome.blocked or r.outcome.timed_out]
    unborn = [r.index for r in result.records if not r.outcome.run_id]
    last = result.records[-1] if result.records else None
    return [
        ("the clean run after the faults succeeded", bool(last and last.outcome.returncode == 0),
         f"run {last.index}: {last.status}" if last else "no runs"),
        ("no run waited forever (stuck on a dead run's slot or timed out)", not stuck,
         f"stuck runs: {stuck}" if stuck else ""),
        ("every run started in Dagster (has a run id)", not unborn,
         f"runs {unborn}: see their console logs" if unborn else ""),
        ("no run left STARTED", not result.left_unfinished,
         f"{len(result.left_unfinished)}: " + ", ".join(run_id[:8] for run_id in result.left_unfinished)),
        ("every failed run raised exactly one alert", set(alert_counts) <= {1},
         f"{len(failed)} failed runs: " + ", ".join(f"{n} with {k} alert(s)" for k, n in sorted(alert_counts.items()))),
        ("no alert for a run that succeeded", not (set(result.alerts) - set(failed)), ""),
        ("raw tables: nothing missing, duplicated or unknown", missing == duplicated == unexpected == 0,
         f"missing {missing}, duplicated {duplicated}, unknown {unexpected}"),
        ("raw values equal the truth", not verdict.raw_values_error, verdict.raw_values_error),
        ("marts equal the reference KPIs", bool(verdict.marts) and mismatched == 0,
         f"{mismatched} mismatched values" if verdict.marts else "no marts compared"),
        ("serving copy equals the marts", not verdict.serving_error and verdict.serving_rows_differing == 0
         and verdict.serving_tables > 0, verdict.serving_error or f"{verdict.serving_rows_differing} rows differ"),
        ("no fault kind skipped (the simulator had every control)", not result.skipped,
         ", ".join(sorted(result.skipped))),
    ]


def passed(result: Result) -> bool:
    return all(ok for _, ok, _ in invariants(result))


def render(result: Result) -> str:
    s, verdict = result.settings, result.verdict
    records = result.records
    lines = [f"chaos campaign: seed {s.seed}, {len(records)} runs ({len(records) - 1} faulted + 1 clean), "
             f"{s.leads}-lead account, {result.seconds:.0f}s"]
    outcome = Counter()
    for r in records:
        o = r.outcome
        outcome["killed" if o.killed_in else "stuck" if o.blocked or o.timed_out else
                "succeeded" if o.returncode == 0 else "failed"] += 1
    lines.append("runs: " + ", ".join(f"{k} {outcome[k]}" for k in ("succeeded", "failed", "killed", "stuck"))
                 + f"; left STARTED {len(result.left_unfinished)}")
    lines += ["", f"{'fault kind':<26}{'injected':>9}  note (injected = armed on the simulator)"]
    for kind in fault_table.KINDS:
        note = f"SKIPPED: {result.skipped[kind.name]}" if kind.name in result.skipped else (
            "" if kind.name in s.kinds else "not in this campaign (CHAOS_KINDS)")
        lines.append(f"{kind.name:<26}{result.injected[kind.name]:>9}  {note}".rstrip())
    served = ", ".join(f"{'reset' if k == 0 else k} x{n}" for k, n in sorted(result.served.items()))
    lines.append(f"faulty answers the simulator served: {served or 'none'}")
    kills = Counter(r.outcome.killed_in for r in records if r.outcome.killed_in)
    missed = sum(r.outcome.kill_missed for r in records)
    lines += ["", "kills by step: " + ", ".join(f"{p} {kills[p]}" for p in PHASES) + f" (planned but missed {missed})"]
    lines += ["", f"{'entity':<12}{'expected':>10}{'loaded':>10}{'missing':>10}{'duplicated':>12}{'unknown':>9}"]
    for r in verdict.rows:
        lines.append(f"{r.entity:<12}{r.expected:>10}{r.loaded:>10}{r.missing:>10}{r.duplicated:>12}{r.unexpected:>9}")
    lines += ["", f"{'KPI table':<24}{'compared':>10}{'mismatched':>12}  first difference"]
    for m in verdict.marts:
        lines.append(f"{m.table:<24}{m.compared:>10}{m.mismatched:>12}  {m.detail}".rstrip())
    lines.append(f"{'total':<24}{sum(m.compared for m in verdict.marts):>10}"
                 f"{sum(m.mismatched for m in verdict.marts):>12}")
    lines += ["", f"serving copy: {verdict.serving_tables} tables, {verdict.serving_rows_differing} rows differ "
              f"from the marts {verdict.serving_error}".rstrip()]
    failed = failed_runs(result)
    lines.append(f"alerts: {len(failed)} failed runs, error alerts received per failed run: "
                 + (", ".join(f"{run_id[:8]} {result.alerts.get(run_id, 0)}" for run_id in failed) or "-"))
    lines += ["", "invariants:"]
    for name, ok, detail in invariants(result):
        lines.append(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail and not ok else ""))
    return "\n".join(lines)
