"""Keep runs off each other's warehouse with nothing a dead process can hold forever.

The warehouse is one DuckDB file with a single writer. Dagster's pool slots and
run queue are rows in its database: a run killed with SIGKILL (out of memory, a
reboot, a container eviction) never gives them back. What the kernel holds for
a process is given back when it dies, so the single-writer guard is here:

- `run_marker()`: each run holds `flock` on `<data>/.runs/<run id>.lock` while it
  lives; `run_is_alive()` tests it from any process, container or host that
  shares the data folder (a new container after an eviction has another host
  name and its own pids, but sees the same file).
- `ProcessIdentity`: host + pid + process start time, for the messages, and to
  decide where there is no marker: a pid alone is reused by the kernel; with its
  start time, "that process is gone" is a fact, not a guess.
- `warehouse_lock()`: `flock` on `<data>/.warehouse.lock` for the whole run. A
  second live run waits for it, says who holds it, and gives up after
  `AMOCRM_KPI_LOCK_TIMEOUT_SECONDS` (default 3600) naming that run. Then it waits
  for any other process that still has the warehouse file open (a dbt left
  running by a killed run), so two writers never meet.
- `warehouse_writes()`: the same lock for one short write phase (an account's
  load while other accounts still extract), re-entrant: a no-op when this
  process holds it already (a second flock on another fd would wait for itself).
- `remove_stale_temp_files()`: temp files that carry the pid of a dead writer.

Dagster-free; the run-level glue is in `pipelines.defs.recovery`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines import paths

log = logging.getLogger(__name__)

LOCK_NAME = ".warehouse.lock"
RUNS_DIR = ".runs"
DEFAULT_LOCK_TIMEOUT_SECONDS = 3600
_POLL_SECONDS = 1.0
_PROC = Path("/proc")
# how many warehouse locks this process holds now (flock is per open file: held by the process, not a thread)
_held = 0
_held_guard = threading.Lock()
# one writer thread at a time inside this process while it holds the flock (warehouse_writes)
_writers = threading.RLock()


class WarehouseBusy(RuntimeError):
    """The warehouse stayed in use by someone else for longer than this run may wait."""


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, None if there is none."""
    try:
        fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[19])


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells one process apart from every other, now and later (pids are reused)."""

    host: str
    pid: int
    started: str  # "<boot id>/<start ticks since boot>"; "" where /proc is missing (pid check only)
    started_at: float  # wall-clock start, for people

    @classmethod
    def current(cls) -> "ProcessIdentity":
        identity = cls.of_pid(os.getpid())
        assert identity is not None
        return identity

    @classmethod
    def of_pid(cls, pid: int) -> "ProcessIdentity | None":
        """The identity of a running process on this host; None when it is gone."""
        stat = _proc_stat(pid)
        if stat is None:  # gone, or a system without /proc, where only the pid can be checked
            return None if _PROC.is_dir() or not _pid_exists(pid) else cls(socket.gethostname(), pid, "", time.time())
        state, ticks = stat
        if state in ("Z", "X"):  # killed, only its exit status left for the parent to collect
            return None
        return cls(socket.gethostname(), pid, f"{_boot_id()}/{ticks}", _boot_time() + ticks / os.sysconf("SC_CLK_TCK"))

    def is_alive(self) -> bool | None:
        """True/False when it can be decided here; None for a process on another host."""
        if self.host != socket.gethostname():
            return None
        now = ProcessIdentity.of_pid(self.pid)
        if now is None:
            return False
        return not self.started or not now.started or now.started == self.started

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on host {self.host}, started {since}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "ProcessIdentity | None":
        try:
            data = json.loads(text or "")
            return cls(str(data["host"]), int(data["pid"]), str(data["started"]), float(data["started_at"]))
        except (ValueError, KeyError, TypeError):
            return None


def _boot_time() -> float:
    try:
        for line in (_PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def lock_timeout_seconds() -> float:
    raw = os.environ.get("AMOCRM_KPI_LOCK_TIMEOUT_SECONDS", str(DEFAULT_LOCK_TIMEOUT_SECONDS))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"AMOCRM_KPI_LOCK_TIMEOUT_SECONDS must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"AMOCRM_KPI_LOCK_TIMEOUT_SECONDS must not be negative, not {raw!r}")
    return value


@contextmanager
def warehouse_lock(holder: dict, say: Callable[[str], None] = log.info, timeout: float | None = None) -> Iterator[Path]:
    """Hold the warehouse for the block: flock first, then no other process may have the file open.

    `holder` (e.g. run id and process) is written into the lock file, so whoever waits can name it.
    """
    timeout = lock_timeout_seconds() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    lock_path = paths.data_dir() / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _flock(fd, lock_path, deadline, timeout, say)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({**holder, "since": _now()}, sort_keys=True).encode(), 0)
        os.fsync(fd)
        _wait_for_other_openers(paths.warehouse_path(), deadline, timeout, say)
        _count_held(+1)
        try:
            yield lock_path
        finally:
            _count_held(-1)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock; the kernel does the same when the process dies


def _count_held(step: int) -> None:
    global _held
    with _held_guard:
        _held += step


def holds_warehouse() -> bool:
    """Whether this process holds the warehouse lock now (a run's guard, or a write phase)."""
    return _held > 0


@contextmanager
def warehouse_writes(holder: dict, say: Callable[[str], None] = log.info, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse for one write phase (state sync, load, post-load SQL), not for a whole run.

    Several accounts extract at once, each in its own process, and take turns for these phases only.
    Re-entrant: where this process holds the lock already (the Dagster run guard, or an outer write
    phase) it only keeps this process's threads one at a time. flock belongs to the open file, so
    taking it again on a new fd would make the process wait for itself until the timeout.
    """
    with _writers:  # threads of one process: one write phase at a time, whoever holds the flock
        if holds_warehouse():
            yield
            return
        with warehouse_lock(holder, say=say, timeout=timeout):
            yield


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _flock(fd: int, lock_path: Path, deadline: float, timeout: float, say: Callable[[str], None]) -> None:
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _describe_holder(lock_path)
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"Gave up after {timeout:g} s waiting for the warehouse: {holder} still holds it "
                    f"({lock_path}). If that run is stuck, terminate it (Dagster UI -> Runs) or stop its "
                    "process, then run the job again; a run killed outright releases the lock by itself."
                ) from None
            if not told:
                say(f"Waiting for the warehouse: {holder} is using it (lock {lock_path}); "
                    f"this run waits up to {timeout:g} s (AMOCRM_KPI_LOCK_TIMEOUT_SECONDS).")
                told = True
            time.sleep(_POLL_SECONDS)


def _describe_holder(lock_path: Path) -> str:
    try:
        data = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        data = {}
    identity = ProcessIdentity.from_json(json.dumps(data.get("process"))) if data.get("process") else None
    who = f"run {data['run_id']}" if data.get("run_id") else data.get("command") or "another process"
    parts = [who,
             f"({identity.describe()})" if identity else "", f"since {data['since']}" if data.get("since") else ""]
    return " ".join(p for p in parts if p)


def _wait_for_other_openers(warehouse: Path, deadline: float, timeout: float, say: Callable[[str], None]) -> None:
    """DuckDB locks its file with fcntl record locks; wait while another process holds one."""
    told = False
    while warehouse.exists():
        pid = _conflicting_lock_pid(warehouse)
        if pid is None:
            return
        who = f"process {pid} ({_cmdline(pid) or 'command unknown'})"
        if time.monotonic() >= deadline:
            raise WarehouseBusy(
                f"Gave up after {timeout:g} s: {who} still has the warehouse {warehouse} open. If it is a "
                "dbt or Python process left running by a killed run, let it finish or stop it; if it is a "
                "tool connected to the warehouse, disconnect it (BI reads data/serving/, not the warehouse)."
            )
        if not told:
            say(f"Waiting for {who} to close the warehouse {warehouse}: a writer left by a killed run, "
                f"or a tool connected to it; this run waits up to {timeout:g} s.")
            told = True
        time.sleep(_POLL_SECONDS)


def _conflicting_lock_pid(path: Path) -> int | None:
    """Pid of another process holding a record lock on `path` that a writer would conflict with.

    Linux's `struct flock` layout; elsewhere the check is skipped and DuckDB's own
    "Could not set lock" error names the other process instead.
    """
    if not sys.platform.startswith("linux"):
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, probe + b"\0" * 16)
        l_type, _, _, _, pid = struct.unpack("hhqqi", answer[: struct.calcsize("hhqqi")])
        return None if l_type == fcntl.F_UNLCK else pid
    finally:
        os.close(fd)


def _cmdline(pid: int) -> str:
    try:
        return " ".join((_PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split())[:200]
    except OSError:
        return ""


def _marker_path(run_id: str) -> Path:
    return paths.data_dir() / RUNS_DIR / f"{run_id}.lock"


@contextmanager
def run_marker(run_id: str) -> Iterator[None]:
    """Hold the run's marker while the block runs; the kernel lets go of it when the process dies."""
    path = _marker_path(run_id)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new run id: nobody else holds it
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def run_is_alive(run_id: str) -> bool | None:
    """Whether the run's process still holds its marker; None when the run has none (not guarded, or ended)."""
    try:
        fd = os.open(_marker_path(run_id), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def forget_run(run_id: str) -> None:
    """Remove the marker a dead run left."""
    _marker_path(run_id).unlink(missing_ok=True)


def remove_dead_markers() -> list[str]:
    """Remove markers nobody holds (runs that died and were failed by other means); return their run ids."""
    folder = paths.data_dir() / RUNS_DIR
    dead = [path.stem for path in folder.glob("*.lock")] if folder.is_dir() else []
    dead = [run_id for run_id in dead if run_is_alive(run_id) is False]
    for run_id in dead:
        forget_run(run_id)
    return dead


def temp_name(target: Path) -> Path:
    """Where a writer builds `target` before renaming it into place: `.<name>.<pid>.tmp`."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove temp files of `target` (and their DuckDB `.wal`) left by writers that no longer run."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.tmp(\.wal)?$")
    removed = []
    if not target.parent.is_dir():
        return removed
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and ProcessIdentity.of_pid(int(match.group(1))) is None:
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.warning("removed %d temp file(s) left by a killed writer: %s", len(removed), [p.name for p in removed])
    return removed
