"""One daily run as the scheduler's command line starts it, and a SIGKILL at a chosen point.

The run is `dagster job execute -m pipelines.definitions -j amocrm_daily` in its
own session (process group), so one `killpg` takes the job and its children
(dbt) down at once, as an OOM kill or a reboot would. The harness follows the
run's console log line by line to know which step is running; the dlt load
phase inside the extract step is seen as a normalized load package waiting in
the pipeline folder.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

PHASES = ("extract", "load", "checks", "dbt", "publish", "report")
_STEP_PHASE = {"amocrm_extract": "extract", "user_inputs": "load", "amocrm_dbt_models": "dbt",
               "serving_copy": "publish", "kpi_report": "report"}  # every other step is a Python check
# How long after a phase starts the kill may fall (seconds): about the phase's length on a small account.
KILL_WINDOW = {"extract": 4.0, "load": 0.3, "checks": 6.0, "dbt": 25.0, "publish": 0.3, "report": 0.5}
_EVENT = re.compile(r" - amocrm_daily - ([0-9a-f-]{36}) - \d+ - (?:(\S+) - )?([A-Z_]+) - ")
BLOCKED_MARK = "blocked by limit for pool"


def phase_of(step: str) -> str:
    return _STEP_PHASE.get(step, "checks")


@dataclass(frozen=True)
class KillPlan:
    phase: str
    delay: float  # seconds after the phase starts


@dataclass
class RunOutcome:
    """What happened to one run, as the harness saw it from outside."""

    returncode: int | None = None
    run_id: str | None = None
    killed_in: str | None = None  # the phase running when SIGKILL was sent
    kill_missed: bool = False  # planned kill, but the run ended before its phase came
    blocked: bool = False  # waited on a pool slot nobody will free (killed after a grace period)
    timed_out: bool = False
    seconds: float = 0.0
    failed_steps: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


class DailyRun:
    """Start the job, follow its steps, kill it when the plan says, wait for it to end."""

    def __init__(self, env: dict[str, str], data_dir: Path, log_path: Path, *, kill: KillPlan | None = None,
                 timeout: float = 900.0, blocked_grace: float = 20.0):
        self.env, self.data_dir, self.log_path = env, data_dir, log_path
        self.kill, self.timeout, self.blocked_grace = kill, timeout, blocked_grace
        self.outcome = RunOutcome()
        self._phase: str | None = None
        self._phase_started = 0.0
        self._blocked_since: float | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._lock = threading.Lock()

    def run(self) -> RunOutcome:
        started = time.monotonic()
        command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions",
                   "-j", "amocrm_daily"]
        with open(self.log_path, "w", encoding="utf-8", buffering=1) as log:
            process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, start_new_session=True)
            reader = threading.Thread(target=self._follow, args=(process, log), daemon=True)
            reader.start()
            try:
                while process.poll() is None:
                    if self._should_kill() or self._hopeless(started):
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
                        break
                    time.sleep(0.05)
            except BaseException:  # Ctrl-C or a harness error: never leave a job running on its own
                os.killpg(process.pid, signal.SIGKILL)
                raise
            reader.join(timeout=10)
        self.outcome.returncode = process.returncode
        self.outcome.kill_missed = self.kill is not None and self.outcome.killed_in is None and not (
            self.outcome.blocked or self.outcome.timed_out)
        self.outcome.seconds = time.monotonic() - started
        self.outcome.tail = list(self._tail)
        return self.outcome

    def _follow(self, process: subprocess.Popen, log) -> None:
        for line in process.stdout:
            log.write(line)
            with self._lock:
                self._tail.append(line.rstrip()[:300])
                match = _EVENT.search(line)
                if match:
                    run_id, step, event = match.groups()
                    self.outcome.run_id = self.outcome.run_id or run_id
                    if event == "STEP_START" and step:
                        self._enter(phase_of(step))
                        self._blocked_since = None  # a step got its slot: the run moves again
                    elif event == "STEP_FAILURE" and step:
                        self.outcome.failed_steps.append(step)
                if BLOCKED_MARK in line and self._blocked_since is None:
                    self._blocked_since = time.monotonic()

    def _enter(self, phase: str) -> None:
        if phase != self._phase:
            self._phase, self._phase_started = phase, time.monotonic()

    def _current_phase(self) -> str | None:
        """The step's phase; inside the extract step, "load" once dlt has a normalized package to load."""
        with self._lock:
            if self._phase == "extract" and self._loading():
                self._enter("load")
            return self._phase

    def _loading(self) -> bool:
        normalized = self.data_dir / ".dlt" / "amocrm" / "load" / "normalized"
        return normalized.is_dir() and any(normalized.iterdir())

    def _should_kill(self) -> bool:
        if self.kill is None or self.outcome.killed_in:
            return False
        phase = self._current_phase()
        if phase == self.kill.phase and time.monotonic() - self._phase_started >= self.kill.delay:
            self.outcome.killed_in = phase
            return True
        if phase is not None and PHASES.index(phase) > PHASES.index(self.kill.phase):
            # the planned phase passed too fast to catch: kill in the one running now, and say so
            self.outcome.killed_in = phase
            return True
        return False

    def _hopeless(self, started: float) -> bool:
        now = time.monotonic()
        if self._blocked_since is not None and now - self._blocked_since > self.blocked_grace:
            self.outcome.blocked = True
            return True
        if now - started > self.timeout:
            self.outcome.timed_out = True
            return True
        return False
