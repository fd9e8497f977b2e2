"""The editor's working aids, wired to one ``Editor``: undo / redo, the object list, keys,
playback, compare, mask export and the task history.

Each aid lives in its own module (``history``, ``objects_controller``, ``keys``, ``playback``,
``outputs``); :class:`Workbench` connects them to the editor's controller and screen and
puts their widgets in the editor's layout (``mount``). :class:`WorkbenchAPI` is the part
of ``Editor``'s public API they add: ``ed.objects``, ``ed.undo()``, ``ed.redo()``,
``ed.play()``, ``ed.pause()``, ``ed.compare(a, b)``, ``ed.export_masks(dest, format)``,
``ed.rename_object``, ``ed.hide_object``, ``ed.delete_object``.

Threads: undo, redo, object deletes, exports and fetching the preview video run on one
"history" worker, which first waits for the selection worker's queue (a click made just
before Ctrl+Z is undone, not the one before it). Their selection calls go through the
controller like clicks do, so the journal and the canvas see them. The controller tells
this module of every selection change it made; the ones undo / redo did not ask for
(clicks, Clear, scripts) are recorded for undo, in ``undo.jsonl`` next to the journal. A
refresh thread redraws the object list when masks change and the task history while a
task runs.

Knows the editor only as :class:`WorkbenchHost` (``Editor`` is one, and inherits
:class:`WorkbenchAPI`). Imports its sibling modules; never ``editor.editor``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

import ipywidgets as widgets

from kling_widget.api.models import Preview, Selection
from kling_widget.editor.compare import Compare
from kling_widget.editor.history import (
    Call,
    Change,
    History,
    HistoryLog,
    JsonLinesLog,
    MemoryLog,
    Step,
    replay_script,
)
from kling_widget.editor.keys import Action, HelpPopover, Keys
from kling_widget.editor.objects import ObjectId, ObjectInfo
from kling_widget.editor.objects_controller import ObjectList, ObjectListHost
from kling_widget.editor.outputs import Outputs, OutputsHost, VideoRef
from kling_widget.editor.playback import Player, frames_in_flight
from kling_widget.media.export import ExportResult

T = TypeVar("T")
Point = tuple[float, float]

__all__ = ["UNDO_FILE", "Workbench", "WorkbenchAPI", "WorkbenchHost"]

UNDO_FILE = "undo.jsonl"
REFRESH_S = 0.5  # how often the refresh thread looks for new masks
TASKS_REFRESH_S = 1.0  # and for task changes in the journal
ECHO_TIMEOUT_S = 0.5  # a frame the browser never answered for is taken as shown


class WorkbenchHost(ObjectListHost, OutputsHost, Protocol):
    """What the working aids use of the editor (the object list's and outputs' needs too)."""

    widget: widgets.VBox

    def check_ready(self, violations: bool = True) -> None:
        """Raise (naming the problem) when nothing may be sent yet."""

    def seek(self, frame: int) -> None:
        """Show ``frame`` and move the slider there."""

    def submit_select(self, frame: int, points: Sequence[Point]) -> Future[Selection]:
        """Queue add-selection of ``points`` on ``frame``."""


class _SelectionOps:
    """The calls undo and redo make: the controller's, awaited on the history worker."""

    def __init__(self, bench: Workbench) -> None:
        self.bench = bench

    def select(self, frame: int, points: Sequence[Point]) -> object:
        self.bench.expect("add", frame, points)
        return self.bench.ed.submit_select(frame, list(points)).result()

    def unselect(self, frame: int, points: Sequence[Point]) -> object:
        self.bench.expect("delete", frame, points)
        self.bench.ed.check_ready(violations=False)
        return self.bench.ed.controller.submit_unselect(frame, list(points)).result()

    def clear(self) -> object:
        self.bench.expect("clear", None, ())
        self.bench.ed.check_ready(violations=False)
        return self.bench.ed.controller.submit_clear().result()

    def current_points(self) -> Mapping[int, Sequence[Point]]:
        return self.bench.ed.state.all_points()

    def calls_since_clear(self) -> Sequence[tuple[str, int | None, Sequence[Point]]]:
        return self.bench.journal_calls()


class Workbench:
    """Undo / redo, objects, keys, playback, compare, export and task history of ``editor``."""

    history: History
    player: Player
    keys: Keys

    def __init__(self, editor: WorkbenchHost) -> None:
        self.ed = editor
        self._lock = threading.RLock()
        self._expected: list[tuple[str, int | None, tuple[Point, ...]]] = []
        # Frames put on the slider during playback whose echo has not come back, in order.
        self._in_flight: deque[int] = deque()
        self._sent_at = 0.0
        self._echoes = False
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="kling-editor-history")
        self._stop = threading.Event()
        small = widgets.Layout(width="auto")
        self.undo_button = widgets.Button(description="Undo", icon="undo", layout=small)
        self.redo_button = widgets.Button(description="Redo", icon="repeat", layout=small)
        self.play_button = widgets.Button(
            description="Play", icon="play", tooltip="Play / pause (Space)", layout=small
        )
        for w, css in ((self.undo_button, "undo"), (self.redo_button, "redo")):
            w.add_class(f"kling-{css}")
        self.play_button.add_class("kling-play")
        self.undo_button.on_click(lambda _: self._guard("undo", self.submit_undo))
        self.redo_button.on_click(lambda _: self._guard("redo", self.submit_redo))
        self.play_button.on_click(lambda _: self._guard("play", self.toggle_play))
        self.help = HelpPopover()
        self.object_list = ObjectList(editor, lambda: self.history, self.submit)
        self.outputs = Outputs(editor, self._labels, self.submit)
        self.panel = widgets.VBox(
            [
                self.help.panel,
                self.object_list.panel.widget,
                self.outputs.export_row,
                self.outputs.preview_box,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.panel.add_class("kling-workbench")
        self.attach()
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="kling-editor-refresh", daemon=True
        )
        self._refresher.start()

    def attach(self) -> None:
        """Connect to the editor's (new) controller and clip (again after a conform)."""
        ed = self.ed
        project = ed.controller.project
        log: HistoryLog = MemoryLog()
        if project is not None and not ed.read_only:
            log = JsonLinesLog(Path(project.folder) / UNDO_FILE)
        self.history = History(_SelectionOps(self), log, on_change=self._update_buttons)
        self.object_list.attach()
        ed.controller.selection_listeners.append(self._selection_changed)
        ed.screen.on_preview = self._preview_arrived
        ed.screen.on_result = self.outputs.show_result
        ed.controls.edit_mode.observe(lambda _: self.object_list.follow_names(), "value")
        old_player: Player | None = vars(self).get("player")
        if old_player is not None:
            old_player.pause()
        self._max_in_flight = frames_in_flight(ed.source.fps)
        self.player = Player(
            self._play_frame,
            ed.source.frame_count,
            ed.source.fps,
            on_state=self._playing_changed,
            on_error=lambda exc: ed.report("play the clip", exc),
            ready=self._browser_caught_up,
        )
        # The slider and the (hidden) Play widget are linked in the browser, so each
        # frame the player puts on the slider comes back as a Play value once the
        # browser has handled it: the echo that tells how far behind the browser is.
        ed.controls.play.observe(self._echoed, "value")
        old_keys: Keys | None = vars(self).get("keys")
        if old_keys is not None:
            old_keys.close()
        self.keys = Keys(
            ed.controls.stage,
            self._key_handlers(),
            on_error=lambda action, exc: ed.report(action.replace("_", " "), exc, "tools"),
        )
        self._update_buttons()

    def mount(self) -> None:
        """Put the widgets in the editor's layout: buttons in its rows, panels below."""
        c = self.ed.controls
        # The browser-side Play steps the slider on its own clock; the player keeps the
        # clip's rate and skips frames instead of falling behind.
        c.play.layout.display = "none"
        mine = (self.play_button, self.help.button)
        rest = [w for w in c.playback.children if w not in mine]
        c.playback.children = (self.play_button, *rest, self.help.button)
        extra = (self.undo_button, self.redo_button)
        c.tools.children = (*(w for w in c.tools.children if w not in extra), *extra)
        children = [
            w
            for w in self.ed.widget.children
            if w not in (self.panel, self.outputs.compare_box, self.outputs.tasks.widget)
        ]
        # Under the tool row (and its note): outside the stage, whose keys are the editor's.
        anchor = next((w for w in (c.notes["tools"], c.tools, c.stage) if w in children), None)
        at = children.index(anchor) + 1 if anchor is not None else len(children)
        children[at:at] = [self.panel]
        after = children.index(c.result) + 1 if c.result in children else len(children)
        children[after:after] = [self.outputs.compare_box, self.outputs.tasks.widget]
        self.ed.widget.children = tuple(children)
        self.refresh()
        with contextlib.suppress(Exception):
            self.outputs.refresh_tasks(force=True)

    def _key_handlers(self) -> dict[Action, Callable[[], object]]:
        ed = self.ed
        last = ed.source.frame_count - 1
        second = max(1, round(ed.source.fps))

        def go(to: Callable[[], int]) -> Callable[[], None]:
            def run() -> None:
                self.player.pause()
                ed.seek(min(last, max(0, to())))

            return run

        return {
            "prev_frame": go(lambda: ed.frame - 1),
            "next_frame": go(lambda: ed.frame + 1),
            "back_second": go(lambda: ed.frame - second),
            "forward_second": go(lambda: ed.frame + second),
            "first_frame": go(lambda: 0),
            "last_frame": go(lambda: last),
            "play_pause": self.toggle_play,
            "undo": self.submit_undo,
            "redo": self.submit_redo,
            "tool_add": lambda: setattr(ed.controls.tool, "value", "add"),
            "tool_remove": lambda: setattr(ed.controls.tool, "value", "remove"),
            "help": self.help.toggle,
        }

    # --- plumbing ---------------------------------------------------------------------
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the history worker, after the selection calls queued so far."""

        def run() -> T:
            self.ed.controller.run_on_api(lambda: None).result()
            return fn()

        return self._worker.submit(run)

    def _guard(self, action: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            self.ed.report(action, exc, "tools")

    def _labels(self) -> dict[ObjectId, str]:
        return {o.id: o.label for o in self.object_list.objects if o.label}

    # --- undo / redo ------------------------------------------------------------------
    def expect(self, op: str, frame: int | None, points: Sequence[Point]) -> None:
        """A selection call undo / redo is about to make (not to be recorded)."""
        with self._lock:
            self._expected.append((op, frame, tuple(points)))

    def _selection_changed(
        self,
        op: str,
        frame: int | None,
        points: Sequence[Point],
        wiped: Mapping[int, list[Point]],
    ) -> None:
        self.refresh()
        with self._lock:
            key = (op, frame, tuple(points))
            if key in self._expected:
                self._expected.remove(key)
                return
        n = len(points)
        if op in ("add", "delete") and frame is not None and points:
            label = f"{op} {n} point{'s' if n != 1 else ''} on frame {frame}"
            self.history.record(
                label, [Step("add" if op == "add" else "delete", frame, tuple(points))]
            )
        elif op == "clear" and wiped:
            # The journal ends with this clear: what it wiped is what came before it.
            script = replay_script(self.journal_calls(upto_last_clear=True))
            if not _adds_up(script, wiped):
                script = tuple(("add", f, tuple(p)) for f, p in wiped.items() if p)
            self.history.record("clear the selection", [Step("clear", wiped=script)])

    def journal_calls(
        self, upto_last_clear: bool = False
    ) -> list[tuple[str, int | None, Sequence[Point]]]:
        """The selection calls in the journal, in order, with the clip's frame indices."""
        ctrl = self.ed.controller
        if ctrl.project is None:
            return []
        calls: list[tuple[str, int | None, Sequence[Point]]] = [
            (o.op, None if o.frame_index is None else ctrl.local_index(o.frame_index), o.points)
            for o in ctrl.project.journal.ops(since_last_clear=False)
        ]
        if upto_last_clear:
            clears = [i for i, c in enumerate(calls) if c[0] == "clear"]
            calls = calls[: clears[-1]] if clears else calls
        return calls

    def submit_undo(self) -> Future[Change | None]:
        """Queue an undo (what Ctrl+Z and the Undo button do)."""
        self.ed.check_ready(violations=False)
        return self.submit(lambda: self._step("undo"))

    def submit_redo(self) -> Future[Change | None]:
        """Queue a redo (Shift+Ctrl+Z, the Redo button)."""
        self.ed.check_ready(violations=False)
        return self.submit(lambda: self._step("redo"))

    def _step(self, which: str) -> Change | None:
        try:
            change = self.history.undo() if which == "undo" else self.history.redo()
        except Exception as exc:
            self.ed.report(which, exc, "tools")
            raise
        finally:
            with self._lock:
                self._expected.clear()
        if change is None:
            self.ed.say(f"Nothing to {which}.", "info", "tools")
        else:
            self.ed.say(f"{'Undone' if which == 'undo' else 'Redone'}: {change.label}.", "ok")
        self.refresh()
        return change

    def _update_buttons(self) -> None:
        undo, redo = self.history.undo_label(), self.history.redo_label()
        self.undo_button.disabled = undo is None
        self.redo_button.disabled = redo is None
        self.undo_button.tooltip = f"Undo {undo} (Ctrl/⌘+Z)" if undo else "Nothing to undo"
        self.redo_button.tooltip = f"Redo {redo} (Shift+Ctrl/⌘+Z)" if redo else "Nothing to redo"

    def _preview_arrived(self, preview: Preview) -> None:
        self.refresh()
        self.outputs.show_preview(preview)

    # --- playback ---------------------------------------------------------------------
    def toggle_play(self) -> None:
        """Play from the frame on screen, or pause."""
        if self.player.playing:
            self.player.pause()
            return
        at_end = self.ed.frame >= self.ed.source.frame_count - 1
        with self._lock:
            self._in_flight.clear()
        self.player.play(start=0 if at_end else self.ed.frame)

    def _play_frame(self, frame: int) -> None:
        self.ed.screen.set_playing(True)
        if self.ed.controls.slider.value != frame:  # an unchanged slider is not echoed
            with self._lock:
                self._in_flight.append(frame)
                self._sent_at = time.monotonic()
        self.ed.seek(frame)

    def _echoed(self, change: Mapping[str, object]) -> None:
        # The browser may answer several frames with one echo (the latest): every frame
        # up to the one echoed has been handled.
        value = change.get("new")
        with self._lock:
            self._echoes = True
            if value in self._in_flight:
                while self._in_flight and self._in_flight.popleft() != value:
                    pass

    def _browser_caught_up(self) -> bool:
        """At most ``frames_in_flight`` frames unanswered; without echoes (no browser) no hold."""
        with self._lock:
            if not self._echoes or len(self._in_flight) < self._max_in_flight:
                return True
            # An answer lost (a view closed mid-play) must not stop playback.
            return time.monotonic() - self._sent_at > ECHO_TIMEOUT_S

    def _playing_changed(self, playing: bool) -> None:
        if not playing:
            self.ed.screen.set_playing(False)
        self.play_button.description = "Pause" if playing else "Play"
        self.play_button.icon = "pause" if playing else "play"

    # --- refresh ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the object list if the selection, its masks or the names changed."""
        self.object_list.refresh()

    def _refresh_loop(self) -> None:
        checked = 0.0
        while not self._stop.wait(REFRESH_S):
            with contextlib.suppress(Exception):
                self.refresh()
            if time.monotonic() - checked >= TASKS_REFRESH_S:
                checked = time.monotonic()
                with contextlib.suppress(Exception):
                    self.outputs.refresh_tasks()

    def close(self) -> None:
        """Stop playing, the refresh thread and the worker; close the panels."""
        self._stop.set()
        self.player.pause()
        self.keys.close()
        self._worker.shutdown(wait=False, cancel_futures=True)
        self.object_list.close()
        self.outputs.close()
        self.help.close()


def _adds_up(script: Sequence[Call], points: Mapping[int, list[Point]]) -> bool:
    """Whether sending ``script`` makes exactly ``points`` (frame -> points)."""
    made: dict[int, set[Point]] = {}
    for op, f, pts in script:
        if op == "add":
            made.setdefault(f, set()).update(pts)
        else:
            made.setdefault(f, set()).difference_update(pts)
    return {f: sorted(p) for f, p in made.items() if p} == {
        f: sorted(p) for f, p in points.items() if p
    }


class WorkbenchAPI:
    """The working aids' part of ``Editor``'s public API (``Editor`` inherits it)."""

    workbench: Workbench

    @property
    def objects(self) -> list[ObjectInfo]:
        """The selected objects: id, label, colour, frames with points, tracked frames."""
        return self.workbench.object_list.objects

    def rename_object(self, object_id: ObjectId, label: str) -> str:
        """Name an object; the name is used in the default prompt ("Delete the dog ...")."""
        return self.workbench.object_list.rename(object_id, label)

    def hide_object(self, object_id: ObjectId, hidden: bool = True) -> None:
        """Hide (or show again) an object's mask on the canvas; the selection is unchanged."""
        self.workbench.object_list.hide(object_id, hidden)

    def delete_object(self, object_id: ObjectId) -> Change:
        """Delete every point of an object (exact deletes; one change for undo)."""
        return self.workbench.submit(lambda: self.workbench.object_list.delete(object_id)).result()

    def undo(self) -> Change | None:
        """Undo the last selection change (add, delete, clear); ``None`` when none is left."""
        return self.workbench.submit_undo().result()

    def redo(self) -> Change | None:
        """Redo the last undone change; ``None`` when there is none."""
        return self.workbench.submit_redo().result()

    def play(self) -> None:
        """Play the clip in the canvas with its masks, at its frame rate (from the frame shown)."""
        if not self.workbench.player.playing:
            self.workbench.toggle_play()

    def pause(self) -> None:
        """Pause playback."""
        self.workbench.player.pause()

    def compare(self, a: VideoRef = "original", b: VideoRef = None) -> Compare:
        """Show two videos in one synchronized view under the editor; returns it.

        ``a`` and ``b``: ``"original"``, a path, a task of this clip (or its id), or ``None``
        for the latest result.
        """
        return self.workbench.outputs.compare(a, b)

    def export_masks(self, dest: str | Path, format: str = "coco") -> ExportResult:
        """Write the masks to ``dest``: ``"coco"`` (JSON, RLE), ``"png"`` (8-bit label
        images) or ``"matte"`` (an H.264 matte per object). The result says what it holds."""
        return self.workbench.outputs.export_masks(dest, format)
