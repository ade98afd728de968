"""The OAuth2 token store: one JSON file, replaced atomically, readable by its owner only.

A record holds the current pair and where it came from:

- `access_token`, `refresh_token`, `expires_at`: the live pair.
- `seed`: fingerprint of the `refresh_token` configured when this lineage began
  (or was re-authorised), so a configured token that the store supersedes is
  never spent again.
- `refresh_started_at`: set just before the refresh token is sent and cleared
  when the answer is saved. Found set by the lock holder, it means a refresh
  went out and its answer was lost (timeout, dropped connection, killed
  process): the refresh token may have been rotated already.

Beside it, `<store>.superseded` lists the fingerprints of configured refresh
tokens that were spent or superseded by `authorize`: it outlives a deleted
store, so a dead configured token is not sent again even then.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from pipelines.amocrm.client import AmoAuthError

AUTHORIZE_COMMAND = "python -m pipelines.amocrm authorize --code <authorization code>"
RECOVERY_HINT = f"re-authorise: {AUTHORIZE_COMMAND}"


def fingerprint(token: str | None) -> str | None:
    """A short hash naming a configured refresh token without storing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:16] if token else None


class TokenStore:
    """A JSON file holding the current pair, replaced atomically, readable by its owner only."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The stored record; None when there is no store; AmoAuthError when it cannot be trusted."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("refresh_token"), str) or not data["refresh_token"]:
            raise AmoAuthError(f"token store {self.path} is corrupt; {RECOVERY_HINT}")
        return data

    def save(self, tokens: dict[str, Any], seed: str | None) -> dict[str, Any]:
        """Store a pair just received (clears a refresh-in-flight mark)."""
        record = {k: tokens[k] for k in ("access_token", "refresh_token", "expires_at")}
        return self._write({**record, "seed": seed, "saved_at": int(time.time())})

    def mark_refresh_started(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """Written before the refresh token leaves: a lost answer is then known as such, even after a crash."""
        return self._write({**tokens, "refresh_started_at": int(time.time())})

    def clear_refresh_mark(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """The refresh was refused or never left: the pair is as it was, nothing is in doubt."""
        return self._write({k: v for k, v in tokens.items() if k != "refresh_started_at"})

    @property
    def _superseded_path(self) -> Path:
        return self.path.with_name(self.path.name + ".superseded")

    def superseded(self) -> set[str]:
        """Fingerprints of configured refresh tokens that must never be sent again."""
        try:
            return set(self._superseded_path.read_text().split())
        except FileNotFoundError:
            return set()

    def supersede(self, seed: str | None) -> None:
        """Remember a configured refresh token as spent (called before it is sent)."""
        if not seed or seed in self.superseded():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._superseded_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, f"{seed}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def move_aside(self) -> Path | None:
        """Rename an unreadable store out of the way (kept for inspection, never deleted)."""
        if not self.path.exists():
            return None
        target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
        os.replace(self.path, target)
        return target

    def _write(self, record: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".amocrm_tokens.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return record

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock across processes, held while the store is read for use or a token is spent."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
