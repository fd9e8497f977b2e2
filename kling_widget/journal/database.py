"""``Database``: one journal's SQLite connection, its checks, migrations and transactions.

Writes run in ``BEGIN IMMEDIATE`` transactions with a busy timeout behind one mutex, so
two threads or two connections never interleave half-written state. A file that is not a
kling-widget journal, or is damaged, raises :class:`JournalCorruptError` before anything
is written to it (a silent reset is exactly what the checks exist to prevent).

Imports only the journal's errors, schema and files; the store and the recovery use it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from kling_widget.journal.errors import (
    JournalCorruptError,
    JournalError,
    JournalReadOnlyError,
)
from kling_widget.journal.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 10_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
# SQL parameters: what the sqlite3 module binds.
SqlValue = str | int | float | bytes | None


class Database:
    """An open journal database; ``read_only`` opens an existing file without writing.

    ``existed`` says whether the file was there before (a new one gets the schema).
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.existed = path.exists()
        if self.existed:
            check_header(path)
        self._conn = self._connect()
        try:
            self._check_integrity()
            if not read_only:
                # Only now, once the file is known to be ours: WAL rewrites the header.
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = FULL")
                self._migrate()
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        # Autocommit mode: every write goes through write()'s BEGIN IMMEDIATE.
        conn.isolation_level = None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalCorruptError(self.path, str(exc)) from exc
        return conn

    def _check_integrity(self) -> None:
        if not self.existed:
            return
        conn = self._live()
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            problems = [r[0] for r in rows if r[0] != "ok"]
            if problems:
                raise JournalCorruptError(self.path, "; ".join(problems[:3]))
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(self.path, str(exc)) from exc
        if app_id != APPLICATION_ID or "schema_version" not in tables:
            raise JournalCorruptError(self.path, "no kling-widget schema in this database")

    def _migrate(self) -> None:
        with self.write() as c:
            if not self.existed:
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                c.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER NOT NULL, applied_at REAL NOT NULL)"
                )
            version = c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {version}, newer than this "
                    f"kling-widget understands ({SCHEMA_VERSION}); upgrade kling-widget"
                )
            for v in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[v]):
                    c.execute(statement)
                c.execute("INSERT INTO schema_version VALUES (?, ?)", (v + 1, time.time()))

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"journal {self.path} is closed")
        return self._conn

    # --- transactions ------------------------------------------------------
    @contextlib.contextmanager
    def write(self, *, foreign_keys: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed on success, rolled back on error.

        ``foreign_keys=False`` is for copying rows whose parents may have been lost.
        """
        if self.read_only:
            raise JournalReadOnlyError(self.path)
        with self._mutex:
            conn = self._live()
            if not foreign_keys:
                conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                if not foreign_keys:
                    conn.execute("PRAGMA foreign_keys = ON")

    def query(self, sql: str, args: Sequence[SqlValue] = ()) -> list[sqlite3.Row]:
        """Run one read and return every row."""
        with self._mutex:
            return self._live().execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._conn is None


def check_header(path: Path) -> None:
    """Raise :class:`JournalCorruptError` unless ``path`` starts like an SQLite database.

    A 0-byte or truncated header would otherwise open as an empty database.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise JournalCorruptError(path, f"cannot read: {exc}") from exc
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        what = "empty file" if not head else f"{len(head)}-byte header"
        if head and not head.startswith(_SQLITE_MAGIC):
            what = "not an SQLite file"
        raise JournalCorruptError(path, what)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = ["BUSY_TIMEOUT_MS", "Database", "SqlValue", "check_header"]
