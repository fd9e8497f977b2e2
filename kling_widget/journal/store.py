"""``Journal``: one SQLite database (WAL mode) per clip, plus its files.

Layout of a project folder (``root/<clip-stem>-<sha256[:8]>/``)::

    journal.sqlite3     the database (and its -wal / -shm while open)
    journal.lock        owner lock: pid and host of the writing process
    images/<sha256>.<ext>   reference images sent with tasks
    results/<kind>-<external_task_id>.mp4   downloaded results

Writes run in ``BEGIN IMMEDIATE`` transactions with a busy timeout, so two
connections never interleave half-written state; the owner lock refuses a
second *writing* process with a clear message (readers are always welcome).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kling_widget.journal.errors import JournalCorruptError, JournalError
from kling_widget.journal.lock import OwnerLock
from kling_widget.journal.records import (
    ClipRecord,
    DownloadRecord,
    OpRecord,
    RecoveryReport,
    SessionRecord,
    StatusChange,
    TaskRecord,
)
from kling_widget.journal.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

JOURNAL_NAME = "journal.sqlite3"
LOCK_NAME = "journal.lock"
DEFAULT_ROOT = "kling-projects"
BUSY_TIMEOUT_MS = 10_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> tuple[str, int]:
    """Stream a file through SHA-256; returns ``(hexdigest, size)``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def project_folder(clip: str | Path, fingerprint: str, root: str | Path = DEFAULT_ROOT) -> Path:
    """The folder holding a clip's journal: ``root/<clip-stem>-<sha256[:8]>``."""
    stem = re.sub(r"[^\w.-]+", "_", Path(clip).stem).strip("._") or "clip"
    return Path(root) / f"{stem}-{fingerprint[:8]}"


def host_of(base_url: str) -> str:
    """Only the host (and port) of a base URL: never a userinfo part or a query."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


def _loads(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _points(raw: str) -> list[tuple[float, float]]:
    return [(float(p[0]), float(p[1])) for p in json.loads(raw)]


class Journal:
    """The durable record of one clip's project.

    ``Journal(path)`` opens (or creates) ``path`` (a ``journal.sqlite3`` file or
    the folder holding it) for writing; ``read_only=True`` opens an existing journal
    without taking the owner lock. Raises :class:`JournalCorruptError` for a damaged
    file and :class:`JournalLockedError` when another process is writing.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True) -> None:
        p = Path(path)
        if p.is_dir() or p.suffix != ".sqlite3":
            p = p / JOURNAL_NAME
        self.path = p
        self.folder = p.parent
        self.read_only = read_only
        self._mutex = threading.RLock()
        self._lock: OwnerLock | None = None
        existed = p.exists()
        if not existed and (read_only or not create):
            raise FileNotFoundError(f"no journal at {p}")
        if existed:
            self._check_header()
        if not read_only:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = OwnerLock(self.folder / LOCK_NAME, p)
        try:
            self._conn = self._connect()
            self._check_integrity(existed)
            if not read_only:
                # Only now, once the file is known to be ours: WAL rewrites the header.
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = FULL")
                self._migrate(existed)
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------
    @classmethod
    def for_clip(
        cls, clip: str | Path, root: str | Path = DEFAULT_ROOT, *, fingerprint: str | None = None
    ) -> Journal:
        """Open (or create) the journal of ``clip`` under ``root`` and record the clip."""
        size = Path(clip).stat().st_size
        if fingerprint is None:
            fingerprint, size = file_sha256(clip)
        folder = project_folder(clip, fingerprint, root)
        if not (folder / JOURNAL_NAME).exists():
            # Same content under another name (a renamed or copied clip): same project.
            folder = _renamed_project(Path(root), fingerprint) or folder
        journal = cls(folder / JOURNAL_NAME)
        try:
            journal.set_clip(clip, fingerprint, size)
        except BaseException:
            journal.close()
            raise
        return journal

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as f:
                head = f.read(100)
        except OSError as exc:
            raise JournalCorruptError(self.path, f"cannot read: {exc}") from exc
        if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
            # A 0-byte or truncated header would otherwise open as an empty database:
            # that is exactly the silent reset this check exists to prevent.
            what = "empty file" if not head else f"{len(head)}-byte header"
            if head and not head.startswith(_SQLITE_MAGIC):
                what = "not an SQLite file"
            raise JournalCorruptError(self.path, what)

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
        # Autocommit mode: every write goes through _write()'s BEGIN IMMEDIATE.
        conn.isolation_level = None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalCorruptError(self.path, str(exc)) from exc
        return conn

    def _check_integrity(self, existed: bool) -> None:
        if not existed:
            return
        try:
            rows = self._conn.execute("PRAGMA quick_check").fetchall()
            problems = [r[0] for r in rows if r[0] != "ok"]
            if problems:
                raise JournalCorruptError(self.path, "; ".join(problems[:3]))
            app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(self.path, str(exc)) from exc
        if app_id != APPLICATION_ID or "schema_version" not in tables:
            raise JournalCorruptError(self.path, "no kling-widget schema in this database")

    def _migrate(self, existed: bool) -> None:
        with self._write() as c:
            if not existed:
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

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        row = self._query("SELECT MAX(version) FROM schema_version")
        return int(row[0][0] or 0)

    # --- transactions ------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise JournalError(f"journal {self.path} is open read-only")
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the database and release the owner lock (idempotent)."""
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with self._mutex:
                conn.close()
            self._conn = None  # type: ignore[assignment]
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
        with self._write() as c:
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
        rows = self._query("SELECT path, fingerprint, size, created_at FROM clip WHERE id = 1")
        return ClipRecord(*rows[0]) if rows else None

    # --- sessions ----------------------------------------------------------
    def add_session(
        self,
        session_id: str,
        *,
        base_url: str,
        video_url: str | None,
        created_at: float,
        expires_at: float,
        raw: dict[str, Any],
    ) -> None:
        """Record a new session; only the base URL's host is kept."""
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO sessions "
                "(session_id, host, video_url, created_at, expires_at, raw) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, host_of(base_url), video_url, created_at, expires_at, _dumps(raw)),
            )

    def end_session(self, session_id: str, reason: str, at: float | None = None) -> None:
        """Mark a session as gone (expired, rebuilt, ...)."""
        with self._write() as c:
            c.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_id = ?",
                (time.time() if at is None else at, reason, session_id),
            )

    def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        rows = self._query("SELECT * FROM sessions ORDER BY created_at, rowid")
        return [
            SessionRecord(
                session_id=r["session_id"],
                host=r["host"],
                video_url=r["video_url"],
                created_at=r["created_at"],
                expires_at=r["expires_at"],
                raw=_loads(r["raw"], {}),
                ended_at=r["ended_at"],
                end_reason=r["end_reason"],
            )
            for r in rows
        ]

    def latest_session(self) -> SessionRecord | None:
        """The newest session not marked as ended, if any."""
        live = [s for s in self.sessions() if s.ended_at is None]
        return live[-1] if live else None

    def video_url(self) -> str | None:
        """The most recent video URL a session was initialised with."""
        rows = self._query(
            "SELECT video_url FROM sessions WHERE video_url IS NOT NULL "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1"
        )
        return rows[0][0] if rows else None

    # --- selection operations ----------------------------------------------
    def add_op(
        self,
        session_id: str,
        op: str,
        frame_index: int | None = None,
        points: Iterable[tuple[float, float]] = (),
        masks: list[dict[str, Any]] | None = None,
        *,
        replay_of: int | None = None,
    ) -> int:
        """Append one selection operation; returns its sequence number."""
        pts = [[float(x), float(y)] for x, y in points]
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO selection_ops "
                "(session_id, op, frame_index, points, masks, replay_of, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    op,
                    frame_index,
                    _dumps(pts),
                    _dumps(masks or []),
                    replay_of,
                    time.time(),
                ),
            )
            return int(cur.lastrowid or 0)

    def ops(
        self, *, since_last_clear: bool = True, include_replays: bool = False
    ) -> list[OpRecord]:
        """Selection operations in order.

        By default only the user's own operations after the last ``clear`` (the ones
        that make up the current selection, and what a rebuilt session replays).
        """
        where = [] if include_replays else ["replay_of IS NULL"]
        if since_last_clear:
            where.append(
                "seq > COALESCE((SELECT MAX(seq) FROM selection_ops "
                "WHERE op = 'clear' AND replay_of IS NULL), 0)"
            )
        sql = "SELECT * FROM selection_ops"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY seq")
        return [
            OpRecord(
                seq=r["seq"],
                session_id=r["session_id"],
                op=r["op"],
                frame_index=r["frame_index"],
                points=_points(r["points"]),
                masks=_loads(r["masks"], []),
                replay_of=r["replay_of"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def current_points(self) -> dict[int, list[tuple[float, float]]]:
        """Points per frame after replaying the operations since the last clear."""
        frames: dict[int, list[tuple[float, float]]] = {}
        for op in self.ops():
            if op.frame_index is None:
                continue
            pts = frames.setdefault(op.frame_index, [])
            if op.op == "add":
                pts.extend(p for p in op.points if p not in pts)
            elif op.op == "delete":
                pts[:] = [p for p in pts if p not in op.points]
        return {f: p for f, p in sorted(frames.items()) if p}

    def latest_masks(self, frame_index: int) -> list[dict[str, Any]]:
        """The latest raw ``rle_mask_list`` of one frame in the current selection."""
        rows = self._query(
            "SELECT masks FROM selection_ops WHERE frame_index = ? AND op IN ('add', 'delete') "
            "AND seq > COALESCE((SELECT MAX(seq) FROM selection_ops "
            "WHERE op = 'clear' AND replay_of IS NULL), 0) ORDER BY seq DESC LIMIT 1",
            (frame_index,),
        )
        return _loads(rows[0][0], []) if rows else []

    def current_masks(self) -> dict[int, list[dict[str, Any]]]:
        """The latest raw ``rle_mask_list`` per frame (replays included: they are newer)."""
        latest: dict[int, list[dict[str, Any]]] = {}
        for op in self.ops(include_replays=True):
            if op.frame_index is not None and op.op in ("add", "delete"):
                latest[op.frame_index] = op.masks
        return latest

    # --- images ------------------------------------------------------------
    def store_image(self, data: bytes, fmt: str | None = None) -> tuple[str, Path]:
        """Keep a reference image as a file next to the journal; returns (sha256, path)."""
        digest = hashlib.sha256(data).hexdigest()
        ext = {"jpeg": "jpg", "jpg": "jpg", "png": "png"}.get((fmt or "").lower(), "bin")
        rel = Path("images") / f"{digest}.{ext}"
        dest = self.folder / rel
        if not dest.exists() or dest.stat().st_size != len(data):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        with self._write() as c:
            c.execute(
                "INSERT OR IGNORE INTO images (sha256, path, size, format) VALUES (?, ?, ?, ?)",
                (digest, rel.as_posix(), len(data), fmt),
            )
        return digest, dest

    def image_path(self, sha256: str) -> Path | None:
        """The file of a stored image, if it is known."""
        rows = self._query("SELECT path FROM images WHERE sha256 = ?", (sha256,))
        return self.folder / rows[0][0] if rows else None

    # --- tasks -------------------------------------------------------------
    def add_task(
        self,
        external_task_id: str,
        kind: str,
        params: dict[str, Any],
        *,
        session_id: str | None = None,
        status: str = "creating",
    ) -> None:
        """Write a task row (status ``creating``) *before* its create request is sent."""
        now = time.time()
        with self._write() as c:
            c.execute(
                "INSERT INTO tasks (external_task_id, kind, params, session_id, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (external_task_id, kind, _dumps(params), session_id, status, now, now),
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
        allowed = {
            "task_id", "status", "status_msg", "error", "params", "session_id",
            "server_created_at", "result_urls", "expires_at", "raw",
        }  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"update_task: unknown fields {sorted(unknown)}")
        values = {
            k: (_dumps(v) if k in ("params", "result_urls", "raw") else v)
            for k, v in fields.items()
        }
        now = time.time()
        with self._write() as c:
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
        self, external_task_id: str, url: str, path: Path, size: int, sha256: str
    ) -> None:
        """Record a complete, verified result file."""
        try:
            stored = path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            stored = str(path.resolve())
        with self._write() as c:
            c.execute(
                "INSERT INTO downloads (external_task_id, url, path, size, sha256, completed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (external_task_id, url, stored, size, sha256, time.time()),
            )

    def downloads(self, external_task_id: str | None = None) -> list[DownloadRecord]:
        """Recorded downloads (of one task, or all), oldest first."""
        sql = "SELECT * FROM downloads"
        args: tuple[Any, ...] = ()
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
            for r in self._query(sql + " ORDER BY id", args)
        ]

    def status_history(self, external_task_id: str) -> list[StatusChange]:
        """Every status a task went through, in order."""
        rows = self._query(
            "SELECT status, status_msg, at FROM task_status WHERE external_task_id = ? ORDER BY id",
            (external_task_id,),
        )
        return [StatusChange(r[0], r[1], r[2]) for r in rows]

    def task(self, external_task_id: str) -> TaskRecord | None:
        """One task with its history and downloads, or None."""
        rows = self._query("SELECT * FROM tasks WHERE external_task_id = ?", (external_task_id,))
        return self._task_record(rows[0]) if rows else None

    def tasks(self, statuses: Iterable[str] | None = None) -> list[TaskRecord]:
        """Tasks in creation order, optionally only those with the given statuses."""
        sql = "SELECT * FROM tasks"
        args: list[Any] = []
        if statuses is not None:
            wanted = list(statuses)
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            args = wanted
        rows = self._query(sql + " ORDER BY created_at, rowid", args)
        return [self._task_record(r) for r in rows]

    def _task_record(self, r: sqlite3.Row) -> TaskRecord:
        ext = r["external_task_id"]
        return TaskRecord(
            external_task_id=ext,
            task_id=r["task_id"],
            kind=r["kind"],
            params=_loads(r["params"], {}),
            session_id=r["session_id"],
            status=r["status"],
            status_msg=r["status_msg"],
            error=r["error"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            server_created_at=r["server_created_at"],
            result_urls=_loads(r["result_urls"], []),
            expires_at=r["expires_at"],
            raw=_loads(r["raw"], None),
            status_history=self.status_history(ext),
            downloads=self.downloads(ext),
        )

    # --- recovery ----------------------------------------------------------
    @staticmethod
    def recover(path: str | Path) -> RecoveryReport:
        """Move a damaged journal aside (``*.corrupt-<timestamp>``) and rebuild what it can.

        Every row that can still be read is copied into a fresh journal at the same
        path; the damaged file (and its -wal/-shm) is kept for inspection.
        """
        from kling_widget.journal.recover import recover_journal

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


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
