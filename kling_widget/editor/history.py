"""Undo and redo of selection changes, as plain logic over a small operations protocol.

A :class:`Change` is what one user action did to the selection: one or more
:class:`Step` (add points on a frame, delete points on a frame, clear everything). Undo
issues the inverse steps through :class:`SelectionOps` (the same calls a click makes): the
inverse of an add is a delete of exactly the same points, the inverse of a delete re-adds
them, and the inverse of a clear sends again, in their order, the adds and deletes that
had made the selection it wiped (the server gives points to objects in the order they
come, so this rebuilds the same objects). Redo issues the steps again.

Every step is checked against the selection as it is now before it is sent, and skipped
when it is already in effect (the points are already gone, or already there). So an undo
that failed half-way (a dropped connection) can simply be retried, and a history that
lags the selection by one change after a crash never deletes points that are not there.

The history is written to a ``HistoryLog`` (:mod:`.history_log`: one entry per do / undo /
redo, replayed on load), so undo and redo survive a kernel restart.

Frame indices are whatever the ops use (the editor uses the clip's own). Imports only its
sibling ``history_log``: no widgets, no network, no journal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from kling_widget.editor.history_log import Entry, HistoryLog, JsonLinesLog, MemoryLog

Point = tuple[float, float]
StepOp = Literal["add", "delete", "clear"]
# One selection call as sent: ("add" | "delete", frame, points).
Call = tuple[StepOp, int, tuple[Point, ...]]

__all__ = [
    "Change",
    "History",
    "HistoryLog",
    "JsonLinesLog",
    "MemoryLog",
    "SelectionOps",
    "Step",
    "replay_script",
]

# Changes kept for undo; older ones are forgotten (the selection itself is unaffected).
DEFAULT_LIMIT = 200


class SelectionOps(Protocol):
    """The calls undo and redo make: the same ones a click or the Clear button makes."""

    def select(self, frame: int, points: Sequence[Point]) -> object:
        """Add ``points`` on ``frame`` (Kling's add-selection)."""
        ...

    def unselect(self, frame: int, points: Sequence[Point]) -> object:
        """Delete exactly ``points`` from ``frame`` (delete-selection)."""
        ...

    def clear(self) -> object:
        """Delete every point (clear-selection)."""
        ...

    def current_points(self) -> Mapping[int, Sequence[Point]]:
        """The selection as it is now: points per frame."""
        ...

    def calls_since_clear(self) -> Sequence[tuple[str, int | None, Sequence[Point]]]:
        """The ``(op, frame, points)`` calls sent since the last clear, in order."""
        ...


def _point(value: object) -> Point:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"point={value!r}: must be (x, y)")
    x, y = value
    if isinstance(x, bool) or isinstance(y, bool):
        raise ValueError(f"point={value!r}: x and y must be numbers")
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
        raise ValueError(f"point={value!r}: x and y must be numbers")
    return (float(x), float(y))


@dataclass(frozen=True)
class Step:
    """One selection call: ``add``/``delete`` points on ``frame``, or ``clear``.

    ``wiped`` is set on a clear: the ``(op, frame, points)`` calls that had made the
    selection it removed, in order (see :func:`replay_script`), so its undo can send them
    again.
    """

    op: StepOp
    frame: int | None = None
    points: tuple[Point, ...] = ()
    wiped: tuple[Call, ...] = ()

    def inverse(self) -> tuple[Step, ...]:
        """The steps that take the selection back to before this one."""
        if self.op == "add":
            return (Step("delete", self.frame, self.points),)
        if self.op == "delete":
            return (Step("add", self.frame, self.points),)
        return tuple(Step(op, f, pts) for op, f, pts in self.wiped)

    def to_json(self) -> Entry:
        """A JSON-ready dict (floats round-trip exactly through ``json``)."""
        out: Entry = {"op": self.op}
        if self.frame is not None:
            out["frame"] = self.frame
        if self.points:
            out["points"] = [list(p) for p in self.points]
        if self.wiped:
            out["wiped"] = [[op, f, [list(p) for p in pts]] for op, f, pts in self.wiped]
        return out

    @classmethod
    def from_json(cls, data: object) -> Step:
        """Parse what :meth:`to_json` wrote; ``ValueError`` on anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"step={data!r}: must be an object")
        op = data.get("op")
        if op not in ("add", "delete", "clear"):
            raise ValueError(f"step op={op!r}: must be add, delete or clear")
        frame = data.get("frame")
        if op != "clear" and (isinstance(frame, bool) or not isinstance(frame, int)):
            raise ValueError(f"step frame={frame!r}: must be an integer")
        raw_points = data.get("points", [])
        raw_wiped = data.get("wiped", [])
        if not isinstance(raw_points, list) or not isinstance(raw_wiped, list):
            raise ValueError(f"step={data!r}: points and wiped must be lists")
        wiped: list[Call] = []
        for item in raw_wiped:
            if (
                not isinstance(item, list)
                or len(item) != 3
                or item[0] not in ("add", "delete")
                or isinstance(item[1], bool)
                or not isinstance(item[1], int)
                or not isinstance(item[2], list)
            ):
                raise ValueError(f"wiped call={item!r}: must be [add|delete, frame, points]")
            op_name: StepOp = "add" if item[0] == "add" else "delete"
            wiped.append((op_name, item[1], tuple(_point(p) for p in item[2])))
        return cls(
            op,
            frame if op != "clear" else None,
            tuple(_point(p) for p in raw_points),
            tuple(wiped),
        )


@dataclass(frozen=True)
class Change:
    """What one user action did: its steps in order, and a label for the Undo button."""

    label: str
    steps: tuple[Step, ...]

    def inverse(self) -> tuple[Step, ...]:
        """The steps of its undo: each step's inverse, last step first."""
        return tuple(s for step in reversed(self.steps) for s in step.inverse())

    def to_json(self) -> Entry:
        """A JSON-ready dict."""
        return {"label": self.label, "steps": [s.to_json() for s in self.steps]}

    @classmethod
    def from_json(cls, data: object) -> Change:
        """Parse what :meth:`to_json` wrote; ``ValueError`` on anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"change={data!r}: must be an object")
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ValueError(f"change steps={steps!r}: must be a non-empty list")
        return cls(str(data.get("label", "")), tuple(Step.from_json(s) for s in steps))


def replay_script(
    ops: Iterable[tuple[str, int | None, Sequence[Point]]],
) -> tuple[Call, ...]:
    """The adds and deletes that made the current selection, in the order they were sent.

    ``ops`` are ``(op, frame, points)`` as sent (``"add"``, ``"delete"``, ``"clear"``);
    what came before the last clear is dropped, and so are points added twice and deletes
    of points that were not there. Sending the result again, in order, rebuilds the same
    selection the same way (the server assigns points to objects in the order they come,
    and a point deleted later still shaped the objects of the points sent after it).
    """
    script: list[Call] = []
    present: dict[int, set[Point]] = {}
    for op, frame, points in ops:
        if op == "clear":
            script.clear()
            present.clear()
            continue
        if frame is None or op not in ("add", "delete"):
            continue
        have = present.setdefault(frame, set())
        pts = list(dict.fromkeys(_point(p) for p in points))
        if op == "add":
            pts = [p for p in pts if p not in have]
            have.update(pts)
        else:
            pts = [p for p in pts if p in have]
            have.difference_update(pts)
        if pts:
            script.append(("add" if op == "add" else "delete", frame, tuple(pts)))
    return tuple(script)


# --- the history ----------------------------------------------------------------------


class History:
    """Undo and redo stacks of selection changes, made through ``ops`` and logged to ``log``.

    Use :meth:`add`, :meth:`delete`, :meth:`clear` (or :meth:`apply` for several steps as one
    change) instead of calling ``ops`` directly, so the change can be undone. Every method
    runs its calls synchronously; callers run it on their own worker thread.
    """

    def __init__(
        self,
        ops: SelectionOps,
        log: HistoryLog | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit={limit!r}: must be a positive integer")
        self._ops = ops
        self._log: HistoryLog = log if log is not None else MemoryLog()
        self._limit = limit
        self._undo: list[Change] = []
        self._redo: list[Change] = []
        self._lock = threading.RLock()
        self.on_change = on_change
        self._load()

    # --- state ------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """Whether there is a change to undo."""
        with self._lock:
            return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone change to redo."""
        with self._lock:
            return bool(self._redo)

    def undo_label(self) -> str | None:
        """What :meth:`undo` would undo (``None`` when nothing)."""
        with self._lock:
            return self._undo[-1].label if self._undo else None

    def redo_label(self) -> str | None:
        """What :meth:`redo` would redo (``None`` when nothing)."""
        with self._lock:
            return self._redo[-1].label if self._redo else None

    def undo_stack(self) -> list[Change]:
        """The changes that can be undone, oldest first."""
        with self._lock:
            return list(self._undo)

    def redo_stack(self) -> list[Change]:
        """The undone changes, the next to redo last."""
        with self._lock:
            return list(self._redo)

    # --- user changes -----------------------------------------------------------------
    def add(self, frame: int, points: Sequence[Point]) -> Change | None:
        """Add ``points`` on ``frame``; ``None`` when every point is already there."""
        with self._lock:
            have = set(self._points_on(frame))
            new = tuple(dict.fromkeys(p for p in map(_point, points) if p not in have))
            if not new:
                return None
            n = len(new)
            label = f"add {n} point{'s' if n != 1 else ''} on frame {frame}"
            return self.apply(label, [Step("add", frame, new)])

    def delete(self, frame: int, points: Sequence[Point]) -> Change:
        """Delete exactly ``points`` from ``frame``."""
        pts = tuple(dict.fromkeys(map(_point, points)))
        n = len(pts)
        label = f"delete {n} point{'s' if n != 1 else ''} on frame {frame}"
        return self.apply(label, [Step("delete", frame, pts)])

    def clear(self) -> Change | None:
        """Clear the selection, remembering it for undo; ``None`` when it was empty."""
        with self._lock:
            wiped = self._wiped()
            if not wiped:
                self._ops.clear()
                return None
            return self.apply("clear the selection", [Step("clear", wiped=wiped)])

    def apply(self, label: str, steps: Sequence[Step]) -> Change:
        """Make ``steps`` (in order) as one undoable change."""
        change = Change(label, tuple(steps))
        if not change.steps:
            raise ValueError("steps=[]: a change needs at least one step")
        with self._lock:
            self._run(change.steps, force=True)
            return self.record(label, change.steps)

    def record(self, label: str, steps: Sequence[Step]) -> Change:
        """Record a change someone else already made (a click sent by the editor)."""
        change = Change(label, tuple(steps))
        if not change.steps:
            raise ValueError("steps=[]: a change needs at least one step")
        with self._lock:
            self._push_undo(change)
            self._redo.clear()
            self._write({"action": "do", "change": change.to_json()})
        self._changed()
        return change

    # --- undo / redo ------------------------------------------------------------------
    def undo(self) -> Change | None:
        """Undo the last change; returns it, or ``None`` when there is nothing to undo."""
        with self._lock:
            if not self._undo:
                return None
            change = self._undo[-1]
            self._run(change.inverse(), force=False)
            self._undo.pop()
            self._redo.append(change)
            self._write({"action": "undo"})
        self._changed()
        return change

    def redo(self) -> Change | None:
        """Redo the last undone change; returns it, or ``None`` when there is none."""
        with self._lock:
            if not self._redo:
                return None
            change = self._redo[-1]
            self._run(change.steps, force=False)
            self._redo.pop()
            self._push_undo(change)
            self._write({"action": "redo"})
        self._changed()
        return change

    def forget(self) -> None:
        """Drop both stacks (the selection itself is unchanged)."""
        with self._lock:
            self._undo.clear()
            self._redo.clear()
            self._log.rewrite([])
        self._changed()

    # --- internals --------------------------------------------------------------------
    def _wiped(self) -> tuple[Call, ...]:
        """What a clear now would wipe: the calls that made the selection, in order.

        When those calls do not add up to the selection (it changed behind their back),
        the selection itself is kept, as one add per frame.
        """
        current = {
            int(f): sorted(_point(p) for p in pts)
            for f, pts in self._ops.current_points().items()
            if pts
        }
        script = replay_script(self._ops.calls_since_clear())
        rebuilt: dict[int, set[Point]] = {}
        for op, f, pts in script:
            if op == "add":
                rebuilt.setdefault(f, set()).update(pts)
            else:
                rebuilt.setdefault(f, set()).difference_update(pts)
        if {f: sorted(p) for f, p in rebuilt.items() if p} == current:
            return script
        points = self._ops.current_points()
        return tuple(("add", f, tuple(_point(p) for p in points[f])) for f in current)

    def _points_on(self, frame: int) -> list[Point]:
        return [_point(p) for p in self._ops.current_points().get(frame, [])]

    def _run(self, steps: Sequence[Step], *, force: bool) -> None:
        """Send ``steps``; unless ``force``, skip what is already in effect."""
        for step in steps:
            if step.op == "clear":
                if force or any(self._ops.current_points().values()):
                    self._ops.clear()
                continue
            assert step.frame is not None  # only a clear has no frame
            have = set(self._points_on(step.frame))
            if step.op == "add":
                pts = step.points if force else tuple(p for p in step.points if p not in have)
                if pts:
                    self._ops.select(step.frame, list(pts))
            else:
                pts = step.points if force else tuple(p for p in step.points if p in have)
                if pts:
                    self._ops.unselect(step.frame, list(pts))

    def _push_undo(self, change: Change) -> None:
        self._undo.append(change)
        del self._undo[: max(0, len(self._undo) - self._limit)]

    def _write(self, entry: Entry) -> None:
        self._log.append(entry)
        self._entries += 1
        if self._entries > 4 * self._limit:
            self._compact()

    def _compact(self) -> None:
        self._log.rewrite([self._snapshot()])
        self._entries = 1

    def _snapshot(self) -> Entry:
        return {
            "action": "snapshot",
            "undo": [c.to_json() for c in self._undo],
            "redo": [c.to_json() for c in self._redo],
        }

    def _load(self) -> None:
        entries = self._log.read()
        self._entries = len(entries)
        for entry in entries:
            try:
                self._replay(entry)
            except ValueError:
                # An entry this version cannot read: the history before it is dropped
                # rather than guessed (the selection itself lives in the journal).
                self._undo.clear()
                self._redo.clear()

    def _replay(self, entry: Entry) -> None:
        action = entry.get("action")
        if action == "do":
            self._push_undo(Change.from_json(entry.get("change")))
            self._redo.clear()
        elif action == "undo":
            if self._undo:
                self._redo.append(self._undo.pop())
        elif action == "redo":
            if self._redo:
                self._push_undo(self._redo.pop())
        elif action == "snapshot":
            undo, redo = entry.get("undo", []), entry.get("redo", [])
            if not isinstance(undo, list) or not isinstance(redo, list):
                raise ValueError(f"snapshot={entry!r}: undo and redo must be lists")
            self._undo = [Change.from_json(c) for c in undo][-self._limit :]
            self._redo = [Change.from_json(c) for c in redo]
        else:
            raise ValueError(f"history action={action!r}: unknown")

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
