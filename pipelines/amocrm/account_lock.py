"""One extraction per account at a time, across processes: `<data>/.accounts/<key>.lock`.

Two processes reading the same account at once (`--account a` twice, or the CLI beside a Dagster run)
would each pace themselves at 7 requests/s, so amoCRM would get 14 (and block the account), and both
would advance the same cursors. Different accounts never block each other: one lock file per key.

The lock is a kernel `flock`, so it dies with its process (a killed run never holds it). A second
extraction does not wait: it fails at once with `AccountBusy`, naming the account and who holds it.
Dagster-free, like `pipelines.runguard` (whose warehouse lock this sits beside, not inside).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pipelines import paths
from pipelines.runguard import ProcessIdentity

LOCKS_DIR = ".accounts"


class AccountBusy(RuntimeError):
    """Another live process is extracting this account."""


def lock_path(key: str) -> Path:
    return paths.data_dir() / LOCKS_DIR / f"{key}.lock"


@contextmanager
def holding(key: str, holder: dict | None = None, doing: str = "extraction") -> Iterator[Path]:
    """Hold account `key`'s extraction lock for the block, or raise `AccountBusy` at once.

    `holder` (say `{"run_id": ...}`) is written into the lock file with this process's identity and
    command line, so the process that is turned away can say who has the account. `doing` names what the
    turned-away process is (an extraction, or the id reconciliation, which reads amoCRM at the same rate)."""
    path = lock_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AccountBusy(
                f"amoCRM account '{key}' is being extracted already, by {describe_holder(path)}; this {doing} "
                f"did not start and changed nothing. Two readers of one account would send amoCRM twice its "
                f"7 requests/s (it blocks accounts for that) and race on its cursors. Let that one finish "
                f"(or stop it: a stopped or killed process releases {path} by itself), then run again."
            ) from None
        record = {**(holder or {}), "account": key, "command": (holder or {}).get("command") or _command(),
                  "process": json.loads(ProcessIdentity.current().to_json()), "since": _now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record, sort_keys=True).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock; the kernel does the same when the process dies


def describe_holder(path: Path) -> str:
    """`run <id> (pid N on host H, started ...) since ...: <command>`, from what the holder wrote."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        data = {}
    identity = ProcessIdentity.from_json(json.dumps(data["process"])) if data.get("process") else None
    parts = [f"run {data['run_id']}" if data.get("run_id") else "another process",
             f"({identity.describe()})" if identity else "",
             f"since {data['since']}" if data.get("since") else "",
             f"[{data['command']}]" if data.get("command") else ""]
    return " ".join(p for p in parts if p)


def _command() -> str:
    return " ".join(["python", *sys.argv])[:200]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
