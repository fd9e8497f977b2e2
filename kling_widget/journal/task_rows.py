"""The journal's task tables: tasks, their status history and their verified downloads.

A mixin of :class:`kling_widget.journal.Journal`; it reads and writes through the
journal's :class:`~kling_widget.journal.database.Database`. Imports only the journal's
database, errors, records and the JSON helpers of ``selection_rows``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kling_widget.journal.database import Database, SqlValue
from kling_widget.journal.errors import JournalError
from kling_widget.journal.records import CREATING, DownloadRecord, StatusChange, TaskRecord
from kling_widget.journal.selection_rows import dumps, loads

_TASK_FIELDS = frozenset(
    {
        "task_id",
        "status",
        "status_msg",
        "error",
        "params",
        "session_id",
        "server_created_at",
        "result_urls",
        "expires_at",
        "raw",
    }
)
_JSON_FIELDS = ("params", "result_urls", "raw")


class TaskRows:
    """Tasks, status history and downloads of one journal."""

    folder: Path

    @property
    def db(self) -> Database:
        """The journal's open database."""
        raise NotImplementedError

    path: Path

    def add_task(
        self,
        external_task_id: str,
        kind: str,
        params: dict[str, Any],
        *,
        session_id: str | None = None,
        status: str = CREATING,
    ) -> None:
        """Write a task row (status ``creating``) *before* its create request is sent."""
        now = time.time()
        with self.db.write() as c:
            c.execute(
                "INSERT INTO tasks (external_task_id, kind, params, session_id, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (external_task_id, kind, dumps(params), session_id, status, now, now),
            )
            c.execute(
                "INSERT INTO task_status (external_task_id, status, at) VALUES (?, ?, ?)",
                (external_task_id, status, now),
            )

    def update_task(self, external_task_id: str, **fields: Any) -> None:
        """Update a task row; a changed ``status`` is appended to the status history.

        Accepted fields: task_id, status, status_msg, error, params, session_id,
        server_created_at, result_urls, expires_at, raw.
        """
        unknown = set(fields) - _TASK_FIELDS
        if unknown:
            raise TypeError(f"update_task: unknown fields {sorted(unknown)}")
        values: dict[str, SqlValue] = {
            k: (dumps(v) if k in _JSON_FIELDS else v) for k, v in fields.items()
        }
        now = time.time()
        with self.db.write() as c:
            row = c.execute(
                "SELECT status, status_msg FROM tasks WHERE external_task_id = ?",
                (external_task_id,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no task {external_task_id!r} in journal {self.path}")
            sets = ", ".join(f"{k} = ?" for k in values)
            c.execute(
                f"UPDATE tasks SET {sets}{', ' if sets else ''}updated_at = ? "
                "WHERE external_task_id = ?",
                (*values.values(), now, external_task_id),
            )
            status = fields.get("status")
            if status is not None and status != row["status"]:
                c.execute(
                    "INSERT INTO task_status (external_task_id, status, status_msg, at) "
                    "VALUES (?, ?, ?, ?)",
                    (external_task_id, status, fields.get("status_msg"), now),
                )

    def add_download(
        self,
        external_task_id: str,
        url: str,
        path: Path,
        size: int,
        sha256: str,
        *,
        total: int | None = None,
    ) -> None:
        """Record a complete, verified result file.

        ``total`` is the length the server announced; a file whose length differs from
        it (or from ``size``, or whose size on disk differs) is refused, so a SHA-256 is
        only ever recorded for a whole file.
        """
        on_disk = path.stat().st_size if path.is_file() else None
        if on_disk != size or (total is not None and total != size):
            raise JournalError(
                f"not recording {path} for task {external_task_id}: {on_disk} bytes on disk, "
                f"{size} counted, {total if total is not None else 'unknown'} announced"
            )
        try:
            stored = path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            stored = str(path.resolve())
        with self.db.write() as c:
            c.execute(
                "INSERT INTO downloads (external_task_id, url, path, size, sha256, completed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (external_task_id, url, stored, size, sha256, time.time()),
            )

    def downloads(self, external_task_id: str | None = None) -> list[DownloadRecord]:
        """Recorded downloads (of one task, or all), oldest first."""
        sql = "SELECT * FROM downloads"
        args: tuple[SqlValue, ...] = ()
        if external_task_id is not None:
            sql += " WHERE external_task_id = ?"
            args = (external_task_id,)
        return [
            DownloadRecord(
                external_task_id=r["external_task_id"],
                url=r["url"],
                path=self.folder / r["path"],
                size=r["size"],
                sha256=r["sha256"],
                completed_at=r["completed_at"],
            )
            for r in self.db.query(sql + " ORDER BY id", args)
        ]

    def status_history(self, external_task_id: str) -> list[StatusChange]:
        """Every status a task went through, in order."""
        rows = self.db.query(
            "SELECT status, status_msg, at FROM task_status WHERE external_task_id = ? ORDER BY id",
            (external_task_id,),
        )
        return [StatusChange(r[0], r[1], r[2]) for r in rows]

    def task(self, external_task_id: str) -> TaskRecord | None:
        """One task with its history and downloads, or None."""
        rows = self.db.query("SELECT * FROM tasks WHERE external_task_id = ?", (external_task_id,))
        return self._task_record(rows[0]) if rows else None

    def task_state(self, external_task_id: str) -> tuple[str | None, str, float | None, list[str]]:
        """``(task_id, status, server_created_at, result_urls)`` of a task, read cheaply (no
        history, no downloads): what a poll compares with before writing anything.

        Raises ``KeyError`` for an unknown task.
        """
        rows = self.db.query(
            "SELECT task_id, status, server_created_at, result_urls FROM tasks "
            "WHERE external_task_id = ?",
            (external_task_id,),
        )
        if not rows:
            raise KeyError(f"no task {external_task_id!r} in journal {self.path}")
        r = rows[0]
        return r[0], r[1], r[2], loads(r[3], [])

    def task_by_id(self, task_id: str) -> TaskRecord | None:
        """The task Kling calls ``task_id``, or None."""
        rows = self.db.query("SELECT * FROM tasks WHERE task_id = ? LIMIT 1", (task_id,))
        return self._task_record(rows[0]) if rows else None

    def tasks(self, statuses: Iterable[str] | None = None) -> list[TaskRecord]:
        """Tasks in creation order, optionally only those with the given statuses."""
        sql = "SELECT * FROM tasks"
        args: list[SqlValue] = []
        if statuses is not None:
            wanted = list(statuses)
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            args = list(wanted)
        rows = self.db.query(sql + " ORDER BY created_at, rowid", args)
        return [self._task_record(r) for r in rows]

    def _task_record(self, r: sqlite3.Row) -> TaskRecord:
        ext = r["external_task_id"]
        return TaskRecord(
            external_task_id=ext,
            task_id=r["task_id"],
            kind=r["kind"],
            params=loads(r["params"], {}),
            session_id=r["session_id"],
            status=r["status"],
            status_msg=r["status_msg"],
            error=r["error"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            server_created_at=r["server_created_at"],
            result_urls=loads(r["result_urls"], []),
            expires_at=r["expires_at"],
            raw=loads(r["raw"], None),
            status_history=self.status_history(ext),
            downloads=self.downloads(ext),
        )


__all__ = ["TaskRows"]
