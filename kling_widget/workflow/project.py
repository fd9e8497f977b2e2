"""``Project``: the scriptable workflow under the widget, the CLI and the batch.

A project is one clip and its journal (:class:`kling_widget.journal.Journal`). It is a
facade over two halves that share a :class:`~kling_widget.workflow.context.ProjectContext`:

- :class:`~kling_widget.workflow.selection.SelectionSession` (``project.selection``):
  upload, init, every selection operation journaled with its masks, and a new session
  replayed and verified when Kling forgot the old one;
- :class:`~kling_widget.workflow.tasks.TaskBook` (``project.tasks``): every create journaled
  before it is sent (a crash never bills a task twice), polled, and downloaded as soon as
  it succeeds.

``Project(clip)`` on a clip seen before picks all of that up again (:attr:`restored` says
what came back). A clip open for writing in another process can still be opened
``read_only=True`` to look at it. Frame indices are Kling's (API) frame indices; points are
normalized ``(x, y)`` in [0, 1] from the top-left corner.

Imports the API, the journal, the edit rules and the workflow's own modules; never the
editor, the batch or the command line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from kling_widget.api.models import ObjectMask, Preview, Selection, Session
from kling_widget.errors import KlingValidationError
from kling_widget.journal import Journal, TaskRecord, default_root, file_sha256
from kling_widget.journal.verify import FrameCheck, RebuildReport
from kling_widget.workflow.context import ProjectContext, StatusFn, Uploader, clip_path_of
from kling_widget.workflow.selection import Point, SelectionSession, count_points
from kling_widget.workflow.tasks import TaskBook

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.media.video import VideoSource

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Restored:
    """What reopening a project brought back from its journal."""

    points: dict[int, list[Point]]
    running: tuple[TaskRecord, ...]
    results: tuple[TaskRecord, ...]

    @property
    def point_count(self) -> int:
        """How many points are marked."""
        return sum(len(p) for p in self.points.values())

    @property
    def frame_count(self) -> int:
        """On how many frames."""
        return len(self.points)

    @property
    def empty(self) -> bool:
        """True when nothing came back (a new project)."""
        return not (self.points or self.running or self.results)

    def __str__(self) -> str:
        parts = [count_points(self.points)] if self.points else []
        n = len(self.running)
        if n:
            parts.append(f"{n} running task{'s' if n != 1 else ''}")
        n = len(self.results)
        if n and not self.running:
            parts.append(f"{n} finished result{'s' if n != 1 else ''}")
        if not parts:
            return "Nothing to restore: a new project"
        return "Restored " + " and ".join(parts) + " from the journal"


def _on_tasks(
    method: Callable[Concatenate[TaskBook, _P], _R],
) -> Callable[Concatenate[Project, _P], _R]:
    """``Project.<name>`` as ``project.tasks.<name>``, with TaskBook's signature and docs."""
    name = method.__name__

    def call(self: Project, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        # Looked up on every call, so a patched TaskBook method is the one that runs.
        bound: Callable[_P, _R] = getattr(self.tasks, name)
        return bound(*args, **kwargs)

    functools.update_wrapper(call, method)
    call.__qualname__ = f"Project.{name}"
    return call


class Project:
    """One clip's editing project, journaled in ``root/<clip-stem>-<sha256[:8]>/``.

    ``client`` defaults to :func:`kling_widget.workflow.connect.default_client` (credentials
    from the environment, else the local emulator); ``uploader`` (path -> public URL)
    defaults to the emulator's upload endpoint when the client talks to an emulator.
    ``video_url`` skips uploading. ``on_status`` receives one-line messages meant for a
    status line. ``clock`` (epoch seconds) is what session and result expiry are measured
    on. ``root`` defaults to ``$KLING_WIDGET_PROJECTS`` or ``./kling-projects``.
    ``read_only`` opens the journal of a clip open elsewhere without changing anything
    (raises ``JournalLockedError``, naming the other process, when not read-only).
    """

    def __init__(
        self,
        clip: str | Path,
        client: KlingClient | None = None,
        *,
        video_url: str | None = None,
        uploader: Uploader | None = None,
        root: str | Path | None = None,
        on_status: StatusFn | None = None,
        clock: Callable[[], float] | None = None,
        read_only: bool = False,
    ) -> None:
        clip_path, source, url = clip_path_of(clip)
        fingerprint, _size = file_sha256(clip_path)
        journal = Journal.for_clip(
            clip_path, root if root is not None else default_root(),
            fingerprint=fingerprint, read_only=read_only,
        )  # fmt: skip
        ctx = ProjectContext(
            journal, clip_path, client, video_url=video_url or url, uploader=uploader,
            on_status=on_status, clock=clock, source=source, clip_checked=True,
        )  # fmt: skip
        self._start(ctx)

    @classmethod
    def open(
        cls,
        journal_path: str | Path,
        client: KlingClient | None = None,
        *,
        video_url: str | None = None,
        uploader: Uploader | None = None,
        on_status: StatusFn | None = None,
        clock: Callable[[], float] | None = None,
        read_only: bool = False,
    ) -> Project:
        """Reopen a project from its journal (the ``journal.sqlite3`` file or its folder)."""
        journal = Journal(journal_path, create=False, read_only=read_only)
        try:
            record = journal.clip()
            if record is None:
                raise KlingValidationError(
                    "journal_path", str(journal_path), "journal has no clip recorded"
                )
        except BaseException:
            journal.close()
            raise
        self = cls.__new__(cls)
        ctx = ProjectContext(
            journal, Path(record.path), client, video_url=video_url, uploader=uploader,
            on_status=on_status, clock=clock,
        )  # fmt: skip
        self._start(ctx)
        return self

    def _start(self, ctx: ProjectContext) -> None:
        try:
            self._ctx = ctx
            self.selection = SelectionSession(ctx)
            self.tasks = TaskBook(ctx, self.selection)
            self.restored = Restored(
                points=self.selection.points,
                running=tuple(r for r in ctx.journal.tasks() if r.active),
                results=tuple(r for r in ctx.journal.tasks() if r.result_path is not None),
            )
            if not self.restored.empty:
                ctx.status(str(self.restored))
            for rec in self.history():
                if rec.warning:
                    ctx.status(rec.warning)
        except BaseException:
            ctx.journal.close()
            raise

    # --- plumbing ----------------------------------------------------------
    @property
    def journal(self) -> Journal:
        """The project's journal."""
        return self._ctx.journal

    @property
    def clip_path(self) -> Path:
        """The clip on this machine."""
        return self._ctx.clip_path

    @property
    def client(self) -> KlingClient:
        """The Kling client (created from the environment on first use)."""
        return self._ctx.client

    @property
    def uploader(self) -> Uploader | None:
        """The callable that turns the clip's path into a public URL (None: not set)."""
        return self._ctx.uploader

    @uploader.setter
    def uploader(self, fn: Uploader | None) -> None:
        self._ctx.uploader = fn

    @property
    def on_status(self) -> StatusFn | None:
        """Where one-line status messages go."""
        return self._ctx.on_status

    @on_status.setter
    def on_status(self, fn: StatusFn | None) -> None:
        self._ctx.on_status = fn

    @property
    def source(self) -> VideoSource:
        """The clip, probed (:class:`kling_widget.media.video.VideoSource`)."""
        return self._ctx.source

    @property
    def folder(self) -> Path:
        """The project folder (journal, images, results)."""
        return self._ctx.folder

    @property
    def read_only(self) -> bool:
        """True when opened read-only: nothing can be selected, created or downloaded."""
        return self._ctx.read_only

    @property
    def session(self) -> Session | None:
        """The selection session (None until one is opened)."""
        return self.selection.session

    @property
    def last_rebuild(self) -> RebuildReport | None:
        """What the last session rebuild (or re-sync) replayed and whether masks matched."""
        return self.selection.last_rebuild

    def close(self) -> None:
        """Close the journal (and release its owner lock)."""
        self._ctx.journal.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        sid = self.session.session_id if self.session else None
        mode = ", read_only=True" if self.read_only else ""
        return (
            f"Project(clip={str(self.clip_path)!r}, folder={str(self.folder)!r}, "
            f"session={sid!r}{mode})"
        )

    # --- selection ---------------------------------------------------------
    def video_url(self, *, fresh: bool = False) -> str:
        """A URL Kling can fetch the clip from: given, journaled, or uploaded now."""
        return self._ctx.video_url(fresh=fresh)

    def ensure_session(self) -> Session:
        """The live session: reused, created (upload + init) or rebuilt and replayed."""
        return self.selection.ensure()

    @property
    def points(self) -> dict[int, list[Point]]:
        """Current points per (API) frame, from the journal."""
        return self.selection.points

    def masks(self, frame_index: int) -> list[ObjectMask]:
        """The latest masks Kling answered for a frame (journaled; no API call)."""
        return self.selection.masks(frame_index)

    def select(self, frame_index: int, points: Iterable[Point]) -> Selection:
        """Add points on one frame (``add-selection``); returns that frame's masks."""
        return self.selection.select(frame_index, points)

    def unselect(self, frame_index: int, points: Iterable[Point]) -> Selection:
        """Delete points (``delete-selection``), given exactly as they were added."""
        return self.selection.unselect(frame_index, points)

    def clear(self) -> None:
        """Remove every point (``clear-selection``); journaled as a clear."""
        self.selection.clear()

    def mark(self, frames: Mapping[int, Sequence[Point]]) -> bool:
        """Make the selection exactly ``{frame: [(x, y), ...]}`` (nothing sent when it
        already is); returns True when anything was sent."""
        return self.selection.mark(frames)

    def preview(self) -> Preview:
        """Preview the tracked selection (``preview-selection``)."""
        return self.selection.preview()

    # --- tasks (signatures and docs live in TaskBook) ------------------------
    create = _on_tasks(TaskBook.create)
    omni = _on_tasks(TaskBook.omni)

    @property
    def running(self) -> TaskRecord | None:
        """The newest task that is unconfirmed, running, or finished but not on disk."""
        return self.tasks.running()

    wait = _on_tasks(TaskBook.wait)
    wait_result = _on_tasks(TaskBook.wait_result)
    download = _on_tasks(TaskBook.download)
    result_path = _on_tasks(TaskBook.result_path)
    resume = _on_tasks(TaskBook.resume)
    pending = _on_tasks(TaskBook.pending)
    history = _on_tasks(TaskBook.history)


__all__ = ["FrameCheck", "Project", "RebuildReport", "Restored"]
