"""What the editor hands back: the preview video, compare, mask export and task history.

:class:`Outputs` holds, for one editor, Kling's preview video (inline, under the frame),
the compare view of the original and a result (or any two results), the Export row
(format, button, what was written) and the task history panel with "Edit again".

What an export holds is stated with it: after a preview whose tracking output could be
read (the emulator's), the tracked masks of every frame; otherwise the masks of the
marked frames only, and why (no preview yet, or a tracking output in a format this
version cannot read: Kling does not document it).

Knows the editor only as :class:`OutputsHost` (``Editor`` is one). Imports its siblings
``compare``, ``playback``, ``tasks_panel``, ``actions``, ``controls``, ``controller``,
``screen`` and ``state``, ``media.export``, ``media.images``, ``transfer`` and the
journal's records; never ``editor.editor``.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import ipywidgets as widgets
import numpy as np

from kling_widget.api.models import Preview, Task
from kling_widget.editor.actions import Actions
from kling_widget.editor.compare import Compare
from kling_widget.editor.controller import EditorController
from kling_widget.editor.controls import OMNI_MODE, Controls
from kling_widget.editor.objects import ObjectId
from kling_widget.editor.playback import MAX_INLINE_PREVIEW_BYTES, preview_video
from kling_widget.editor.screen import Screen
from kling_widget.editor.state import EditorState
from kling_widget.editor.tasks_panel import TaskRow, TasksPanel
from kling_widget.errors import KlingValidationError
from kling_widget.journal.records import TaskRecord
from kling_widget.media.export import EXPORT_FORMATS, ExportResult, export_masks
from kling_widget.media.frames import FrameCache
from kling_widget.media.video import VideoSource

__all__ = ["Outputs", "OutputsHost", "VideoRef"]

VideoRef = str | Path | Task | TaskRecord | None


class OutputsHost(Protocol):
    """What the preview, compare, export and task history use of the editor."""

    source: VideoSource
    state: EditorState
    screen: Screen
    controls: Controls
    controller: EditorController
    actions: Actions

    @property
    def result(self) -> Path | None:
        """The downloaded result of the last task."""

    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """Show ``text`` in the status line (and next to the control ``near`` names)."""

    def report(self, action: str, exc: BaseException, near: str | None = None) -> None:
        """Show a failure of ``action`` in the user's words."""


class Outputs:
    """The preview video, compare, export and task history of ``editor``."""

    def __init__(
        self,
        editor: OutputsHost,
        labels: Callable[[], dict[ObjectId, str]],
        submit: Callable[[Callable[[], object]], object],
    ) -> None:
        self.ed = editor
        self._labels = labels
        self._submit = submit
        self._lock = threading.Lock()
        self._tasks_seen: object = None
        self.compare_view: Compare | None = None
        self.last_export: ExportResult | None = None
        self.preview_box = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.compare_box = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.format = widgets.Dropdown(
            options=[
                ("COCO JSON (RLE)", "coco"),
                ("PNG label images", "png"),
                ("Matte videos (H.264)", "matte"),
            ],
            value="coco",
            layout=widgets.Layout(width="210px"),
        )
        self.export_button = widgets.Button(
            description="Export masks", icon="download", layout=widgets.Layout(width="auto")
        )
        self.export_button.add_class("kling-export")
        self.export_button.on_click(lambda _: self._export_clicked())
        self.export_note = widgets.HTML()
        self.export_row = widgets.HBox(
            [self.format, self.export_button, self.export_note],
            layout=widgets.Layout(width="100%", align_items="center", flex_flow="row wrap"),
        )
        self.tasks = TasksPanel(
            on_edit_again=lambda row: self._guard("fill the form", lambda: self.edit_again(row)),
            on_compare=lambda row: self._guard("compare", lambda: self._compare_row(row)),
        )

    def _guard(self, action: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            self.ed.report(action, exc, "create")

    # --- preview ----------------------------------------------------------------------
    def show_preview(self, preview: Preview) -> None:
        """Kling's preview video inline under the frame (its bytes fetched off the kernel)."""
        url = preview.video_url
        if url:
            self._submit(lambda: self._show_preview(url))

    def _show_preview(self, url: str) -> None:
        from kling_widget.transfer import fetch_bytes

        data: bytes | None = None
        # Too big or unreachable from here: the browser loads it from its URL instead.
        with contextlib.suppress(Exception):
            data = fetch_bytes(url, max_bytes=MAX_INLINE_PREVIEW_BYTES)
        caption = widgets.HTML(
            "<div style='font:600 12px sans-serif;margin-top:4px'>Kling's preview: the clip "
            "with the tracked masks drawn by Kling</div>"
        )
        old = self.preview_box.children
        self.preview_box.children = (caption, preview_video(data, url))
        for w in old:
            w.close()

    # --- compare ----------------------------------------------------------------------
    def compare(
        self, a: VideoRef = "original", b: VideoRef = None, labels: tuple[str, str] | None = None
    ) -> Compare:
        """``a`` and ``b`` in one synchronized view (wipe or side by side), under the editor.

        Each is ``"original"``, a path, a task of this clip (or its id), or ``None`` for the
        latest result.
        """
        first, second = self._video(a), self._video(b)
        names = labels or (_name(a, first), _name(b, second))
        view = Compare(first, second, labels=names)
        with self._lock:
            old, self.compare_view = self.compare_view, view
        self.compare_box.children = (view.widget,)
        if old is not None:
            old.close()
        return view

    def _video(self, ref: VideoRef) -> Path | FrameCache:
        if isinstance(ref, str) and ref == "original":
            return self.ed.screen.frames
        if isinstance(ref, Path) or (isinstance(ref, str) and Path(ref).is_file()):
            return Path(ref)
        project = self.ed.controller.project
        if ref is None:
            path = self.ed.result or (project.result_path() if project is not None else None)
        else:
            path = project.result_path(ref) if project is not None else None
        if path is None:
            raise KlingValidationError(
                "video",
                "the latest result" if ref is None else str(getattr(ref, "task_id", ref)),
                "no result of that task is on disk yet (wait for it, or download it first)",
            )
        return Path(path)

    def _compare_row(self, row: TaskRow) -> None:
        if row.result_path is not None:
            self.compare("original", row.result_path, ("Original", f"Result ({row.title})"))

    def show_result(self, path: Path) -> None:
        """A finished edit: the result as a video (with its sound, and where it was saved),
        and the original and the result in the compare view (frames only) under it."""
        self.ed.controls.show_result(path.read_bytes(), None, str(path))
        self.compare("original", path, ("Original", "Result"))
        self.refresh_tasks(force=True)

    # --- export -----------------------------------------------------------------------
    def export_masks(self, dest: str | Path, format: str = "coco") -> ExportResult:
        """Write the selection's masks to ``dest`` as ``"coco"``, ``"png"`` or ``"matte"``."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format={format!r}: must be one of {', '.join(EXPORT_FORMATS)}")
        state, source = self.ed.state, self.ed.source
        masks: dict[int, dict[ObjectId, np.ndarray]] = {}
        for f in sorted(set(state.marked_frames()) | set(state.tracked_frames())):
            fm = state.frame_masks(f)
            if fm is not None:
                masks[f] = {
                    (oid if isinstance(oid, (int, str)) else str(oid)): arr
                    for oid, arr in zip(fm.object_ids, fm.arrays, strict=True)
                }
        if not masks:
            raise KlingValidationError(
                "selection", "no masks", "there is nothing to export: click an object first"
            )

        def progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                self.ed.say(f"Exporting the masks ({format})… {done}/{total}", "busy")

        result = export_masks(
            masks,
            dest,
            format,
            size=(source.width, source.height),
            frame_count=source.frame_count,
            fps=source.fps_fraction,
            labels=self._labels(),
            note=self.export_note_text(),
            progress=progress,
        )
        self.last_export = result
        self.ed.say(f"Exported {result}", "ok")
        return result

    def export_note_text(self) -> str:
        """What an export now holds, in words."""
        state = self.ed.state
        tracked, marked = state.tracked_frames(), state.marked_frames()
        n = self.ed.source.frame_count
        if tracked:
            return (
                f"tracked masks of {len(set(tracked) | set(marked))} of {n} frames (the "
                "preview's tracking output), with the click masks on the marked frames"
            )
        if self.ed.controller.preview is not None:
            return (
                f"masks of the {len(marked)} marked frames only: the preview's tracking output "
                "is not in a format this version can read (Kling does not document it)"
            )
        return (
            f"masks of the {len(marked)} marked frames only; press Preview to track the "
            "selection over every frame, then export again"
        )

    def default_folder(self, format: str) -> Path:
        """Where the Export button writes: ``exports/<format>-<time>`` in the project."""
        project = self.ed.controller.project
        base = Path(project.folder) if project is not None else Path.cwd()
        return base / "exports" / f"{format}-{time.strftime('%Y%m%d-%H%M%S')}"

    def _export_clicked(self) -> None:
        fmt = str(self.format.value)
        self.export_button.disabled = True
        self.export_note.value = ""

        def run() -> None:
            try:
                result = self.export_masks(self.default_folder(fmt), fmt)
                self.export_note.value = (
                    "<span style='font:12px sans-serif;color:#15803d'>"
                    f"{html.escape(str(result))}</span>"
                )
            except Exception as exc:
                self.ed.report("export the masks", exc, "tools")
            finally:
                self.export_button.disabled = False

        self._submit(run)

    # --- task history -----------------------------------------------------------------
    def refresh_tasks(self, force: bool = False) -> None:
        """Re-read the task history from the journal (redrawn when it changed)."""
        project = self.ed.controller.project
        if project is None:
            return
        records = project.history()
        seen = tuple(
            (r.external_task_id, r.status, r.updated_at, len(r.downloads)) for r in records
        )
        if force or seen != self._tasks_seen or any(r.active for r in records):
            self._tasks_seen = seen
            self.tasks.update(records)

    def edit_again(self, row: TaskRow) -> None:
        """Fill the form from a past task: mode, prompt, negative prompt, quality, images."""
        from kling_widget.media.images import ReferenceImage

        c = self.ed.controls
        c.edit_mode.value = OMNI_MODE if row.kind == "omni-video" else row.edit_mode
        if row.quality in ("std", "pro"):
            c.quality.value = row.quality
        c.prompt.value = row.prompt
        c.negative_prompt.value = row.negative_prompt or ""
        project = self.ed.controller.project
        images: list[tuple[str, ReferenceImage | bytes]] = []
        for i, sha in enumerate(row.image_refs):
            path = project.journal.image_path(sha) if project is not None else None
            if path is not None and Path(path).is_file():
                images.append((f"reference {i + 1}", ReferenceImage.load(Path(path).read_bytes())))
        self.ed.actions.images = images
        self.ed.actions.show_images()
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
        self.ed.say(f"The form holds the {row.title} task of {when}: change it and Create.")

    def close(self) -> None:
        """Close the compare view and the panels."""
        if self.compare_view is not None:
            self.compare_view.close()
        self.tasks.close()
        for w in (self.format, self.export_button, self.export_note, self.export_row):
            w.close()


def _name(ref: VideoRef, video: Path | FrameCache) -> str:
    if isinstance(ref, str) and ref == "original":
        return "Original"
    if isinstance(ref, (str, Path)) and Path(ref).is_file():
        return Path(ref).stem[:24]  # a file the user named
    return "Result"
