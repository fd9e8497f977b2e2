"""The object list's controller: what is selected, by name, hidden or shown, deleted at once.

:class:`ObjectList` joins the model (:mod:`.objects`) and its view
(:mod:`.objects_panel`) to one editor: the objects come from the editor's state (points,
the masks of each frame, which frames were tracked), colours from the canvas's mask
layer, hiding goes to the mask layer, and deleting an object is one undoable change of
exact deletes through the history. Names and hidden flags are kept in
``objects.json`` in the project's folder, so they survive a restart. A name goes in the
default prompt ("Delete the dog from <<<video_1>>>") while the prompt box still holds a
prompt the editor wrote, and follows the names shown (an undo that removes the dog takes
it out of the prompt, its redo puts it back).

Undo, redo and the undo of a clear send points again, and the server may answer with new
object ids: each time the list is read, objects given back under a new id take their
label and colour back (:meth:`ObjectBook.recall`), from the points' last objects kept in
``objects.json`` as well, so this holds after a restart too.

Knows the editor only as :class:`ObjectListHost` (``Editor`` is one). Imports its
siblings ``objects``, ``objects_panel``, ``history``, ``controls``, ``controller``,
``screen`` and ``state``; never ``editor.editor``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kling_widget.editor.controller import EditorController
from kling_widget.editor.controls import OMNI_MODE, Controls
from kling_widget.editor.history import Change, History
from kling_widget.editor.objects import ObjectBook, ObjectId, ObjectInfo, subject_for
from kling_widget.editor.objects_panel import ObjectsPanel
from kling_widget.editor.screen import Screen
from kling_widget.editor.state import EditorState
from kling_widget.errors import KlingValidationError

__all__ = ["OBJECTS_FILE", "ObjectList", "ObjectListHost"]

OBJECTS_FILE = "objects.json"


class ObjectListHost(Protocol):
    """What the object list uses of the editor."""

    state: EditorState
    screen: Screen
    controls: Controls
    controller: EditorController

    @property
    def frame(self) -> int:
        """The frame on screen."""

    @property
    def read_only(self) -> bool:
        """True when the clip is open elsewhere and this view only shows it."""

    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """Show ``text`` in the status line (and next to the control ``near`` names)."""

    def report(self, action: str, exc: BaseException, near: str | None = None) -> None:
        """Show a failure of ``action`` in the user's words."""


class ObjectList:
    """The selected objects of ``editor``, and the panel listing them."""

    def __init__(
        self,
        editor: ObjectListHost,
        history: Callable[[], History],
        submit: Callable[[Callable[[], object]], object],
    ) -> None:
        self.ed = editor
        self._history = history
        self._labelled_prompt: str | None = None
        self._signature: object = None
        self._names: tuple[str, ...] = ()
        self._save_lock = threading.Lock()
        self.panel = ObjectsPanel(
            on_rename=self.rename,
            on_hide=self.hide,
            on_delete=lambda oid: submit(lambda: self.delete(oid)),
            on_error=lambda exc: editor.report("change that object", exc, "tools"),
        )
        self.attach()

    def attach(self) -> None:
        """A (new) clip: a fresh book with the mask layer's colours, names from its folder."""
        layer = self.ed.screen.mask_layer
        self.book = ObjectBook(
            colour_index=layer.color_index, set_colour_index=layer.set_color_index
        )
        path = self._path()
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.book.load_json(json.loads(path.read_text(encoding="utf-8")))
        self.ed.screen.mask_layer.set_hidden(self.book.hidden())
        self._signature = None
        self._names = ()

    def _path(self) -> Path | None:
        project = self.ed.controller.project
        return None if project is None else Path(project.folder) / OBJECTS_FILE

    def _save(self) -> None:
        path = self._path()
        if path is None or self.ed.read_only:
            return
        with self._save_lock:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(self.book.to_json()), encoding="utf-8")
            tmp.replace(path)

    # --- the list ---------------------------------------------------------------------
    @property
    def objects(self) -> list[ObjectInfo]:
        """Every object some frame's masks show: id, name, colour, frames, hidden."""
        state = self.ed.state
        tracked = state.tracked_frames()
        masks: dict[int, tuple[Sequence[object], Sequence[np.ndarray]]] = {}
        for f in sorted(set(state.marked_frames()) | set(tracked)):
            fm = state.frame_masks(f)
            if fm is not None:
                masks[f] = (list(fm.object_ids), list(fm.arrays))
        points = state.all_points()
        objs = self.book.objects(points, masks, tracked)
        taken = self.book.recall(objs)
        if taken:
            objs = self.book.objects(points, masks, tracked)
        if self.book.remember(objs) or taken:
            with contextlib.suppress(OSError):
                self._save()
        if taken:
            self.ed.screen.mask_layer.set_hidden(self.book.hidden())
            self.ed.screen.draw_masks(self.ed.frame)
        return objs

    def find(self, oid: ObjectId) -> ObjectInfo:
        """The object ``oid`` (an id as listed, or its text), or raise naming the choices."""
        objs = self.objects
        for info in objs:
            if info.id == oid or str(info.id) == str(oid):
                return info
        raise KlingValidationError(
            "object", oid, f"no such object; the objects are {[o.id for o in objs]}"
        )

    def refresh(self) -> None:
        """Redraw the panel when the points, masks, names or hidden flags changed."""
        state = self.ed.state
        frames = sorted(set(state.marked_frames()) | set(state.tracked_frames()))
        signature = (
            tuple((f, state.mask_key(f), tuple(state.points_on(f))) for f in frames),
            self.book.choices(),
        )
        if signature != self._signature:
            self._signature = signature
            objs = self.objects
            self.panel.update(objs)
            names = tuple(o.label for o in objs if o.label)
            if names != self._names:
                self._names = names
                self.follow_names()

    # --- what the user does -----------------------------------------------------------
    def rename(self, oid: ObjectId, label: str) -> str:
        """Name an object (``""`` removes the name); the name goes in the default prompt."""
        info = self.find(oid)
        text = self.book.rename(info.id, label)
        self._save()
        self.follow_names()
        self.refresh()
        return text

    def hide(self, oid: ObjectId, hidden: bool = True) -> None:
        """Hide (or show again) an object's mask on the canvas; its points stay selected."""
        info = self.find(oid)
        self.book.set_hidden(info.id, hidden)
        self._save()
        self.ed.screen.mask_layer.set_hidden(self.book.hidden())
        self.ed.screen.draw_masks(self.ed.frame)
        self.refresh()

    def delete(self, oid: ObjectId) -> Change:
        """Delete every point of an object: exact deletes, undone as one change."""
        info = self.find(oid)
        steps = info.delete_steps()
        if not steps:
            raise KlingValidationError(
                "object", oid, "it has no points of its own (it is only tracked): nothing to delete"
            )
        change = self._history().apply(f"delete {info.name}", steps)
        frames = ", ".join(map(str, info.point_frames))
        self.ed.say(f"Deleted {info.name} (its points on frame {frames}).", "ok", "tools")
        self.refresh()
        return change

    # --- the prompt -------------------------------------------------------------------
    def subject(self) -> str | None:
        """What the default prompt calls the selection, from the objects' names."""
        return subject_for(self.objects)

    def follow_names(self) -> None:
        """Put the names in the prompt box, unless the user wrote a prompt of their own."""
        c = self.ed.controls
        mode = str(c.edit_mode.value)
        if mode == OMNI_MODE:
            return
        ours = self._labelled_prompt is not None and c.prompt.value == self._labelled_prompt
        if not (ours or c.prompt_is_template()):
            return
        self._labelled_prompt = self.book.prompt_for(mode, self.objects)
        c.prompt.value = self._labelled_prompt

    def close(self) -> None:
        """Close the panel."""
        self.panel.close()
