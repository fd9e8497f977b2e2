"""The journal's selection tables: sessions, selection operations and reference images.

A mixin of :class:`kling_widget.journal.Journal`; it reads and writes through the
journal's :class:`~kling_widget.journal.database.Database`. Imports only the journal's
database, files and records.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kling_widget.journal.database import Database
from kling_widget.journal.files import host_of, write_atomically
from kling_widget.journal.records import OpRecord, SessionRecord

Point = tuple[float, float]


def dumps(value: Any) -> str:
    """Canonical compact JSON, as every JSON column stores it."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None, default: Any) -> Any:
    """A JSON column's value, or ``default`` for NULL."""
    return default if text is None else json.loads(text)


def _points(raw: str) -> list[Point]:
    return [(float(p[0]), float(p[1])) for p in json.loads(raw)]


_SINCE_LAST_CLEAR = (
    "seq > COALESCE((SELECT MAX(seq) FROM selection_ops "
    "WHERE op = 'clear' AND replay_of IS NULL), 0)"
)


class SelectionRows:
    """Sessions, selection operations and stored images of one journal."""

    folder: Path

    @property
    def db(self) -> Database:
        """The journal's open database."""
        raise NotImplementedError

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
        with self.db.write() as c:
            c.execute(
                "INSERT OR REPLACE INTO sessions "
                "(session_id, host, video_url, created_at, expires_at, raw) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, host_of(base_url), video_url, created_at, expires_at, dumps(raw)),
            )

    def end_session(self, session_id: str, reason: str, at: float | None = None) -> None:
        """Mark a session as gone (expired, rebuilt, ...)."""
        with self.db.write() as c:
            c.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_id = ?",
                (time.time() if at is None else at, reason, session_id),
            )

    def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        rows = self.db.query("SELECT * FROM sessions ORDER BY created_at, rowid")
        return [
            SessionRecord(
                session_id=r["session_id"],
                host=r["host"],
                video_url=r["video_url"],
                created_at=r["created_at"],
                expires_at=r["expires_at"],
                raw=loads(r["raw"], {}),
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
        rows = self.db.query(
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
        points: Iterable[Point] = (),
        masks: list[dict[str, Any]] | None = None,
        *,
        replay_of: int | None = None,
    ) -> int:
        """Append one selection operation; returns its sequence number."""
        pts = [[float(x), float(y)] for x, y in points]
        with self.db.write() as c:
            cur = c.execute(
                "INSERT INTO selection_ops "
                "(session_id, op, frame_index, points, masks, replay_of, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    op,
                    frame_index,
                    dumps(pts),
                    dumps(masks or []),
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
            where.append(_SINCE_LAST_CLEAR)
        sql = "SELECT * FROM selection_ops"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(sql + " ORDER BY seq")
        return [
            OpRecord(
                seq=r["seq"],
                session_id=r["session_id"],
                op=r["op"],
                frame_index=r["frame_index"],
                points=_points(r["points"]),
                masks=loads(r["masks"], []),
                replay_of=r["replay_of"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def current_points(self) -> dict[int, list[Point]]:
        """Points per frame after replaying the operations since the last clear."""
        frames: dict[int, list[Point]] = {}
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
        rows = self.db.query(
            "SELECT masks FROM selection_ops WHERE frame_index = ? AND op IN ('add', 'delete') "
            f"AND {_SINCE_LAST_CLEAR} ORDER BY seq DESC LIMIT 1",
            (frame_index,),
        )
        return loads(rows[0][0], []) if rows else []

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
            write_atomically(dest, data)
        with self.db.write() as c:
            c.execute(
                "INSERT OR IGNORE INTO images (sha256, path, size, format) VALUES (?, ?, ?, ?)",
                (digest, rel.as_posix(), len(data), fmt),
            )
        return digest, dest

    def image_path(self, sha256: str) -> Path | None:
        """The file of a stored image, if it is known."""
        rows = self.db.query("SELECT path FROM images WHERE sha256 = ?", (sha256,))
        return self.folder / rows[0][0] if rows else None


__all__ = ["SelectionRows", "dumps", "loads"]
