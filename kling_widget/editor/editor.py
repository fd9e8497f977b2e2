"""``Editor``: the widget that joins the canvas, the controls and a ``Project``.

Every button calls the same public method a script calls (``select``, ``unselect``,
``clear``, ``preview``, ``create``, ``wait``...), and every API call goes through the
``Project`` so the journal sees everything the widget does.

Threads: one worker thread sends the selection calls in the order they were made (clicks
made while a request runs are queued, never reordered); a second one waits for a created
task and downloads it, so clicking stays possible during a long render. Handlers of
buttons and canvas clicks never raise: failures land in the status line in plain words,
while the Python API raises them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np

from kling_widget import limits
from kling_widget.editor.controls import OMNI_MODE, Controls, thumbnail_png
from kling_widget.editor.state import (
    EditorState,
    FrameMasks,
    Point,
    check_edit_mode,
    check_frame,
    check_points,
    duration_for_clip,
    resolve_prompt,
    time_label,
)
from kling_widget.editor.tracking import load_tracking
from kling_widget.editor.view import FrameView, Strip, label_map, mask_png
from kling_widget.errors import (
    KlingAuthError,
    KlingRateLimitError,
    KlingTaskFailedError,
    KlingTimeoutError,
    KlingTransportError,
    KlingValidationError,
)

T = TypeVar("T")

# Videos are sent to the browser inside the widget state; past this the original is not.
MAX_INLINE_VIDEO_BYTES = 64 * 1024 * 1024

_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (KlingValidationError, "Change that and try again; nothing was sent."),
    (KlingAuthError, "Check the API key (or access key and secret key) and try again."),
    (KlingRateLimitError, "Kling is busy or the account is at its limit; try again shortly."),
    (KlingTransportError, "The server could not be reached; check the connection and retry."),
    (KlingTimeoutError, "The task keeps running on Kling's side; call ed.wait() again later."),
    (KlingTaskFailedError, "Kling could not render this edit; change the prompt or selection."),
    (FileNotFoundError, "Check the path."),
)


def explain(action: str, exc: BaseException) -> str:
    """One status line for a failure: what failed, why, what to do."""
    hint = "Try again; if it keeps failing, restart the kernel."
    for cls, text in _HINTS:
        if isinstance(exc, cls):
            hint = text
            break
    message = (str(exc) or type(exc).__name__).rstrip(". ")
    return f"Could not {action}: {message}. {hint}"


def _shell() -> Any:
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return None
    # Called through Any: IPython 8 leaves it untyped, IPython 9 types it.
    shell: Any = get_ipython
    return shell()


def _in_ipython_kernel() -> bool:
    shell = _shell()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _execution_count() -> int | None:
    """The running cell's number (IPython bumps it after the cell), ``None`` outside."""
    shell = _shell()
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None


class Editor:
    """An interactive editor for one clip: click objects, preview, create, watch the result.

    ``Editor("clip.mp4")`` shows itself in a notebook. Without ``client`` it uses
    credentials from the environment, or the local Kling emulator when there are none.
    Kling needs a URL for the clip: pass ``video_url=`` or ``uploader=`` (a callable that
    uploads a path and returns its URL); on the emulator local clips are uploaded for you.

    Frame indices are the clip's own; they are mapped to Kling's ``frame_index`` when the
    frame rate Kling reports differs.
    """

    def __init__(
        self,
        clip: str | Path,
        client: Any = None,
        *,
        video_url: str | None = None,
        uploader: Callable[[Path], str] | None = None,
        root: str | Path = "kling-projects",
        display_width: int = 960,
        autodisplay: bool = True,
    ) -> None:
        from kling_widget.workflow import Project

        client, notice = self._pick_client(client)
        if video_url is None and uploader is None:
            uploader = self._default_uploader(client)
        self._video_url = video_url
        self._uploader = uploader
        self._root_dir = Path(root)
        self._notice = notice
        self._build_status: Callable[[str], None] = self._on_project_status
        project = Project(
            clip,
            client,
            video_url=video_url,
            uploader=uploader,
            root=root,
            on_status=self._project_status_cb,
        )
        self._setup(project, display_width)
        if autodisplay:
            self._autodisplay()

    @classmethod
    def open(
        cls,
        journal_path: str | Path,
        client: Any = None,
        *,
        uploader: Callable[[Path], str] | None = None,
        display_width: int = 960,
        autodisplay: bool = True,
    ) -> Editor:
        """Reopen a project from its journal: points and masks come back without API calls."""
        from kling_widget.workflow import Project

        self = cls.__new__(cls)
        client, notice = self._pick_client(client)
        self._notice = notice
        self._video_url = None
        self._uploader = uploader if uploader is not None else self._default_uploader(client)
        project = Project.open(
            journal_path,
            client,
            uploader=self._uploader,
            on_status=self._project_status_cb,
        )
        self._root_dir = Path(project.folder).parent
        self._setup(project, display_width)
        if autodisplay:
            self._autodisplay()
        return self

    # --- construction -------------------------------------------------------------------
    @staticmethod
    def _pick_client(client: Any) -> tuple[Any, str]:
        if client is not None:
            from kling_widget.workflow.connect import EMULATOR_NOTICE, is_emulator

            base = str(getattr(client, "base_url", ""))
            return client, (f"{EMULATOR_NOTICE} at {base}" if is_emulator(base) else "")
        from kling_widget.workflow.connect import default_client

        made, notice = default_client(quiet=True)
        return made, str(notice or "")

    @staticmethod
    def _default_uploader(client: Any) -> Callable[[Path], str] | None:
        from kling_widget.workflow.connect import uploader_for

        found: Callable[[Path], str] | None = uploader_for(client)
        return found

    def _setup(self, project: Any, display_width: int) -> None:
        self._project = project
        self._display_width = display_width
        self._lock = threading.RLock()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="kling-editor-api")
        self._task_worker = ThreadPoolExecutor(1, thread_name_prefix="kling-editor-task")
        self._png_cache: dict[tuple[int, int], bytes] = {}
        self._colors: dict[object, int] = {}
        self._status_text = ""
        self._preview: Any = None
        self._task: Any = None
        self._result: Path | None = None
        self._images: list[tuple[str, bytes]] = []
        self._prompt_edited = False
        self._displayed_at: int | None = None
        self._closed = False
        self.controls: Controls
        self._attach_clip()
        self._wire_controls()
        self._restore_from_journal()
        self._show(0)
        if self._violations:
            self._set_status(
                "This clip breaks Kling's limits (listed below); nothing was uploaded. "
                "Press Conform (or call ed.conform()) to fix it.",
                "error",
            )
        elif self._url_problem:
            self._set_status(self._url_problem, "error")
        else:
            notice = self._notice.rstrip(".")
            prefix = f"{notice[:1].upper()}{notice[1:]}. " if notice else ""
            self._set_status(prefix + "Click the object you want to edit.", "info")
        self._resume_unfinished()

    def _resume_unfinished(self) -> None:
        """A reopened clip: poll tasks still running, download finished results, show the last.

        Runs on the task thread, so the canvas is usable at once; with nothing pending no
        request is made.
        """
        try:
            pending = self._project.pending()
        except Exception:
            pending = []

        def show_latest() -> None:
            path = self._project.result_path()
            if path is not None:
                self._result = Path(path)
                self._show_result(self._result)

        if not pending:
            with contextlib.suppress(Exception):
                show_latest()
            return

        def run() -> None:
            self._set_status(
                f"Picking up {len(pending)} unfinished task(s) from the journal…", "busy"
            )
            try:
                self._project.resume(wait=True)
                show_latest()
            except Exception as exc:
                self._set_status(explain("pick up the unfinished tasks", exc), "error")
                return
            done = f"Done: the edited clip is at {self._result}" if self._result else "Up to date"
            self._set_status(f"{done} (picked up from the journal).", "ok")

        self._task_worker.submit(run)

    def _attach_clip(self) -> None:
        """Build everything that depends on the clip (again after ``conform()``)."""
        source = self._project.source
        self.source = source
        self._frames = source.frames(display_width=min(self._display_width, source.width))
        dw, dh = self._frames.display_size
        self.state = EditorState(
            frame_count=source.frame_count, fps=source.fps, width=source.width, height=source.height
        )
        self._png_cache.clear()
        self.view = FrameView(dw, dh)
        self.strip = Strip(dw, source.frame_count)
        seconds = source.frame_count / source.fps if source.fps else source.duration
        self._duration = duration_for_clip(seconds)
        duration_text = (
            f"duration {self._duration} s (from the clip, {seconds:.2f} s)"
            if self._duration
            else f"clip is {seconds:.2f} s: no duration Kling accepts"
        )
        if not hasattr(self, "controls"):
            self.controls = Controls(source.frame_count, source.fps, duration_text)
            self.widget = self.controls.rows(self.view.canvas, self.strip.canvas)
        else:
            c = self.controls
            last = max(0, source.frame_count - 1)
            c.play.max = last
            c.slider.max = last
            c.duration.value = duration_text
            children = list(self.widget.children)
            children[2] = self.view.canvas
            children[3] = self.strip.canvas
            self.widget.children = children
        self.view.on_click(lambda x, y: self._guard("select that point", self._click, x, y))
        self.strip.on_seek(lambda f: self._guard("seek", self.seek, f))
        self._violations = list(source.check("multi-elements"))
        self.controls.show_preflight([str(v) for v in self._violations])
        self._url_problem = ""
        if self._video_url is None and self._uploader is None and not self._journaled_url():
            self._url_problem = (
                "Kling needs a public URL for the clip and cannot read local files: pass "
                "video_url='https://...' (the clip on a public server) or uploader=<function "
                "that uploads a path and returns its URL> to Editor(...)."
            )

    def _journaled_url(self) -> str | None:
        try:
            url = self._project.journal.video_url()
        except Exception:
            return None
        return str(url) if url else None

    def _wire_controls(self) -> None:
        c = self.controls
        c.slider.observe(lambda ch: self._guard("show that frame", self._show, ch["new"]), "value")
        c.tool.observe(lambda ch: setattr(self.state, "tool", ch["new"]), "value")
        c.clear_button.on_click(lambda _: self._guard("clear", self._clear_clicked))
        c.preview_button.on_click(lambda _: self._guard("preview", self._preview_clicked))
        c.opacity.observe(lambda ch: self.view.set_opacity(ch["new"]), "value")
        c.edit_mode.observe(lambda ch: self._mode_changed(ch["new"]), "value")
        c.prompt.observe(self._prompt_changed, "value")
        c.upload.observe(
            lambda ch: self._guard("read the uploaded image", self._uploaded, ch["new"]), "value"
        )
        c.create_button.on_click(lambda _: self._guard("create the edit", self._create_clicked))
        c.conform_button.on_click(lambda _: self._guard("conform the clip", self._conform_clicked))

    def _restore_from_journal(self) -> None:
        """Points and masks recorded by an earlier run come back without any API call."""
        try:
            points: Mapping[int, Sequence[Point]] = self._project.points
        except Exception:
            return
        for api_frame, pts in points.items():
            local = self._local_index(api_frame)
            if pts:
                self.state.points[local] = [tuple(p) for p in pts]  # type: ignore[misc]
            try:
                masks = self._project.masks(api_frame)
            except Exception:
                masks = []
            if masks:
                self._store_masks(local, masks, "selection")

    def _autodisplay(self) -> None:
        if not _in_ipython_kernel():
            return
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
        self._displayed_at = _execution_count()

    # --- display ------------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        """Show the editor (once per cell: a self-displayed editor is not shown twice)."""
        from IPython.display import display

        if self._displayed_at is not None and self._displayed_at == _execution_count():
            return
        display(self.widget)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The root widget's mime bundle (for front ends that do not call display hooks)."""
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"Editor({str(self.source.path)!r}, frames={self.source.frame_count})"

    # --- public state -------------------------------------------------------------------
    @property
    def project(self) -> Any:
        """The ``Project`` doing the API work (and journaling it)."""
        return self._project

    @property
    def status(self) -> str:
        """The status line's text."""
        return self._status_text

    @property
    def frame(self) -> int:
        """The frame on screen."""
        return self.state.frame

    @property
    def points(self) -> dict[int, list[Point]]:
        """Points per frame (clip frame indices) that the server accepted."""
        with self.state._lock:
            return {f: list(p) for f, p in self.state.points.items() if p}

    @property
    def result(self) -> Path | None:
        """Local path of the downloaded result of the last task (``None`` before)."""
        return self._result

    @property
    def task(self) -> Any:
        """The last task created from this editor."""
        return self._task

    def seek(self, frame: int) -> None:
        """Show ``frame`` (moves the slider; the canvas follows)."""
        frame = check_frame(frame, self.source.frame_count)
        if self.controls.slider.value != frame:
            self.controls.slider.value = frame
        else:
            self._show(frame)

    # --- selection API ------------------------------------------------------------------
    def select(self, frame: int, points: Iterable[Any]) -> Any:
        """Add ``points`` (normalized (x, y)) on ``frame``; returns the ``Selection``.

        Queued behind any request still running, so calls and clicks keep their order.
        """
        return self._submit_select(frame, points).result()

    def unselect(self, frame: int, points: Iterable[Any]) -> Any:
        """Delete ``points`` from ``frame`` (the exact coordinates they were added with)."""
        return self._submit_unselect(frame, points).result()

    def clear(self) -> None:
        """Delete every point of the session (clear-selection)."""
        self._check_ready()
        self._worker.submit(self._do_clear).result()

    def masks(self, frame: int) -> list[np.ndarray]:
        """The masks on ``frame`` as full-resolution (h, w) uint8 arrays, one per object."""
        frame = check_frame(frame, self.source.frame_count)
        with self.state._lock:
            fm = self.state.masks.get(frame)
            return [a.copy() for a in fm.arrays] if fm is not None else []

    def preview(self) -> Any:
        """Track the selection over the clip (preview-selection); returns the ``Preview``.

        The tracked masks then show on every frame and are marked on the strip.
        """
        self._check_ready()
        return self._worker.submit(self._do_preview).result()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued request (and a Create the buttons started) is done."""
        self._task_worker.submit(lambda: None).result(timeout)
        self._worker.submit(lambda: None).result(timeout)

    # --- edits --------------------------------------------------------------------------
    def remove(self, prompt: str | None = None, **kw: Any) -> Any:
        """Create a removal of the selected object; returns the ``Task`` (see ``wait``)."""
        return self.create("removal", prompt=prompt, **kw)

    def swap(self, image: Any, prompt: str | None = None, **kw: Any) -> Any:
        """Create a swap of the selected object for ``image``; returns the ``Task``."""
        return self.create("swap", prompt=prompt, images=[image], **kw)

    def add(self, images: Any, prompt: str | None = None, **kw: Any) -> Any:
        """Create an addition of ``images`` (one or two) into the clip; returns the ``Task``."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        return self.create("addition", prompt=prompt, images=list(images), **kw)

    def create(
        self,
        edit_mode: str,
        prompt: str | None = None,
        images: Sequence[Any] | None = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | None = None,
        watermark: bool | None = None,
    ) -> Any:
        """Create a Multi-Elements task for the current selection; returns the ``Task``.

        ``prompt=None`` uses the documented template of ``edit_mode``. Call ``wait()`` for
        the result.
        """
        check_edit_mode(edit_mode)
        images = list(images or [])
        lo, hi = limits.EDIT_MODE_IMAGES[edit_mode]
        if not lo <= len(images) <= hi:
            want = f"exactly {lo}" if lo == hi else f"{lo} to {hi}"
            raise KlingValidationError(
                "images", f"{len(images)} image(s)", f"{edit_mode} takes {want} reference images"
            )
        if mode not in limits.MODES:
            raise KlingValidationError("mode", mode, f"must be one of {', '.join(limits.MODES)}")
        text = resolve_prompt(edit_mode, prompt)
        if len(text) > limits.MAX_PROMPT_CHARS:
            raise KlingValidationError(
                "prompt", text, f"must be at most {limits.MAX_PROMPT_CHARS} characters"
            )
        if negative_prompt is not None and len(negative_prompt) > limits.MAX_PROMPT_CHARS:
            raise KlingValidationError(
                "negative_prompt",
                negative_prompt,
                f"must be at most {limits.MAX_PROMPT_CHARS} characters",
            )
        if edit_mode != "addition" and not self.points:
            raise KlingValidationError(
                "selection",
                "no points",
                f"{edit_mode} needs a selected object: click it on the frame first",
            )
        self._check_ready()
        duration = duration or self._duration
        if duration is None:
            raise KlingValidationError(
                "duration",
                round(self.source.duration, 3),
                "the clip must be 2–5 s or 7–10 s long; press Conform to trim it",
            )

        def run() -> Any:
            self._set_status(f"Creating the {edit_mode} task…", "busy")
            task = self._project.create(
                edit_mode,
                prompt=text,
                images=images or None,
                negative_prompt=negative_prompt or None,
                mode=mode,
                duration=duration,
                watermark=watermark,
            )
            self._task = task
            self._result = None
            self._set_status(f"Task {task.task_id} {task.status}; waiting for Kling…", "busy")
            return task

        return self._worker.submit(self._reporting(f"create the {edit_mode} task", run)).result()

    def omni(
        self,
        prompt: str,
        images: Sequence[Any] | None = None,
        elements: Sequence[str] | None = None,
        keep_original_sound: bool = True,
        model: str = "kling-v3-omni",
        mode: str = "pro",
    ) -> Any:
        """Edit the whole clip from ``prompt`` with Omni-Video; returns the ``Task``.

        No selection is needed: the clip (uploaded, or its journaled URL reused) is sent as
        the ``base`` video. The Omni limits (3–10 s, 720–2160 px, 24–60 fps, at most
        200 MB, images + elements at most 4) are checked before anything is sent. Call
        ``wait()`` for the result, shown inline like the other modes and journaled.
        """
        images = list(images or [])
        element_ids = [str(e) for e in elements or []]
        self._check_omni(prompt, images, element_ids, model, mode)

        def run() -> Any:
            self._set_status("Creating the Omni-Video prompt edit…", "busy")
            task = self._project.omni(
                prompt,
                images=images or None,
                elements=element_ids or None,
                keep_original_sound=keep_original_sound,
                model=model,
                mode=mode,
            )
            self._task = task
            self._result = None
            self._set_status(f"Task {task.task_id} {task.status}; waiting for Kling…", "busy")
            return task

        return self._worker.submit(self._reporting("create the Omni prompt edit", run)).result()

    def _check_omni(
        self, prompt: Any, images: Sequence[Any], elements: Sequence[str], model: str, mode: str
    ) -> None:
        """Every Omni rule the editor can check before sending (raises naming the field)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise KlingValidationError(
                "prompt", prompt, "an Omni prompt edit needs a prompt describing the change"
            )
        if len(prompt) > limits.MAX_PROMPT_CHARS:
            raise KlingValidationError(
                "prompt", prompt, f"must be at most {limits.MAX_PROMPT_CHARS} characters"
            )
        if model not in limits.OMNI_MODELS:
            raise KlingValidationError(
                "model", model, f"must be one of {', '.join(limits.OMNI_MODELS)}"
            )
        if mode not in limits.MODES:
            raise KlingValidationError("mode", mode, f"must be one of {', '.join(limits.MODES)}")
        refs = len(images) + len(elements)
        if refs > limits.OMNI_MAX_REFS_WITH_VIDEO:
            raise KlingValidationError(
                "images+elements",
                refs,
                f"at most {limits.OMNI_MAX_REFS_WITH_VIDEO} with a reference video",
            )
        problems = self.source.check("omni")
        if problems:
            v = problems[0]
            raise KlingValidationError(
                v.field, v.value, f"{v.rule} (Omni-Video's limits for the clip to edit)"
            )
        if self._url_problem:
            raise KlingValidationError("video_url", None, self._url_problem)

    def wait(self, task: Any = None, timeout: float = 600) -> Path:
        """Wait for the task (the last one by default), download it; returns the file path."""
        return self._task_worker.submit(self._do_wait, task, timeout).result()

    def conform(self) -> Any:
        """Replace the clip by a copy that meets Kling's limits (before anything is uploaded)."""
        from kling_widget.workflow import Project

        source = self.source
        dest = self._root_dir / "conformed" / f"{source.path.stem}-conformed.mp4"
        self._set_status("Conforming the clip to Kling's limits…", "busy")

        def progress(fraction: float) -> None:
            self._set_status(f"Conforming the clip to Kling's limits… {fraction:.0%}", "busy")

        new_source = self._reporting(
            "conform the clip", lambda: source.conform(dest, on_progress=progress)
        )()
        client = self._project.client
        old_frames = self._frames
        self._project = Project(
            new_source.path,
            client,
            video_url=None,
            uploader=self._uploader,
            root=self._root_dir,
            on_status=self._project_status_cb,
        )
        old_view, old_strip = self.view, self.strip
        self._attach_clip()
        old_view.close()
        old_strip.canvas.close()
        with contextlib.suppress(Exception):
            old_frames.close()
        self._show(0)
        self._set_status(
            f"Conformed: {new_source.width}x{new_source.height}, {new_source.fps:g} fps, "
            f"{new_source.duration:.2f} s ({new_source.path}). Click the object to edit.",
            "ok",
        )
        return new_source

    def close(self) -> None:
        """Stop the worker threads and close the widgets."""
        self._closed = True
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._task_worker.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._frames.close()
        self.view.close()
        _close_tree(self.widget)
        with contextlib.suppress(Exception):
            self._project.close()

    # --- internals: status and errors ---------------------------------------------------
    def _set_status(self, text: str, level: str = "info") -> None:
        self._status_text = text
        self.controls.set_status(text, level)

    def _project_status_cb(self, text: str) -> None:
        # Project reports progress (upload, session rebuilt...) from the worker thread.
        if hasattr(self, "controls"):
            self._set_status(text, "busy")

    def _on_project_status(self, text: str) -> None:  # kept for subclass hooks
        self._project_status_cb(text)

    def _guard(self, action: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run a UI handler: any failure goes to the status line, nothing is raised."""
        try:
            fn(*args)
        except Exception as exc:
            self._set_status(explain(action, exc), "error")

    def _reporting(self, action: str, fn: Callable[[], T]) -> Callable[[], T]:
        """Wrap ``fn`` so a failure is shown in the status line, then re-raised."""

        def run() -> T:
            try:
                return fn()
            except Exception as exc:
                self._set_status(explain(action, exc), "error")
                raise

        return run

    def _check_ready(self) -> None:
        if self._violations:
            v = self._violations[0]
            raise KlingValidationError(
                v.field,
                v.value,
                f"{v.rule}; the clip breaks Kling's limits, so call ed.conform() "
                "(or press Conform) first",
            )
        if self._url_problem:
            raise KlingValidationError("video_url", None, self._url_problem)

    # --- internals: frame indices -------------------------------------------------------
    def _api_index(self, frame: int) -> int:
        session = self._project.session
        api_fps = getattr(session, "fps", None)
        api_total = getattr(session, "total_frame", None)
        if not api_fps or not api_total or abs(api_fps - self.source.fps) < 1e-6:
            return frame
        from kling_widget.media.frames import local_to_api_index

        return int(local_to_api_index(frame, self.source.fps, api_fps, api_total))

    def _local_index(self, api_frame: int) -> int:
        session = self._project.session
        api_fps = getattr(session, "fps", None)
        n: int = self.source.frame_count
        if not api_fps or abs(api_fps - self.source.fps) < 1e-6:
            return min(max(0, int(api_frame)), n - 1)
        from kling_widget.media.frames import api_to_local_index

        local: int = api_to_local_index(int(api_frame), float(api_fps), self.source.fps, n)
        return local

    # --- internals: drawing -------------------------------------------------------------
    def _show(self, frame: int) -> None:
        """Put ``frame`` on screen: cached JPEG, cached mask PNG, points, strip marks."""
        st = self.state
        st.frame = frame
        frames = self._frames
        self.view.show_frame(frame, lambda: frames.get_jpeg(frame))
        self._draw_masks(frame)
        self._draw_points(frame)
        self._draw_strip()
        self.controls.frame_label.value = time_label(frame, st.frame_count, st.fps)

    def _draw_masks(self, frame: int) -> None:
        with self.state._lock:
            has = frame in self.state.masks
            key = (frame, self.state.version(frame))
        self.view.show_masks(key if has else None, lambda: self._mask_png(key))

    def _draw_points(self, frame: int) -> None:
        with self.state._lock:
            pts = list(self.state.points.get(frame, []))
            pending = list(self.state.pending.get(frame, []))
        self.view.show_points(pts, pending)

    def _draw_strip(self) -> None:
        self.strip.draw(self.state.marked_frames(), self.state.tracked_frames(), self.state.frame)

    def _mask_png(self, key: tuple[int, int]) -> bytes | None:
        """The mask layer PNG of (frame, version), rendered once and cached."""
        png = self._png_cache.get(key)
        if png is not None:
            return png
        frame, version = key
        with self.state._lock:
            fm = self.state.masks.get(frame)
            if fm is None or self.state.version(frame) != version:
                return None
            arrays, ids = list(fm.arrays), list(fm.object_ids)
        colors = [self._color_of(oid) for oid in ids]
        png = mask_png(label_map(arrays, colors, self.view.size))
        self._png_cache[key] = png
        return png

    def _color_of(self, object_id: object) -> int:
        with self._lock:
            if object_id not in self._colors:
                self._colors[object_id] = len(self._colors)
            return self._colors[object_id]

    def _store_masks(self, frame: int, masks: Sequence[Any], source: str) -> None:
        """Decode a reply's masks for ``frame`` and record them (full resolution)."""
        shape = (self.source.height, self.source.width)
        arrays = [m.to_array(shape) for m in masks]
        ids: list[object] = [
            m.object_id if m.object_id is not None else i for i, m in enumerate(masks)
        ]
        self._set_frame_masks(frame, ids, arrays, source)

    def _set_frame_masks(
        self, frame: int, ids: list[object], arrays: list[np.ndarray], source: str
    ) -> None:
        st = self.state
        with st._lock:
            old = (frame, st.version(frame))
            if arrays:
                st.set_masks(frame, FrameMasks(ids, arrays, source))  # type: ignore[arg-type]
            else:
                st.clear_masks(frame)
            self._png_cache.pop(old, None)
        self.view.forget_masks(lambda k: k[0] == frame)

    def _masks_changed(self, frame: int) -> None:
        """Redraw after a reply: the new mask at once when its frame is on screen."""
        if frame == self.state.frame:
            self._draw_masks(frame)
            self._draw_points(frame)
        self._draw_strip()

    # --- internals: selection -----------------------------------------------------------
    def _click(self, x: float, y: float) -> None:
        frame = self.state.frame
        if self.state.tool == "add":
            self._submit_select(frame, [(x, y)])
            return
        target = self.state.point_to_remove(frame, (x, y))
        if target is None:
            self._set_status(
                f"Frame {frame} has no point to remove; switch to Add to add one.", "info"
            )
            return
        self._submit_unselect(frame, [target])

    def _submit_select(self, frame: int, points: Iterable[Any]) -> Future[Any]:
        frame = check_frame(frame, self.source.frame_count)
        pts = check_points(points)
        self._check_ready()
        self.state.check_can_add(frame, len(pts))
        self.state.add_pending(frame, pts)
        if frame == self.state.frame:
            self._draw_points(frame)
        self._draw_strip()
        return self._worker.submit(self._do_select, frame, pts)

    def _submit_unselect(self, frame: int, points: Iterable[Any]) -> Future[Any]:
        frame = check_frame(frame, self.source.frame_count)
        pts = check_points(points)
        self._check_ready()
        with self.state._lock:
            have = self.state.points.get(frame, [])
            missing = [p for p in pts if p not in have]
        if missing:
            raise KlingValidationError(
                "points",
                missing,
                f"not among the points of frame {frame} ({have}); delete-selection needs "
                "the exact coordinates that were added",
            )
        return self._worker.submit(self._do_unselect, frame, pts)

    def _do_select(self, frame: int, pts: list[Point]) -> Any:
        try:
            self._set_status(f"Selecting on frame {frame}…", "busy")
            self._project.ensure_session()
            selection = self._project.select(self._api_index(frame), pts)
        except Exception as exc:
            self.state.drop_pending(frame, pts)
            self._masks_changed(frame)
            self._set_status(explain(f"select on frame {frame}", exc), "error")
            raise
        self.apply_selection(frame, pts, selection)
        n = len(selection.masks)
        self._set_status(
            f"Frame {frame}: {n} object{'s' if n != 1 else ''} selected. Click more, "
            "Preview to track it, or Create.",
            "ok",
        )
        return selection

    def apply_selection(self, frame: int, pts: Sequence[Point], selection: Any) -> None:
        """Show a selection reply: decode its masks, redraw the mask layer and the points.

        This is the whole Python-side cost of a click once the server has answered.
        """
        self._store_masks(frame, selection.masks, "selection")
        self.state.confirm_add(frame, pts)
        self._masks_changed(frame)

    def _do_unselect(self, frame: int, pts: list[Point]) -> Any:
        try:
            self._set_status(f"Removing a point on frame {frame}…", "busy")
            selection = self._project.unselect(self._api_index(frame), pts)
            self.state.confirm_remove(frame, pts)
            self._store_masks(frame, selection.masks, "selection")
        except Exception as exc:
            self._set_status(explain(f"remove the point on frame {frame}", exc), "error")
            raise
        self._masks_changed(frame)
        self._set_status(f"Point removed from frame {frame}.", "ok")
        return selection

    def _do_clear(self) -> None:
        try:
            self._set_status("Clearing the selection…", "busy")
            if self._project.session is not None or self.state.marked_frames():
                self._project.clear()
        except Exception as exc:
            self._set_status(explain("clear the selection", exc), "error")
            raise
        with self.state._lock:
            frames = list(self.state.masks)
            self.state.clear_all()
            self._png_cache.clear()
        self.view.forget_masks(lambda k: True)
        self._preview = None
        self.controls.preview_out.value = ""
        for f in frames:
            self._masks_changed(f)
        self._masks_changed(self.state.frame)
        self._set_status("Selection cleared.", "ok")

    def _do_preview(self) -> Any:
        try:
            if not self.state.points:
                raise KlingValidationError(
                    "selection", "no points", "preview needs a selected object: click it first"
                )
            self._set_status("Tracking the selection over the clip…", "busy")
            preview = self._project.preview()
            self._preview = preview
            tracked = load_tracking(
                preview, (self.source.height, self.source.width), self._local_index
            )
        except Exception as exc:
            self._set_status(explain("preview the selection", exc), "error")
            raise
        self.state.clear_masks(source="tracked")
        for frame, (ids, arrays) in tracked.items():
            self._set_frame_masks(frame, ids, arrays, "tracked")
        self._show_preview_links(preview)
        self._draw_masks(self.state.frame)
        self._draw_strip()
        # Render every frame's mask PNG now, so playing and scrubbing only read the cache.
        for frame in sorted(tracked):
            with self.state._lock:
                key = (frame, self.state.version(frame))
            self._mask_png(key)
        if tracked:
            self._set_status(
                f"Preview: the object is tracked on {len(tracked)} of "
                f"{self.source.frame_count} frames (marked on the strip). Press Create.",
                "ok",
            )
        else:
            self._set_status(
                "Preview ready: the tracked masks are shown in the preview video below.", "ok"
            )
        return preview

    def _show_preview_links(self, preview: Any) -> None:
        url = getattr(preview, "video_url", None)
        if url:
            self.controls.preview_out.value = (
                f"<a href='{url}' target='_blank' rel='noopener'>Open the preview video</a> "
                "(the clip with the tracked masks drawn by Kling)"
            )

    # --- internals: create / wait -------------------------------------------------------
    def _do_wait(self, task: Any, timeout: float) -> Path:
        task = task if task is not None else self._task
        if task is None:
            raise KlingValidationError("task", None, "nothing to wait for: create an edit first")
        started = time.monotonic()
        stop = threading.Event()
        state: dict[str, Any] = {"status": getattr(task, "status", "submitted")}

        def tick() -> None:
            while not stop.wait(0.5):
                self._show_task_progress(state["status"], time.monotonic() - started)

        ticker = threading.Thread(target=tick, name="kling-editor-ticker", daemon=True)
        ticker.start()

        def on_progress(t: Any = None, *args: Any) -> None:
            status = getattr(t, "status", None)
            if status:
                state["status"] = status
            self._show_task_progress(state["status"], time.monotonic() - started)

        try:
            self._show_task_progress(state["status"], 0.0)
            final = self._project.wait(task, timeout=timeout, on_progress=on_progress)
            self._task = final
            if not getattr(final, "succeeded", False):
                msg = getattr(final, "status_msg", None) or "no reason given"
                raise KlingTaskFailedError(
                    f"task {final.task_id} failed: {msg}", task_id=final.task_id
                )
            self._set_status("Downloading the result…", "busy")
            path = Path(self._project.download(final))
        except Exception as exc:
            stop.set()
            self.controls.show_progress(False)
            self._set_status(explain("finish the edit", exc), "error")
            raise
        finally:
            stop.set()
        self._result = path
        elapsed = time.monotonic() - started
        self.controls.show_progress(False, 100, f"done in {elapsed:.0f} s")
        self._show_result(path)
        self._set_status(f"Done: the edited clip is at {path}", "ok")
        return path

    def _show_task_progress(self, status: str, elapsed: float) -> None:
        # Kling reports no percentage; the bar shows the phase and creeps while rendering.
        if status == "submitted":
            pct = 10
        elif status == "processing":
            pct = 25 + int(65 * (1 - np.exp(-elapsed / 60)))
        else:
            pct = 100
        self.controls.show_progress(True, pct, f"{status} · {elapsed:.0f} s")
        self._status_text = f"Task {status}, {elapsed:.0f} s elapsed…"
        self.controls.set_status(self._status_text, "busy")

    def _show_result(self, path: Path) -> None:
        """The edit next to the original, both playing inline, and where the file is."""
        caption = "<div style='font:600 13px sans-serif;margin:2px 0'>{}</div>"

        def pane(title: str, data: bytes, autoplay: bool, width: str) -> widgets.VBox:
            video = widgets.Video(
                value=data,
                format="mp4",
                autoplay=autoplay,
                loop=True,
                controls=True,
                layout=widgets.Layout(width="100%"),
            )
            if title == "After":
                video.add_class("kling-result-video")
            return widgets.VBox(
                [widgets.HTML(caption.format(title)), video], layout=widgets.Layout(width=width)
            )

        after = path.read_bytes()
        if self.source.path.stat().st_size > MAX_INLINE_VIDEO_BYTES:
            # Too big to send to the browser as well: the edit is shown alone.
            panes = [pane("After", after, True, "100%")]
        else:
            panes = [
                pane("Before", self.source.path.read_bytes(), False, "50%"),
                pane("After", after, True, "50%"),
            ]
        self.controls.result.children = [
            widgets.HBox(panes, layout=widgets.Layout(width="100%")),
            widgets.HTML(f"<div style='font:12px monospace'>Saved to {_escape(str(path))}</div>"),
        ]

    # --- internals: UI handlers ---------------------------------------------------------
    def _clear_clicked(self) -> None:
        self._check_ready()
        self._worker.submit(self._do_clear)

    def _preview_clicked(self) -> None:
        self._check_ready()
        self._worker.submit(self._do_preview)

    def _mode_changed(self, edit_mode: str) -> None:
        if not self._prompt_edited or self.controls.prompt_is_template():
            self.controls.reset_prompt_for(edit_mode)
            self._prompt_edited = False

    def _prompt_changed(self, change: Mapping[str, Any]) -> None:
        self._prompt_edited = not self.controls.prompt_is_template()

    def _uploaded(self, value: Sequence[Any]) -> None:
        from kling_widget.media.images import ReferenceImage

        self._images = []
        items = []
        for f in value:
            name = str(f["name"]) if isinstance(f, Mapping) else str(getattr(f, "name", ""))
            content = f["content"] if isinstance(f, Mapping) else f.content
            data = bytes(content)
            try:
                problems = [str(v) for v in ReferenceImage.load(data).check()]
                thumb = thumbnail_png(data)
            except Exception as exc:
                problems, thumb = [f"cannot be read as an image: {exc}"], b""
            self._images.append((name, data))
            items.append((name, thumb, problems))
        self.controls.set_thumbnails(items)

    def _create_clicked(self) -> None:
        c = self.controls
        edit_mode = str(c.edit_mode.value)
        if edit_mode == OMNI_MODE:
            self._omni_clicked()
            return
        images = [data for _, data in self._images]
        images = images[: limits.EDIT_MODE_IMAGES[edit_mode][1]]
        prompt = None if c.prompt_is_template() else str(c.prompt.value)
        c.create_button.disabled = True

        def run() -> None:
            try:
                task = self.create(
                    edit_mode,
                    prompt=prompt,
                    images=images,
                    negative_prompt=str(c.negative_prompt.value) or None,
                    mode=str(c.quality.value),
                )
                self._do_wait(task, 600)
            except Exception as exc:
                if not self._status_text.startswith("Could not"):
                    self._set_status(explain("create the edit", exc), "error")
            finally:
                c.create_button.disabled = False

        # Validation errors are reported at once; the rest runs off the kernel's thread.
        self._validate_create(edit_mode, images, prompt)
        self._task_worker.submit(run)

    def _omni_clicked(self) -> None:
        c = self.controls
        images = [data for _, data in self._images][: limits.OMNI_MAX_REFS_WITH_VIDEO]
        prompt, mode = str(c.prompt.value), str(c.quality.value)
        # Validation errors are reported at once; the rest runs off the kernel's thread.
        self._check_omni(prompt, images, [], "kling-v3-omni", mode)
        c.create_button.disabled = True

        def run() -> None:
            try:
                task = self.omni(prompt, images=images, mode=mode)
                self._do_wait(task, 600)
            except Exception as exc:
                if not self._status_text.startswith("Could not"):
                    self._set_status(explain("create the Omni prompt edit", exc), "error")
            finally:
                c.create_button.disabled = False

        self._task_worker.submit(run)

    def _validate_create(self, edit_mode: str, images: Sequence[bytes], prompt: str | None) -> None:
        try:
            self._check_ready()
            lo, hi = limits.EDIT_MODE_IMAGES[edit_mode]
            if not lo <= len(images) <= hi:
                want = f"exactly {lo}" if lo == hi else f"{lo} to {hi}"
                raise KlingValidationError(
                    "images",
                    f"{len(images)} image(s)",
                    f"{edit_mode} takes {want} reference images; use Reference to upload",
                )
            if edit_mode != "addition" and not self.state.marked_frames():
                raise KlingValidationError(
                    "selection",
                    "no points",
                    f"{edit_mode} needs a selected object: click it on the frame first",
                )
        except Exception:
            self.controls.create_button.disabled = False
            raise

    def _conform_clicked(self) -> None:
        # Re-encoding takes seconds: off the kernel's thread, progress in the status line.
        self.controls.conform_button.disabled = True

        def run() -> None:
            # conform() has already put any failure in the status line.
            with contextlib.suppress(Exception):
                self.conform()
            self.controls.conform_button.disabled = False

        self._worker.submit(run)


def _close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (only ours: never ``Widget.close_all``)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _escape(text: str) -> str:
    import html

    return html.escape(text)
