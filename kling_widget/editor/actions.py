"""What each control does: handlers that call the ``Editor``'s public methods.

A button does what the matching Python call does. Handlers never raise: a refused action
is shown next to the control that was used (and in the status line), and notes left by an
earlier action are cleared when a new one starts. Long work (create and wait, conform)
runs on the editor's worker threads, never on the kernel's.

Knows the editor only as :class:`ActionsHost`, the part of it the handlers use (``Editor``
is one), so nothing here imports ``editor.editor``. Imports ``editor.controls``,
``editor.controller``, ``editor.view``, ``editor.state``, ``editor.messages`` and ``media``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Protocol

from kling_widget import rules
from kling_widget.api.models import Selection, Task
from kling_widget.editor import checks
from kling_widget.editor.controller import EditorController
from kling_widget.editor.controls import OMNI_MODE, Controls, thumbnail_png
from kling_widget.editor.messages import explain, image_problem
from kling_widget.editor.state import EditorState
from kling_widget.editor.view import FrameView, Strip
from kling_widget.media.images import ReferenceImage
from kling_widget.media.video import VideoSource


class ActionsHost(Protocol):
    """What the control handlers use of the editor."""

    source: VideoSource
    state: EditorState
    view: FrameView
    strip: Strip
    controls: Controls
    controller: EditorController

    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """Show ``text`` in the status line (and next to the control ``near`` names)."""

    def check_ready(self, violations: bool = True) -> None:
        """Raise (naming the problem) when nothing may be sent yet."""

    def show(self, frame: int) -> None:
        """Draw ``frame``."""

    def seek(self, frame: int) -> None:
        """Show ``frame`` and move the slider there."""

    def submit_select(self, frame: int, points: Sequence[tuple[float, float]]) -> Future[Selection]:
        """Queue add-selection of ``points`` on ``frame``."""

    def create(
        self,
        edit_mode: str,
        prompt: str | None = None,
        images: Sequence[bytes] | None = None,
        negative_prompt: str | None = None,
        mode: str = "std",
    ) -> Task:
        """Create a Multi-Elements task for the selection."""

    def omni(
        self, prompt: str, images: Sequence[bytes] | None = None, *, mode: str = "pro"
    ) -> Task:
        """Create an Omni-Video edit of the whole clip."""

    def conform(self) -> object:
        """Replace the clip by a copy that meets Kling's limits."""


class Actions:
    """The editor's control handlers, and the reference images the user uploaded."""

    def __init__(self, editor: ActionsHost) -> None:
        self.ed = editor
        self.images: list[tuple[str, ReferenceImage | bytes]] = []
        self._prompt_edited = False

    def guard(self, action: str, near: str | None, fn: Callable[[], object]) -> None:
        """Run a handler: a failure goes next to ``near`` and to the status line."""
        try:
            fn()
        except Exception as exc:
            self.ed.say(explain(action, exc), "error", near=near)

    def wire(self) -> None:
        """Connect every control of the editor's screen."""
        ed = self.ed
        c = ed.controls
        c.slider.observe(
            lambda ch: self.guard("show that frame", None, lambda: ed.show(ch["new"])), "value"
        )
        c.tool.observe(lambda ch: setattr(ed.state, "tool", ch["new"]), "value")
        c.clear_button.on_click(lambda _: self.guard("clear", "tools", self.clear))
        c.preview_button.on_click(lambda _: self.guard("preview", "tools", self.preview))
        c.opacity.observe(lambda ch: ed.view.set_opacity(ch["new"]), "value")
        c.edit_mode.observe(lambda ch: self.mode_changed(str(ch["new"])), "value")
        c.prompt.observe(lambda ch: self.prompt_changed(), "value")
        c.upload.observe(
            lambda ch: self.guard(
                "read the uploaded image", "references", lambda: self.uploaded(ch["new"])
            ),
            "value",
        )
        c.fix_button.on_click(
            lambda _: self.guard("fix the reference images", "references", self.fix)
        )
        c.create_button.on_click(lambda _: self.guard("create the edit", "create", self.create))
        c.conform_button.on_click(lambda _: self.guard("conform the clip", "clip", self.conform))

    def rewire_canvas(self) -> None:
        """Connect the (new) canvas and strip after the clip was replaced."""
        ed = self.ed
        ed.view.on_click(
            lambda x, y: self.guard("select that point", "tools", lambda: self.click(x, y))
        )
        ed.strip.on_seek(lambda f: self.guard("seek", None, lambda: ed.seek(f)))

    # --- selection --------------------------------------------------------------
    def click(self, x: float, y: float) -> None:
        """A click on the frame: add a point, or delete the nearest one (Remove tool)."""
        ed = self.ed
        ed.controls.note("tools", "")
        frame = ed.state.frame
        if ed.state.tool == "add":
            ed.submit_select(frame, [(x, y)])
            return
        target = ed.state.point_to_remove(frame, (x, y))
        if target is None:
            ed.say(
                f"Frame {frame} has no point to remove; switch to Add to add one.", "info", "tools"
            )
            return
        ed.check_ready()
        ed.controller.submit_unselect(frame, [target])

    def clear(self) -> None:
        self.ed.controls.note("tools", "")
        self.ed.check_ready()
        self.ed.controller.submit_clear()

    def preview(self) -> None:
        self.ed.controls.note("tools", "")
        self.ed.check_ready()
        self.ed.controller.submit_preview()

    # --- edit settings ----------------------------------------------------------
    def mode_changed(self, edit_mode: str) -> None:
        c = self.ed.controls
        c.note("edit", "")
        if not self._prompt_edited or c.prompt_is_template():
            c.reset_prompt_for(edit_mode)
            self._prompt_edited = False

    def prompt_changed(self) -> None:
        self._prompt_edited = not self.ed.controls.prompt_is_template()

    def uploaded(self, value: Sequence[object]) -> None:
        """New reference images: thumbnails, and each problem in words with a Fix offer."""
        self.images = []
        for f in value:
            name = str(f["name"]) if isinstance(f, Mapping) else str(getattr(f, "name", ""))
            content = f["content"] if isinstance(f, Mapping) else getattr(f, "content", b"")
            data = bytes(content)
            try:
                self.images.append((name, ReferenceImage.load(data)))
            except Exception as exc:
                self.images.append((name, data))
                self.ed.say(explain(f"read {name}", exc), "error", near="references")
        self.show_images()

    def show_images(self) -> None:
        items: list[tuple[str, bytes, Sequence[str]]] = []
        texts: list[str] = []
        for name, img in self.images:
            if isinstance(img, ReferenceImage):
                problems = [image_problem(v, img.width, img.height) for v in img.check()]
                items.append((name, thumbnail_png(img.data), problems))
                texts += problems
            else:
                items.append((name, b"", ["cannot be read as an image"]))
        self.ed.controls.set_thumbnails(items)
        self.ed.controls.note(
            "references", " ".join(dict.fromkeys(texts)), "error" if texts else "info"
        )

    def fix(self) -> None:
        """Replace every reference image that breaks a limit by its fixed copy."""
        fixed = [(n, i.fix() if isinstance(i, ReferenceImage) else i) for n, i in self.images]
        self.images = fixed
        self.show_images()
        if all(isinstance(i, ReferenceImage) and not i.check() for _, i in fixed):
            self.ed.controls.note(
                "references", "Fixed: the reference images meet Kling's limits.", "ok"
            )

    # --- create -----------------------------------------------------------------
    def create(self) -> None:
        """Create (and wait for) the edit the form describes; validation errors at once."""
        ed, c = self.ed, self.ed.controls
        c.clear_notes()
        c.show_progress(False)
        edit_mode = str(c.edit_mode.value)
        images: list[bytes] = [
            i.data if isinstance(i, ReferenceImage) else i for _, i in self.images
        ]
        mode = str(c.quality.value)
        if edit_mode == OMNI_MODE:
            prompt = str(c.prompt.value)
            checks.check_omni(ed.source, prompt, len(images), [], rules.DEFAULT_OMNI_MODEL, mode)
            ed.check_ready(violations=False)

            def send() -> object:
                return ed.omni(prompt, images=images, mode=mode)
        else:
            text: str | None = None if c.prompt_is_template() else str(c.prompt.value)
            negative = str(c.negative_prompt.value) or None
            checks.check_create(ed.state, ed.source, edit_mode, text, len(images), negative, mode)
            ed.check_ready()

            def send() -> object:
                return ed.create(
                    edit_mode, prompt=text, images=images, negative_prompt=negative, mode=mode
                )

        c.create_button.disabled = True

        def run() -> None:
            try:
                send()
                ed.controller.wait_here(None, 600)
            except Exception:  # already shown next to Create by the controller
                pass
            finally:
                c.create_button.disabled = False

        ed.controller.run_on_tasks(run)

    def conform(self) -> None:
        # Re-encoding takes seconds: off the kernel's thread, progress in the status line.
        c = self.ed.controls
        c.conform_button.disabled = True

        def run() -> None:
            try:
                self.ed.conform()
            except Exception:  # conform() has already shown the failure
                pass
            finally:
                c.conform_button.disabled = False

        self.ed.controller.run_on_api(run)
