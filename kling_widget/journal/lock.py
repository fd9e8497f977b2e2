"""Advisory owner lock: one writing process per journal.

An OS-level lock (``flock`` on POSIX) is held on ``journal.lock`` while the
journal is open for writing, so the lock disappears with its process, even on
SIGKILL: no stale-lock clean-up is ever needed. The file also carries the
owner's pid and host so a refused second writer can say who holds it.
Within one process, writers on the same journal share the lock (a notebook
that re-runs ``Editor(clip)`` must not lock itself out).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from kling_widget.journal.errors import JournalLockedError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_registry_lock = threading.Lock()
# resolved lock path -> [fd, holders]
_held: dict[str, list[int]] = {}


def _read_owner(path: Path) -> tuple[int | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None, None
    pid = data.get("pid")
    host = data.get("host")
    return (pid if isinstance(pid, int) else None), (host if isinstance(host, str) else None)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OwnerLock:
    """The write lock of one journal; ``release()`` when the journal closes."""

    def __init__(self, path: Path, journal_path: Path) -> None:
        self.path = path
        self._journal_path = journal_path
        self._key = str(path.resolve())
        self._released = False
        with _registry_lock:
            held = _held.get(self._key)
            if held is not None:
                held[1] += 1
                return
            fd = self._acquire()
            _held[self._key] = [fd, 1]

    def _acquire(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    pid, host = _read_owner(self.path)
                    raise JournalLockedError(self._journal_path, pid, host) from None
            else:  # pragma: no cover - no flock: trust the recorded pid on this host
                pid, host = _read_owner(self.path)
                if pid is not None and host == socket.gethostname() and _pid_alive(pid):
                    raise JournalLockedError(self._journal_path, pid, host)
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(owner).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        """Give the lock up (idempotent); the last holder in this process unlocks."""
        if self._released:
            return
        self._released = True
        with _registry_lock:
            held = _held.get(self._key)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del _held[self._key]
            fd = held[0]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock
