"""``Editor``: the widget that joins the view, the controls and the controller.

Every button calls the same public method a script calls (``select``, ``clear``,
``preview``, ``create``, ``wait``...), and every API call goes through the workflow
``Project`` (via the controller) so the journal sees everything the widget does.
Handlers of buttons and clicks never raise: a failure is shown next to the control
that was used and in the status line, while the Python API raises it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from kling_widget import rules
from kling_widget.api.client import KlingClient
from kling_widget.api.models import Preview, Selection, Task
from kling_widget.editor import checks, display, messages
from kling_widget.editor.actions import Actions
from kling_widget.editor.controller import EditorController, ImageInput
from kling_widget.editor.controls import Controls
from kling_widget.editor.screen import Screen
from kling_widget.editor.state import EditorState, check_frame, check_points
from kling_widget.editor.view import FrameView, Strip
from kling_widget.editor.workbench import Workbench, WorkbenchAPI
from kling_widget.errors import KlingValidationError
from kling_widget.journal import JournalLockedError, default_root
from kling_widget.media.video import VideoSource
from kling_widget.workflow import Project

PointLike = Sequence[float] | Mapping[str, float]


class Editor(WorkbenchAPI):
    """An interactive editor for one clip: click objects, preview, create, watch the result.

    ``Editor("clip.mp4")`` shows itself in a notebook. Without ``client`` it uses
    credentials from the environment, or the local Kling emulator when there are none.
    Kling needs a URL for the clip: pass ``video_url=`` or ``uploader=`` (a callable that
    uploads a path and returns its URL); on the emulator local clips are uploaded for you.
    A clip whose project is open in another process opens read-only.
    """

    def __init__(
        self,
        clip: str | Path,
        client: KlingClient | None = None,
        *,
        video_url: str | None = None,
        uploader: Callable[[Path], str] | None = None,
        root: str | Path | None = None,
        display_width: int = 960,
        autodisplay: bool = True,
    ) -> None:
        client, notice = display.pick_client(client)
        if video_url is None and uploader is None:
            uploader = display.default_uploader(client)
        self._client, self._video_url, self._uploader = client, video_url, uploader
        # No root: $KLING_WIDGET_PROJECTS or ./kling-projects, the same folder Project picks.
        self._root_dir = Path(root) if root is not None else default_root()

        def project_for(read_only: bool) -> Project:
            status = None if read_only else self._project_status
            return Project(
                clip,
                client,
                video_url=video_url,
                uploader=uploader,
                root=self._root_dir,
                on_status=status,
                read_only=read_only,
            )

        try:
            project, locked = project_for(False), ""
        except JournalLockedError as exc:
            # Open elsewhere: shown read-only (its points and masks), nothing is sent.
            project, locked = project_for(True), display.locked_message(exc)
        self._start(project, project.source, display_width, notice, locked)
        if autodisplay:
            self._displayed_at = display.autodisplay(self.widget)

    @classmethod
    def open(
        cls,
        journal_path: str | Path,
        client: KlingClient | None = None,
        *,
        uploader: Callable[[Path], str] | None = None,
        display_width: int = 960,
        autodisplay: bool = True,
    ) -> Editor:
        """Reopen a project from its journal: points and masks come back without API calls."""
        self = cls.__new__(cls)
        client, notice = display.pick_client(client)
        self._client, self._video_url = client, None
        self._uploader = uploader if uploader is not None else display.default_uploader(client)
        project = Project.open(
            journal_path, client, uploader=self._uploader, on_status=self._project_status
        )
        self._root_dir = Path(project.folder).parent
        self._start(project, project.source, display_width, notice, "")
        if autodisplay:
            self._displayed_at = display.autodisplay(self.widget)
        return self

    def _start(
        self,
        project: Project | None,
        source: VideoSource,
        display_width: int,
        notice: str,
        locked: str,
    ) -> None:
        self._display_width = display_width
        self._displayed_at = None
        self._closed = False
        self._locked = locked
        self.screen = Screen(source, display_width)
        self.actions = Actions(self)
        self._attach(project, source, rebuild=False)
        self.actions.wire()
        self.workbench = Workbench(self)
        self.controller.restore()
        back = project.restored if project is not None else None
        self.workbench.mount()
        self.show(0)
        if locked:
            self.say(locked, "error", near="clip")
            for w in (self.controls.edit_panel, self.controls.tools, self.controls.preflight):
                w.layout.display = "none"
        elif self.screen.violations:
            self.say(messages.clip_summary(self.screen.violations), "error", near="clip")
        elif problem := display.url_problem(self._video_url, self._uploader, project):
            self.say(problem, "error")
        elif back is not None and (back.points or back.running):
            self.say(f"{back}.", "ok")
        else:
            self.say(messages.greeting(notice), "info")
        if not locked:
            self.controller.resume_unfinished()

    def _attach(self, project: Project | None, source: VideoSource, rebuild: bool = True) -> None:
        """Connect a (new) project and clip: the controller, and the canvas's handlers."""
        if rebuild:
            self.screen.rebuild(source, self._display_width)
        sc = self.screen
        self.source: VideoSource = source
        self.state: EditorState = sc.state
        self.view: FrameView = sc.view
        self.strip: Strip = sc.strip
        self.controls: Controls = sc.controls
        self.widget: widgets.VBox = sc.widget
        self.controller = EditorController(project, source, sc.state, sc)
        self.actions.rewire_canvas()

    def _project_status(self, text: str) -> None:
        # The project reports progress (upload, session rebuilt...) from a worker thread.
        if "screen" in vars(self):
            self.say(text[:1].upper() + text[1:], "busy")

    # --- the screen -------------------------------------------------------------------
    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """Show ``text`` in the status line (and next to the control ``near`` names)."""
        self.screen.say(text, level, near)

    def show(self, frame: int) -> None:
        """Draw ``frame`` (use ``seek`` to move the slider too)."""
        self.screen.show(frame)

    def report(self, action: str, exc: BaseException, near: str | None = None) -> None:
        """Show a failure of ``action`` in the user's words (and next to ``near``)."""
        self.say(messages.explain(action, exc), "error", near=near)

    def masks_changed(self, frame: int) -> None:
        """Redraw what depends on ``frame``'s points and masks."""
        self.screen.masks_changed(frame)

    def check_ready(self, violations: bool = True) -> None:
        """Raise (naming the problem) when nothing may be sent yet."""
        problem = display.url_problem(self._video_url, self._uploader, self.controller.project)
        found = self.screen.violations if violations else []
        checks.check_ready(str(self.source.path), self._locked, found, problem)

    def _ipython_display_(self) -> None:
        # Once per cell: a self-displayed editor is not shown twice.
        display.show_once(self.widget, self._displayed_at)

    def _repr_mimebundle_(self, **kwargs: object) -> dict[str, object] | None:
        # For front ends that do not call display hooks.
        bundle: dict[str, object] | None = self.widget._repr_mimebundle_(**kwargs)
        return bundle

    def __repr__(self) -> str:
        return f"Editor({str(self.source.path)!r}, frames={self.source.frame_count})"

    # --- public state -------------------------------------------------------------------
    @property
    def project(self) -> Project | None:
        """The ``Project`` doing the API work (``None`` in a read-only view)."""
        return self.controller.project

    @property
    def status(self) -> str:
        """The status line's text."""
        return self.screen._status_text

    @property
    def frame(self) -> int:
        """The frame on screen."""
        return self.state.frame

    @property
    def points(self) -> dict[int, list[tuple[float, float]]]:
        """Points per frame (clip frame indices) that the server accepted."""
        return self.state.all_points()

    @property
    def result(self) -> Path | None:
        """Local path of the downloaded result of the last task (``None`` before)."""
        return self.controller.result

    @property
    def task(self) -> Task | None:
        """The last task created (or picked up from the journal) by this editor."""
        return self.controller.task

    @property
    def read_only(self) -> bool:
        """True when the clip is open in another editor and this one only shows it."""
        return bool(self._locked)

    def seek(self, frame: int) -> None:
        """Show ``frame`` (moves the slider; the canvas follows)."""
        frame = check_frame(frame, self.source.frame_count)
        if self.controls.slider.value != frame:
            self.controls.slider.value = frame
        else:
            self.show(frame)

    def masks(self, frame: int) -> list[np.ndarray]:
        """The masks on ``frame`` as full-resolution (h, w) uint8 arrays, one per object."""
        fm = self.state.frame_masks(check_frame(frame, self.source.frame_count))
        return [a.copy() for a in fm.arrays] if fm is not None else []

    # --- selection API ------------------------------------------------------------------
    def select(self, frame: int, points: Iterable[PointLike]) -> Selection:
        """Add ``points`` (normalized (x, y)) on ``frame``; returns the ``Selection``.

        Queued behind any request still running, so calls and clicks keep their order.
        """
        return self.submit_select(frame, points).result()

    def submit_select(self, frame: int, points: Iterable[PointLike]) -> Future[Selection]:
        """``select`` without waiting for the reply (the point is drawn pending at once)."""
        frame = check_frame(frame, self.source.frame_count)
        pts = check_points(points)
        self.check_ready()
        future = self.controller.submit_select(frame, pts)
        self.masks_changed(frame)
        return future

    def unselect(self, frame: int, points: Iterable[PointLike]) -> Selection:
        """Delete ``points`` from ``frame`` (the exact coordinates they were added with)."""
        frame = check_frame(frame, self.source.frame_count)
        pts = check_points(points)
        self.check_ready()
        return self.controller.submit_unselect(frame, pts).result()

    def clear(self) -> None:
        """Delete every point of every frame (clear-selection)."""
        self.check_ready()
        self.controller.submit_clear().result()

    def preview(self) -> Preview:
        """Track the selection over the clip (preview-selection); returns the ``Preview``."""
        self.check_ready()
        return self.controller.submit_preview().result()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued request (and a Create the buttons started) is done."""
        self.controller.wait_idle(timeout)

    # --- edits --------------------------------------------------------------------------
    def remove(self, prompt: str | None = None, **kw: object) -> Task:
        """Create a removal of the selected object; returns the ``Task`` (see ``wait``)."""
        return self.create("removal", prompt=prompt, **kw)  # type: ignore[arg-type]

    def swap(self, image: ImageInput, prompt: str | None = None, **kw: object) -> Task:
        """Create a swap of the selected object for ``image``; returns the ``Task``."""
        return self.create("swap", prompt=prompt, images=[image], **kw)  # type: ignore[arg-type]

    def add(
        self, images: ImageInput | Sequence[ImageInput], prompt: str | None = None, **kw: object
    ) -> Task:
        """Create an addition of ``images`` (one or two) into the clip; returns the ``Task``."""
        listed = list(images) if isinstance(images, (list, tuple)) else [images]
        return self.create("addition", prompt=prompt, images=listed, **kw)  # type: ignore[arg-type]

    def create(
        self,
        edit_mode: str,
        prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | None = None,
        watermark: bool | None = None,
    ) -> Task:
        """Create a Multi-Elements task for the current selection; returns the ``Task``.

        ``prompt=None`` uses Kling's template of ``edit_mode`` with its ``[x]`` filled in.
        Call ``wait()`` for the result.
        """
        n, neg = len(images or []), negative_prompt
        args = (edit_mode, prompt, n, neg, mode, duration)
        duration = checks.check_create(self.state, self.source, *args)
        self.check_ready()
        return self.controller.submit_create(
            edit_mode,
            prompt=rules.resolve_prompt(edit_mode, prompt, self.workbench.object_list.subject()),
            images=list(images or []),
            negative_prompt=negative_prompt,
            mode=mode,
            duration=duration,
            watermark=watermark,
        ).result()

    def omni(
        self,
        prompt: str,
        images: Sequence[ImageInput] | None = None,
        elements: Sequence[str] | None = None,
        keep_original_sound: bool = True,
        model: str = rules.DEFAULT_OMNI_MODEL,
        mode: str = "pro",
    ) -> Task:
        """Edit the whole clip from ``prompt`` with Omni-Video; returns the ``Task``.

        No selection is needed: the clip is sent as the ``base`` video. Omni's limits are
        checked before anything is sent. Call ``wait()`` for the result.
        """
        element_ids = [str(e) for e in elements or []]
        checks.check_omni(self.source, prompt, len(images or []), element_ids, model, mode)
        self.check_ready(violations=False)
        return self.controller.submit_omni(
            prompt,
            images=list(images or []),
            elements=element_ids,
            keep_original_sound=keep_original_sound,
            model=model,
            mode=mode,
        ).result()

    def wait(self, task: Task | None = None, timeout: float = 600) -> Path:
        """Wait for a task and download it; returns the file path.

        The default is this editor's last task, or the one picked up from the journal
        after a restart (its result path once downloaded).
        """
        if self._locked:
            raise KlingValidationError("clip", str(self.source.path), self._locked)
        return self.controller.submit_wait(task, timeout).result()

    def conform(self) -> VideoSource:
        """Replace the clip by a copy that meets Kling's limits (before anything is uploaded)."""
        dest = self._root_dir / "conformed" / f"{self.source.path.stem}-conformed.mp4"

        def progress(fraction: float) -> None:
            self.say(f"Conforming the clip to Kling's limits… {fraction:.0%}", "busy")

        try:
            new = self.source.conform(dest, on_progress=progress)
        except Exception as exc:
            self.report("conform the clip", exc, "clip")
            raise
        project = Project(new.path, self._client, uploader=self._uploader, root=self._root_dir,
                          on_status=self._project_status)  # fmt: skip
        self.controller.close(cancel=False)
        self._attach(project, project.source)
        self.workbench.attach()
        self.controls.note("clip", "")
        self.show(0)
        self.say(messages.conformed(new.width, new.height, new.fps, new.duration, new.path), "ok")
        return new

    def close(self) -> None:
        """Stop the worker threads and close the widgets."""
        self._closed = True
        self.workbench.close()
        self.controller.close()
        self.screen.close_widgets()
