"""`make chaos` / `python -m chaos`: run a campaign, print its table, exit 1 if an invariant fails.

Settings from the environment: CHAOS_RUNS (default 12, the last one clean), CHAOS_SEED (1),
CHAOS_LEADS (200), CHAOS_KINDS (comma-separated fault kinds, default all: see chaos/faults.py), CHAOS_KILL_EVERY (2: every second faulted run is SIGKILLed),
CHAOS_DIR (/tmp/amocrm-kpi-chaos: run logs, Dagster home and data folder, kept for a look).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from chaos.campaign import Settings, run_campaign
from chaos.table import passed, render


def main() -> int:
    env = os.environ.get
    settings = Settings(runs=int(env("CHAOS_RUNS", "12")), seed=int(env("CHAOS_SEED", "1")),
                        leads=int(env("CHAOS_LEADS", "200")), kill_every=int(env("CHAOS_KILL_EVERY", "2")),
                        kinds=tuple(k.strip() for k in env("CHAOS_KINDS", "").split(",") if k.strip())
                        or Settings.kinds,
                        work_dir=Path(env("CHAOS_DIR", "/tmp/amocrm-kpi-chaos")),
                        log=lambda line: print(line, flush=True))
    if settings.runs < 2:
        print("CHAOS_RUNS must be at least 2 (faulted runs, then one clean run)", file=sys.stderr)
        return 2
    result = run_campaign(settings)
    print()
    print(render(result))
    print(f"\nrun logs, Dagster home and data folder: {settings.work_dir}")
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
