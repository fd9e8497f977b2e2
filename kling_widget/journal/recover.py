"""Rebuilding a damaged journal: keep the bad file, copy every readable row."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

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


def recover_journal(path: Path) -> RecoveryReport:
    """Implementation of :meth:`Journal.recover` (see there)."""
    from kling_widget.journal.store import JOURNAL_NAME, Journal

    if path.is_dir() or path.suffix != ".sqlite3":
        path = path / JOURNAL_NAME
    if not path.exists():
        raise FileNotFoundError(f"no journal at {path}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved: list[Path] = []
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            target = Path(f"{path}{suffix}.corrupt-{stamp}")
            os.replace(part, target)
            moved.append(target)
    damaged = moved[0]
    # Work on the kept copy read-only, so the evidence is never changed.
    rows: dict[str, int] = {}
    lost: list[str] = []
    fresh = Journal(path)
    try:
        try:
            src = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.DatabaseError:
            src = None
        dst = fresh._conn
        with fresh._mutex:
            dst.execute("PRAGMA foreign_keys = OFF")
            dst.execute("BEGIN IMMEDIATE")
            for table in TABLES:
                n = None if src is None else _copy_rows(src, dst, table)
                if n is None:
                    lost.append(table)
                else:
                    rows[table] = n
            dst.execute("COMMIT")
            dst.execute("PRAGMA foreign_keys = ON")
        if src is not None:
            src.close()
    finally:
        fresh.close()
    return RecoveryReport(path=path, moved_to=moved, rows_recovered=rows, tables_lost=lost)
