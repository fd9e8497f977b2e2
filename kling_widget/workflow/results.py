"""Result files of a project: downloaded once, verified, journaled, copied out atomically.

A result lands in the project folder as ``results/<kind>-<external_task_id>.mp4`` (the
journal's own name, never one taken from the server); the journal records its SHA-256
only once the whole file is on disk with the length the server announced. A copy to a
user's path goes through a temporary sibling that never outlives a failure (a full disk
leaves nothing behind). Imports the journal and the one downloader; nothing above.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

from kling_widget import transfer
from kling_widget.journal import TaskRecord
from kling_widget.workflow.context import ProjectContext

_shared_lock = threading.Lock()
_shared: httpx.Client | None = None


def _http() -> httpx.Client:
    """One HTTP client for every result download of the process: a client per download
    would load the CA bundle each time (tens of ms of CPU; a batch downloads hundreds)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = transfer.make_http_client()
            atexit.register(_shared.close)
        return _shared


def verified(record: TaskRecord) -> Path | None:
    """The task's first result still on disk with its recorded size, if any."""
    return record.result_path


def copy_atomically(src: Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` through ``dest.<pid>.tmp``; the temporary never stays."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


class Results:
    """Downloads of one project's results (one at a time per task)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self.ctx = ctx
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock_for(self, ext: str) -> threading.Lock:
        # The editor's worker and resume() may race for one task; selection calls are not
        # blocked meanwhile (they take the context's lock, not this one).
        with self._guard:
            return self._locks.setdefault(ext, threading.Lock())

    def fetch(self, record: TaskRecord, urls: Sequence[str]) -> Path:
        """Download every result URL of a task into the project (once); returns the first."""
        ext = record.external_task_id
        with self._lock_for(ext):
            fresh = self.ctx.journal.task(ext) or record
            have = verified(fresh)
            if have is not None:
                return have
            self.ctx.require_writable("download a result")
            first: Path | None = None
            for i, url in enumerate(urls):
                suffix = "" if i == 0 else f"-{i + 1}"
                dest = self.ctx.folder / "results" / f"{record.kind}-{ext}{suffix}.mp4"
                self.ctx.status(f"downloading the result of {record.task_id or ext}")
                # The downloader renames a file into place only once its length matches
                # the server's total; the journal re-checks the length on disk.
                got = transfer.download(url, dest, client=_http())
                self.ctx.journal.add_download(ext, url, got.path, got.size, got.sha256)
                first = first or got.path
            if first is None:
                raise FileNotFoundError(f"task {ext} has no result URL")
            self.ctx.status(f"result saved to {first}")
            return first


__all__ = ["Results", "copy_atomically", "verified"]
