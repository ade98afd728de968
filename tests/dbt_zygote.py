"""`dbt <args>` for the tests without paying dbt's imports each time: a process that imported dbt once
forks a child per call, and the child runs dbt as the daily build starts it: pipelines/dbt_launcher.py,
dbt's own command line without the costs the launcher takes out (about a third of the CPU of a small
account's build), so the tests also run the entry point production runs.

Why: a `dbt` subprocess spends about 3 s of its 5 s of CPU importing dbt and its adapter, and the suite
calls dbt about a hundred times on a 2-core CI machine. The child is a fresh fork of a process that never
ran dbt nor opened a database (no state leaks from one call to the next) and gets its own working
folder, environment (TZ: the session timezone of the tests), stdout and stderr files, exit code: what
`subprocess.run([dbt, ...])` gives. tests/conftest.py's `run_dbt` uses it; if it cannot start, `run_dbt`
says so (a warning) and runs dbt as a subprocess.

Protocol: one JSON request a line on stdin ({"args", "cwd", "env", "out", "err"}), one JSON answer a line
on stdout ({"returncode"}).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


LAUNCHER = Path(__file__).resolve().parent.parent / "pipelines" / "dbt_launcher.py"


def _load_launcher() -> Any:
    """pipelines/dbt_launcher.py as a module (it imports nothing of the project, as when run by path)."""
    spec = importlib.util.spec_from_file_location("dbt_launcher", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child(request: dict[str, Any], launcher: Any) -> None:
    """In the forked child: become `dbt <args>` run in `cwd` with `env`, then exit with its code."""
    code = 2
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import time

        time.tzset()
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdin = open(os.devnull)
        sys.argv = [str(LAUNCHER), *request["args"]]
        # closes the warehouse (DuckDB checkpoints: a test copying warehouse.duckdb alone gets every write),
        # flushes stdout, stderr and dbt.log, and ends the child with dbt's exit code
        launcher.main(request["args"])
    except BaseException:  # noqa: BLE001 - told on stderr, exit code 2 as dbt's own errors
        import traceback

        traceback.print_exc()
    raise SystemExit(code)


def serve() -> None:
    """The zygote: import dbt and the launcher, then fork a child per request line, answering with its exit code.
    (dbt's serializers are compiled here, once, not on first use in each child as the launcher has them.)"""
    import dbt.adapters.duckdb  # noqa: F401 - the adapter's imports, paid once
    import dbt.cli.main  # noqa: F401

    launcher = _load_launcher()

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, launcher)  # never returns: the child exits (SystemExit through this loop)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


class Zygote:
    """The pytest process's handle on one zygote (started on first use, one per xdist worker)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                # -P: not the tests folder on sys.path (its dbt/ would join the `dbt` namespace package)
                # its own process group, which its children join: a timeout kills the dbt child too
                self._process = subprocess.Popen([sys.executable, "-P", __file__], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, text=True, env=env,
                                                 start_new_session=True)
            out, err = (Path(tempfile.mkstemp(prefix=f"dbt_{name}_")[1]) for name in ("stdout", "stderr"))
            request = {"args": args, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err)}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = _readline(self._process, timeout)
            if not answer:
                raise RuntimeError(f"the dbt zygote died (exit code {self._process.poll()})")
            code = json.loads(answer)["returncode"]
            stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
            out.unlink()
            err.unlink()
            return subprocess.CompletedProcess(["dbt", *args], code, stdout, stderr)

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=30)


def _readline(process: subprocess.Popen, timeout: float) -> str:
    """A line of the zygote's answer; on timeout the zygote and the dbt child it forked (its process
    group: a child left running would keep the warehouse's lock) are killed: TimeoutExpired."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        os.killpg(process.pid, signal.SIGKILL)
        raise subprocess.TimeoutExpired(["dbt"], timeout)
    return box[0]


if __name__ == "__main__":
    serve()
