"""Plain records read back from the journal, and the journal's own task statuses.

Imports only the edit rules (for Kling's task states); nothing else of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kling_widget.rules import TaskState

# The journal's own task statuses, beside Kling's (``TaskState``): the row is written
# before the create is sent (CREATING) and marked REJECTED when the server refused the
# create outright, so nothing was billed.
CREATING = "creating"
REJECTED = "rejected"
RUNNING = (TaskState.SUBMITTED.value, TaskState.PROCESSING.value)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


@dataclass(frozen=True)
class ClipRecord:
    """The clip a journal belongs to: where it was and what it contained."""

    path: str
    fingerprint: str
    size: int
    created_at: float


@dataclass(frozen=True)
class SessionRecord:
    """One Multi-Elements selection session (``expires_at`` on the project's clock)."""

    session_id: str
    host: str
    video_url: str | None
    created_at: float
    expires_at: float
    raw: dict[str, Any]
    ended_at: float | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class OpRecord:
    """One selection operation as it was sent, with the masks the server answered."""

    seq: int
    session_id: str
    op: str  # "add" | "delete" | "clear"
    frame_index: int | None
    points: list[tuple[float, float]]
    masks: list[dict[str, Any]]  # the raw rle_mask_list
    replay_of: int | None
    created_at: float


@dataclass(frozen=True)
class DownloadRecord:
    """A result file saved completely and verified."""

    external_task_id: str
    url: str
    path: Path
    size: int
    sha256: str
    completed_at: float


@dataclass(frozen=True)
class StatusChange:
    """One entry of a task's status history."""

    status: str
    status_msg: str | None
    at: float


@dataclass(frozen=True)
class TaskRecord:
    """A task as the journal knows it, for ``Project.history()``.

    ``status`` is Kling's (:class:`~kling_widget.rules.TaskState`) or one of the journal's
    own: ``creating`` (row written, reply not seen yet) and ``rejected`` (the server
    refused the create; nothing was billed); the properties below say which. ``warning``
    is set when a result is not on disk and its URL expires soon (or already did).
    """

    external_task_id: str
    task_id: str | None
    kind: str
    params: dict[str, Any]
    session_id: str | None
    status: str
    status_msg: str | None
    error: str | None
    created_at: float
    updated_at: float
    server_created_at: float | None
    result_urls: list[str]
    expires_at: float | None
    raw: dict[str, Any] | None
    status_history: list[StatusChange] = field(default_factory=list)
    downloads: list[DownloadRecord] = field(default_factory=list)
    warning: str | None = None

    @property
    def result_path(self) -> Path | None:
        """The first downloaded result still on disk with its recorded size, if any."""
        for d in self.downloads:
            if d.path.is_file() and d.path.stat().st_size == d.size:
                return d.path
        return None

    @property
    def unconfirmed(self) -> bool:
        """Written before its create was sent, and no answer seen yet (may exist on Kling)."""
        return self.status == CREATING

    @property
    def rejected(self) -> bool:
        """The server refused the create: no task exists, nothing was billed."""
        return self.status == REJECTED

    @property
    def running(self) -> bool:
        """Kling accepted it and has not finished it yet."""
        return self.status in RUNNING

    @property
    def active(self) -> bool:
        """Unconfirmed or running: it holds (or may hold) one of the account's task slots."""
        return self.unconfirmed or self.running

    @property
    def succeeded(self) -> bool:
        """Kling finished it successfully (the result may or may not be on disk)."""
        return self.status == TaskState.SUCCEEDED.value

    @property
    def failed(self) -> bool:
        """Kling ran it and it failed."""
        return self.status == TaskState.FAILED.value

    @property
    def created(self) -> datetime | None:
        """When the row was written, as an aware UTC datetime."""
        return _dt(self.created_at)

    @property
    def expires(self) -> datetime | None:
        """When Kling deletes the result URLs, as an aware UTC datetime."""
        return _dt(self.expires_at)


@dataclass(frozen=True)
class RecoveryReport:
    """What ``Journal.recover`` did: where the damaged file went and what was saved."""

    path: Path
    moved_to: list[Path]
    rows_recovered: dict[str, int]
    tables_lost: list[str]

    def __str__(self) -> str:
        saved = ", ".join(f"{t}: {n}" for t, n in self.rows_recovered.items()) or "nothing"
        lost = f"; unreadable: {', '.join(self.tables_lost)}" if self.tables_lost else ""
        moved = ", ".join(str(p) for p in self.moved_to)
        return f"rebuilt {self.path} (damaged file kept as {moved}); rows saved: {saved}{lost}"
