"""``Journal``: one SQLite database (WAL mode) per clip, plus its files.

Layout of a project folder (``root/<clip-stem>-<sha256[:8]>/``)::

    journal.sqlite3     the database (and its -wal / -shm while open)
    journal.lock        owner lock: pid and host of the writing process
    images/<sha256>.<ext>   reference images sent with tasks
    results/<kind>-<external_task_id>.mp4   downloaded results

The tables are read and written by two mixins (``selection_rows``: sessions, selection
operations, images; ``task_rows``: tasks, status history, downloads) over one
:class:`~kling_widget.journal.database.Database`. The owner lock refuses a second
*writing* process with a clear message (readers are always welcome).

Imports the journal's own modules only (recovery one way: this module calls it).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from kling_widget.journal.database import Database, check_header
from kling_widget.journal.errors import JournalError
from kling_widget.journal.files import (
    DEFAULT_ROOT,
    JOURNAL_NAME,
    LOCK_NAME,
    file_sha256,
    journal_file,
    project_folder,
)
from kling_widget.journal.lock import OwnerLock
from kling_widget.journal.records import ClipRecord, RecoveryReport
from kling_widget.journal.recover import recover_journal
from kling_widget.journal.selection_rows import SelectionRows
from kling_widget.journal.task_rows import TaskRows


class Journal(SelectionRows, TaskRows):
    """The durable record of one clip's project.

    ``Journal(path)`` opens (or creates) ``path`` (a ``journal.sqlite3`` file or
    the folder holding it) for writing; ``read_only=True`` opens an existing journal
    without taking the owner lock. Raises :class:`JournalCorruptError` for a damaged
    file and :class:`JournalLockedError` when another process is writing.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True) -> None:
        p = journal_file(path)
        self.path = p
        self.folder = p.parent
        self.read_only = read_only
        self._lock: OwnerLock | None = None
        self._db: Database | None = None
        if not p.exists() and (read_only or not create):
            raise FileNotFoundError(f"no journal at {p}")
        try:
            if not read_only:
                self.folder.mkdir(parents=True, exist_ok=True)
                if p.exists():
                    check_header(p)  # a foreign or empty file is refused before locking
                self._lock = OwnerLock(self.folder / LOCK_NAME, p)
            self._db = Database(p, read_only=read_only)
        except BaseException:
            self.close()
            raise

    @property
    def db(self) -> Database:
        """The open database (raises once the journal is closed)."""
        if self._db is None:
            raise JournalError(f"journal {self.path} is closed")
        return self._db

    # --- opening -----------------------------------------------------------
    @classmethod
    def for_clip(
        cls,
        clip: str | Path,
        root: str | Path = DEFAULT_ROOT,
        *,
        fingerprint: str | None = None,
        read_only: bool = False,
    ) -> Journal:
        """Open (or create) the journal of ``clip`` under ``root`` and record the clip.

        ``read_only`` opens an existing journal without recording anything (raises
        ``FileNotFoundError`` when the clip has none yet).
        """
        size = Path(clip).stat().st_size
        if fingerprint is None:
            fingerprint, size = file_sha256(clip)
        folder = project_folder(clip, fingerprint, root)
        if not (folder / JOURNAL_NAME).exists():
            # Same content under another name (a renamed or copied clip): same project.
            folder = _renamed_project(Path(root), fingerprint) or folder
        journal = cls(folder / JOURNAL_NAME, read_only=read_only)
        if read_only:
            return journal
        try:
            journal.set_clip(clip, fingerprint, size)
        except BaseException:
            journal.close()
            raise
        return journal

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        row = self.db.query("SELECT MAX(version) FROM schema_version")
        return int(row[0][0] or 0)

    def close(self) -> None:
        """Close the database and release the owner lock (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writer"
        return f"Journal({str(self.path)!r}, {mode})"

    # --- clip --------------------------------------------------------------
    def set_clip(self, path: str | Path, fingerprint: str, size: int) -> None:
        """Record the clip (its last known path is updated, the fingerprint never changes)."""
        with self.db.write() as c:
            row = c.execute("SELECT fingerprint FROM clip WHERE id = 1").fetchone()
            if row is None:
                c.execute(
                    "INSERT INTO clip (id, path, fingerprint, size, created_at) "
                    "VALUES (1, ?, ?, ?, ?)",
                    (str(Path(path).resolve()), fingerprint, size, time.time()),
                )
            elif row[0] != fingerprint:
                raise JournalError(
                    f"journal {self.path} belongs to a clip with sha256 {row[0][:12]}…, "
                    f"not {fingerprint[:12]}…"
                )
            else:
                c.execute("UPDATE clip SET path = ? WHERE id = 1", (str(Path(path).resolve()),))

    def clip(self) -> ClipRecord | None:
        """The recorded clip, if any."""
        rows = self.db.query("SELECT path, fingerprint, size, created_at FROM clip WHERE id = 1")
        return ClipRecord(*rows[0]) if rows else None

    # --- recovery ----------------------------------------------------------
    @staticmethod
    def recover(path: str | Path) -> RecoveryReport:
        """Move a damaged journal aside (``*.corrupt-<timestamp>``) and rebuild what it can.

        Every row that can still be read is copied into a fresh journal at the same
        path; the damaged file (and its -wal/-shm) is kept for inspection.
        """
        return recover_journal(Path(path))


def _renamed_project(root: Path, fingerprint: str) -> Path | None:
    """An existing project folder in ``root`` whose journal records this fingerprint."""
    if not root.is_dir():
        return None
    for folder in sorted(root.glob(f"*-{fingerprint[:8]}")):
        path = folder / JOURNAL_NAME
        if not path.is_file():
            continue
        try:
            with Journal(path, read_only=True) as other:
                record = other.clip()
        except (JournalError, sqlite3.Error, OSError):
            continue  # a damaged one is reported when it is opened by its own name
        if record is not None and record.fingerprint == fingerprint:
            return folder
    return None


__all__ = ["Journal"]
