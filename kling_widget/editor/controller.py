"""The editor's controller: worker threads that call the workflow ``Project``.

One worker sends the selection calls in the order they were made (clicks made while a
request runs are queued, never reordered); a second one creates, waits for and downloads
tasks, so clicking stays possible during a long render. Every call returns a typed
``Future``. Replies are decoded into the ``EditorState`` here, off the kernel's thread;
what the user sees is left to the ``EditorUI`` (implemented by ``Editor``), which this
module only knows as a protocol.

Frame indices are the clip's own; they are mapped to Kling's ``frame_index`` by time
when the frame rate Kling reports differs from the clip's.

Imports the workflow, ``rules``, ``api`` models and ``editor.state``; never a widget.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
from PIL import Image

from kling_widget.api.models import ObjectMask, Preview, Selection, Task
from kling_widget.editor import frame_index
from kling_widget.editor.messages import explain
from kling_widget.editor.state import EditorState, FrameMasks, Point
from kling_widget.editor.tracking import load_tracking
from kling_widget.errors import KlingTaskFailedError, KlingValidationError
from kling_widget.media.images import ReferenceImage
from kling_widget.media.video import VideoSource
from kling_widget.workflow import Project

T = TypeVar("T")
# A reference image as the workflow takes it: bytes, a path or URL, or a decoded image.
ImageInput = bytes | str | Path | ReferenceImage | Image.Image | np.ndarray


class EditorUI(Protocol):
    """What the controller tells the screen (called from the worker threads)."""

    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """A status line (and, with ``near``, the note next to that control)."""

    def masks_changed(self, frame: int) -> None:
        """``frame``'s points or masks changed."""

    def selection_cleared(self, frames: Sequence[int]) -> None:
        """Every point and mask is gone (these frames had some)."""

    def tracked(self, frames: Sequence[int], preview: Preview) -> None:
        """The preview's tracked masks are in the state for ``frames``."""

    def task_progress(self, status: str, elapsed: float) -> None:
        """A task is running: its status and the seconds since waiting began."""

    def task_finished(self, path: Path | None, elapsed: float) -> None:
        """The wait ended: the result's path, or ``None`` after a failure."""


# Told of every selection change a worker made: (op, frame, points, wiped) where op is
# "add", "delete" or "clear" and ``wiped`` (a clear's) the points it removed per frame.
SelectionListener = Callable[[str, int | None, Sequence[Point], Mapping[int, list[Point]]], None]


@dataclass(frozen=True)
class Restored:
    """What the journal gave back when the editor opened."""

    points: int
    frames: int
    running: int


class EditorController:
    """The API side of one editor: ``Project`` calls on two worker threads."""

    def __init__(
        self, project: Project | None, source: VideoSource, state: EditorState, ui: EditorUI
    ) -> None:
        self.project = project
        self.source = source
        self.state = state
        self.ui = ui
        self.task: Task | None = None
        self.result: Path | None = None
        self.preview: Preview | None = None
        self._resumed: Future[None] | None = None
        self.selection_listeners: list[SelectionListener] = []
        self._api = ThreadPoolExecutor(1, thread_name_prefix="kling-editor-api")
        self._tasks = ThreadPoolExecutor(1, thread_name_prefix="kling-editor-task")

    # --- plumbing ---------------------------------------------------------------
    def _project(self) -> Project:
        if self.project is None:
            raise KlingValidationError(
                "clip",
                str(self.source.path),
                "this view is read-only: the clip is open in another editor",
            )
        return self.project

    def run_on_api(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the selection worker, after every queued selection call."""
        return self._api.submit(fn)

    def run_on_tasks(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the task worker, after every queued create or wait."""
        return self._tasks.submit(fn)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until both workers have run everything queued so far."""
        self._tasks.submit(lambda: None).result(timeout)
        self._api.submit(lambda: None).result(timeout)

    def close(self, cancel: bool = True) -> None:
        """Stop the workers and close the project; queued work is cancelled, or with
        ``cancel=False`` still runs (a wait queued behind the job that replaced the clip)."""
        self._api.shutdown(wait=False, cancel_futures=cancel)
        self._tasks.shutdown(wait=False, cancel_futures=cancel)
        if self.project is not None:
            # Closing must not raise over a broken journal.
            with contextlib.suppress(Exception):
                self.project.close()

    # --- frame indices ----------------------------------------------------------
    def api_index(self, frame: int) -> int:
        """Kling's ``frame_index`` of the clip's frame ``frame``."""
        session = self.project.session if self.project is not None else None
        return frame_index.to_api(self.source, session, frame)

    def local_index(self, api_frame: int) -> int:
        """The clip's frame showing Kling's ``frame_index`` ``api_frame``."""
        session = self.project.session if self.project is not None else None
        return frame_index.to_local(self.source, session, api_frame)

    # --- masks ------------------------------------------------------------------
    def store_masks(self, frame: int, masks: Sequence[ObjectMask], source: str) -> None:
        """Decode a reply's masks for ``frame`` into the state (full resolution)."""
        shape = (self.source.height, self.source.width)
        arrays = [m.to_array(shape) for m in masks]
        ids: list[object] = [
            m.object_id if m.object_id is not None else i for i, m in enumerate(masks)
        ]
        fm = FrameMasks(ids, arrays, "tracked" if source == "tracked" else "selection")
        self.state.replace_masks(frame, fm if arrays else None)

    def restore(self) -> Restored:
        """Points and masks recorded by an earlier run come back without any API call."""
        if self.project is None:
            return Restored(0, 0, 0)
        try:
            points = self.project.points
        except Exception:
            points = {}
        for api_frame, pts in points.items():
            local = self.local_index(api_frame)
            self.state.restore_points(local, [(float(x), float(y)) for x, y in pts])
            try:
                masks = self.project.masks(api_frame)
            except Exception:
                masks = []
            if masks:
                self.store_masks(local, masks, "selection")
        try:
            running = len(self.project.pending())
        except Exception:
            running = 0
        marked = self.state.marked_frames()
        return Restored(self.state.point_count(), len(marked), running)

    # --- selection --------------------------------------------------------------
    def submit_select(self, frame: int, points: Sequence[Point]) -> Future[Selection]:
        """Queue add-selection of ``points`` on ``frame`` (drawn pending at once)."""
        project = self._project()
        self.state.check_can_add(frame, len(points))
        self.state.add_pending(frame, points)
        pts = list(points)

        def run() -> Selection:
            try:
                self.ui.say(f"Selecting on frame {frame}…", "busy")
                project.ensure_session()
                selection = project.select(self.api_index(frame), pts)
            except Exception as exc:
                self.state.drop_pending(frame, pts)
                self.ui.masks_changed(frame)
                self.ui.say(explain(f"select on frame {frame}", exc), "error", near="tools")
                raise
            self.apply_selection(frame, pts, selection)
            self._selection_changed("add", frame, pts)
            n = len(selection.masks)
            self.ui.say(
                f"Frame {frame}: {n} object{'s' if n != 1 else ''} selected. Click more, "
                "Preview to track it, or Create.",
                "ok",
            )
            return selection

        return self.run_on_api(run)

    def apply_selection(self, frame: int, points: Sequence[Point], selection: Selection) -> None:
        """Show a selection reply: decode its masks, confirm the points, redraw."""
        self.store_masks(frame, selection.masks, "selection")
        self.state.confirm_add(frame, points)
        self.ui.masks_changed(frame)

    def submit_unselect(self, frame: int, points: Sequence[Point]) -> Future[Selection]:
        """Queue delete-selection of ``points`` (the exact coordinates they were added with)."""
        project = self._project()
        missing = self.state.missing_points(frame, points)
        if missing:
            raise KlingValidationError(
                "points",
                missing,
                f"not among the points of frame {frame} ({self.state.points_on(frame)}); "
                "delete-selection needs the exact coordinates that were added",
            )
        pts = list(points)

        def run() -> Selection:
            try:
                self.ui.say(f"Removing a point on frame {frame}…", "busy")
                selection = project.unselect(self.api_index(frame), pts)
                self.state.confirm_remove(frame, pts)
                self.store_masks(frame, selection.masks, "selection")
            except Exception as exc:
                self.ui.say(explain(f"remove the point on frame {frame}", exc), "error", "tools")
                raise
            self._selection_changed("delete", frame, pts)
            self.ui.masks_changed(frame)
            self.ui.say(f"Point removed from frame {frame}.", "ok")
            return selection

        return self.run_on_api(run)

    def submit_clear(self) -> Future[None]:
        """Queue clear-selection: every point of every frame is deleted on Kling's side."""
        project = self._project()

        def run() -> None:
            try:
                self.ui.say("Removing every point and mask…", "busy")
                if project.session is not None or self.state.marked_frames():
                    project.clear()
            except Exception as exc:
                self.ui.say(explain("clear the selection", exc), "error", near="tools")
                raise
            wiped = self.state.all_points()
            frames = self.state.reset()
            self.preview = None
            self._selection_changed("clear", None, [], wiped)
            self.ui.selection_cleared(frames)
            self.ui.say("Every point and mask was removed. Click the object to start again.", "ok")

        return self.run_on_api(run)

    def _selection_changed(
        self,
        op: str,
        frame: int | None,
        points: Sequence[Point],
        wiped: Mapping[int, list[Point]] | None = None,
    ) -> None:
        for listener in list(self.selection_listeners):
            # A listener's failure must not turn a change the server made into an error.
            with contextlib.suppress(Exception):
                listener(op, frame, points, wiped or {})

    def submit_preview(self) -> Future[Preview]:
        """Queue preview-selection; the tracked masks land in the state."""
        project = self._project()

        def run() -> Preview:
            try:
                if not self.state.marked_frames():
                    raise KlingValidationError(
                        "selection", "no points", "preview needs a selected object: click it first"
                    )
                self.ui.say("Tracking the selection over the clip…", "busy")
                preview = project.preview()
                self.preview = preview
                tracked = load_tracking(
                    preview, (self.source.height, self.source.width), self.local_index
                )
            except Exception as exc:
                self.ui.say(explain("preview the selection", exc), "error", near="tools")
                raise
            self.state.clear_masks(source="tracked")
            for frame, (ids, arrays) in tracked.items():
                self.state.replace_masks(frame, FrameMasks(ids, arrays, "tracked"))
            self.ui.tracked(sorted(tracked), preview)
            if tracked:
                self.ui.say(
                    f"Preview: the object is tracked on {len(tracked)} of "
                    f"{self.source.frame_count} frames (marked on the strip). Press Create.",
                    "ok",
                )
            else:
                self.ui.say(
                    "Preview ready: the tracked masks are shown in the preview video below.", "ok"
                )
            return preview

        return self.run_on_api(run)

    # --- tasks ------------------------------------------------------------------
    def submit_create(
        self,
        edit_mode: str,
        *,
        prompt: str,
        images: Sequence[ImageInput],
        negative_prompt: str | None,
        mode: str,
        duration: str,
        watermark: bool | None,
    ) -> Future[Task]:
        """Queue a Multi-Elements create (after the queued selection calls)."""
        project = self._project()

        def run() -> Task:
            try:
                self.ui.say(f"Creating the {edit_mode} task…", "busy")
                task = project.create(
                    edit_mode,
                    prompt=prompt,
                    images=list(images) or None,
                    negative_prompt=negative_prompt or None,
                    mode=mode,
                    duration=duration,
                    watermark=watermark,
                )
            except Exception as exc:
                self.ui.say(explain(f"create the {edit_mode} task", exc), "error", near="create")
                raise
            self._started(task)
            return task

        return self.run_on_api(run)

    def submit_omni(
        self,
        prompt: str,
        *,
        images: Sequence[ImageInput],
        elements: Sequence[str],
        keep_original_sound: bool,
        model: str,
        mode: str,
    ) -> Future[Task]:
        """Queue an Omni-Video prompt edit of the whole clip."""
        project = self._project()

        def run() -> Task:
            try:
                self.ui.say("Creating the Omni-Video prompt edit…", "busy")
                task = project.omni(
                    prompt,
                    images=list(images) or None,
                    elements=list(elements) or None,
                    keep_original_sound=keep_original_sound,
                    model=model,
                    mode=mode,
                )
            except Exception as exc:
                self.ui.say(explain("create the Omni prompt edit", exc), "error", near="create")
                raise
            self._started(task)
            return task

        return self.run_on_api(run)

    def _started(self, task: Task) -> None:
        self.task = task
        self.result = None
        self.ui.say(f"Task {task.task_id} {task.status}; waiting for Kling…", "busy")

    def submit_wait(self, task: Task | None = None, timeout: float = 600) -> Future[Path]:
        """Queue a wait for ``task`` (default: this editor's last, or the journal's latest)."""
        project = self._project()
        return self.run_on_tasks(lambda: self._wait(project, task, timeout))

    def wait_here(self, task: Task | None = None, timeout: float = 600) -> Path:
        """``submit_wait(...).result()`` for code already running on the task worker."""
        return self._wait(self._project(), task, timeout)

    def _wait(self, project: Project, task: Task | None, timeout: float) -> Path:
        task = task if task is not None else self.task
        if task is None:
            if self.result is not None:
                return self.result
            if not project.history():
                raise KlingValidationError(
                    "task", None, "nothing to wait for: create an edit first"
                )
        started = time.monotonic()
        stop = threading.Event()
        status = [str(getattr(task, "status", None) or "submitted")]

        def tick() -> None:
            while not stop.wait(0.5):
                self.ui.task_progress(status[0], time.monotonic() - started)

        ticker = threading.Thread(target=tick, name="kling-editor-ticker", daemon=True)
        ticker.start()

        def on_progress(t: Task) -> None:
            if t.status:
                status[0] = str(t.status)
            self.ui.task_progress(status[0], time.monotonic() - started)

        try:
            self.ui.task_progress(status[0], 0.0)
            final = project.wait(task, timeout=timeout, on_progress=on_progress)
            self.task = final
            if not final.succeeded:
                msg = final.status_msg or "no reason given"
                raise KlingTaskFailedError(
                    f"task {final.task_id} failed: {msg}", task_id=final.task_id
                )
            self.ui.say("Downloading the result…", "busy")
            path = Path(project.download(final))
        except Exception as exc:
            stop.set()
            self.ui.task_finished(None, time.monotonic() - started)
            self.ui.say(explain("finish the edit", exc), "error", near="create")
            raise
        finally:
            stop.set()
        self.result = path
        self.ui.task_finished(path, time.monotonic() - started)
        self.ui.say(f"Done: the edited clip is at {path}", "ok")
        return path

    def resume_unfinished(self) -> None:
        """Pick up tasks a crashed kernel left running; show the latest result.

        Runs on the task worker, so the canvas is usable at once and a ``wait()`` queued
        after it returns what it picked up. With nothing pending no request is made.
        """
        project = self.project
        if project is None:
            return
        try:
            pending = project.pending()
        except Exception:
            pending = []

        def show_latest() -> None:
            path = project.result_path()
            if path is not None:
                self.result = Path(path)
                self.ui.task_finished(self.result, 0.0)

        if not pending:
            # Nothing in the journal yet: nothing to show.
            with contextlib.suppress(Exception):
                show_latest()
            return

        def run() -> None:
            try:
                tasks = project.resume(wait=True)
                if tasks:
                    self.task = tasks[-1]
                show_latest()
            except Exception as exc:
                self.ui.say(explain("pick up the running task", exc), "error", near="create")
                return
            if self.result is not None:
                self.ui.say(
                    f"Done: the edited clip is at {self.result} (picked up from the journal).",
                    "ok",
                )

        self._resumed = self.run_on_tasks(run)
