"""Rebuilding a damaged journal: keep the bad file, copy every readable row.

Builds the fresh journal through :class:`~kling_widget.journal.database.Database` under
the owner lock; imports the journal's database, files, lock, records and schema, never
the store (which calls this module).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import tempfile
import time
from pathlib import Path

from kling_widget.journal.database import Database
from kling_widget.journal.files import LOCK_NAME, journal_file
from kling_widget.journal.lock import OwnerLock
from kling_widget.journal.records import RecoveryReport
from kling_widget.journal.schema import TABLES


def _copy_rows(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> int | None:
    """Copy what can be read of one table; None when nothing of it is readable."""
    try:
        cols = [r[1] for r in dst.execute(f"PRAGMA table_info({table})")]
        src_cols = {r[1] for r in src.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return None
    shared = [c for c in cols if c in src_cols]
    if not shared:
        return None
    names = ", ".join(shared)
    marks = ", ".join("?" * len(shared))
    copied = 0
    try:
        cursor = src.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.DatabaseError:
                break  # the rest of this table sits on damaged pages
            if row is None:
                break
            try:
                dst.execute(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})", row)
                copied += 1
            except sqlite3.DatabaseError:
                continue  # e.g. a row whose parent was lost: skip it, keep going
    except sqlite3.DatabaseError:
        return copied or None
    return copied


def _readable_copy(damaged: Path, scratch: Path) -> Path:
    """Copy the damaged file; pad a truncated one back to the size its header claims.

    SQLite refuses a file shorter than its header's page count; padded with zero pages,
    the tables whose pages survived can be read again and the lost ones fail alone.
    """
    shutil.copyfile(damaged, scratch)
    wal = Path(f"{damaged}".replace(".sqlite3.corrupt-", ".sqlite3-wal.corrupt-"))
    if wal.is_file():  # committed rows not yet checkpointed live in the WAL
        shutil.copyfile(wal, Path(f"{scratch}-wal"))
    with open(scratch, "r+b") as f:
        head = f.read(100)
        if len(head) == 100 and head.startswith(b"SQLite format 3\x00"):
            page_size = struct.unpack(">H", head[16:18])[0]
            page_size = 65536 if page_size == 1 else page_size
            pages = struct.unpack(">I", head[28:32])[0]
            size = f.seek(0, os.SEEK_END)
            if page_size and pages and size < pages * page_size:
                f.truncate(pages * page_size)
    return scratch


def recover_journal(path: Path) -> RecoveryReport:
    """Implementation of :meth:`Journal.recover <kling_widget.journal.Journal.recover>`."""
    path = journal_file(path)
    if not path.exists():
        raise FileNotFoundError(f"no journal at {path}")
    # Hold the owner lock throughout: nobody may be writing a file we move aside.
    lock = OwnerLock(path.parent / LOCK_NAME, path)
    try:
        return _recover_locked(path)
    finally:
        lock.release()


def _recover_locked(path: Path) -> RecoveryReport:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved: list[Path] = []
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            target = Path(f"{path}{suffix}.corrupt-{stamp}")
            os.replace(part, target)
            moved.append(target)
    damaged = moved[0]
    # Read from a scratch copy, so the evidence is never changed.
    rows: dict[str, int] = {}
    lost: list[str] = []
    fresh = Database(path)
    scratch_dir = tempfile.TemporaryDirectory(prefix="kling-recover-")
    try:
        scratch = _readable_copy(damaged, Path(scratch_dir.name) / "damaged.sqlite3")
        try:
            src: sqlite3.Connection | None = sqlite3.connect(
                f"{scratch.resolve().as_uri()}?mode=ro", uri=True
            )
        except sqlite3.DatabaseError:
            src = None
        with fresh.write(foreign_keys=False) as dst:
            for table in TABLES:
                n = None if src is None else _copy_rows(src, dst, table)
                if n is None:
                    lost.append(table)
                else:
                    rows[table] = n
        if src is not None:
            src.close()
    finally:
        fresh.close()
        scratch_dir.cleanup()
    return RecoveryReport(path=path, moved_to=moved, rows_recovered=rows, tables_lost=lost)
