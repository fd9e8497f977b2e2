"""The object list: what is selected, where, under which name, and whether it is shown.

Kling answers masks per frame with an ``object_id`` but does not say which point made
which object. A point belongs to the object whose mask covers it on that frame (the
server joins a click inside an object's mask to that object); a point no mask covers goes
to the object with the most mask pixels near it, and is left unowned only when its frame
has no mask at all yet (its reply has not arrived).

:class:`ObjectBook` holds what the user decides about objects (a label, hidden or shown)
and each object's colour (fixed on first sight, so an object keeps its colour on every
frame). A label names the object in the default prompt: "dog" gives
"Delete the dog from <<<video_1>>>" (:func:`subject_for`).

Object ids are the server's: points sent again (a redo, the undo of a clear or of a
delete) may come back as an object with a new id. So the book also remembers, per point,
the object it last belonged to with that object's label and colour; an object no label or
colour is known for, whose points were last seen in an object that is gone, takes that
object's label and colour (:meth:`ObjectBook.recall`).

Imports only NumPy, :mod:`kling_widget.rules`, :mod:`kling_widget.media.masks` and its
sibling :mod:`kling_widget.editor.history`; no widgets, no network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kling_widget import rules
from kling_widget.editor.history import Step
from kling_widget.media.masks import object_color

Point = tuple[float, float]
ObjectId = int | str
Colour = tuple[int, int, int]
FrameMasks = tuple[Sequence[object], Sequence[np.ndarray]]

__all__ = [
    "ObjectBook",
    "ObjectInfo",
    "assign_points",
    "point_owner",
    "subject_for",
]

# Half the side of the window searched around a point no mask covers (fraction of the
# frame's shorter side): a click on an object's edge still belongs to it.
NEAR_FRACTION = 0.03
# A label starting with one of these already says which object it means.
_DETERMINERS = frozenset(
    {
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "all",
        "both",
        "each",
    }
)
MAX_LABEL_CHARS = 80
# Points remembered with their object's label and colour; the oldest are forgotten first.
MAX_REMEMBERED = 5000


@dataclass(frozen=True)
class ObjectInfo:
    """One selected object as the object list shows it."""

    id: ObjectId
    label: str
    colour: Colour
    point_frames: tuple[int, ...]
    tracked_frames: tuple[int, ...]
    hidden: bool = False
    points: Mapping[int, tuple[Point, ...]] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The label, or ``"object <id>"`` when it has none."""
        return self.label or f"object {self.id}"

    @property
    def colour_hex(self) -> str:
        """The colour as ``#rrggbb`` (for a swatch)."""
        return "#{:02x}{:02x}{:02x}".format(*self.colour)

    def delete_steps(self) -> list[Step]:
        """The exact deletes that remove every point of this object (one per frame)."""
        return [Step("delete", f, pts) for f, pts in sorted(self.points.items()) if pts]


def _pixel(point: Point, shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    return min(h - 1, max(0, int(point[1] * h))), min(w - 1, max(0, int(point[0] * w)))


def point_owner(point: Point, ids: Sequence[object], arrays: Sequence[np.ndarray]) -> object:
    """The object ``point`` (normalized x, y) belongs to on a frame, or ``None``."""
    if not arrays:
        return None
    for oid, mask in zip(ids, arrays, strict=True):
        if mask.shape[0] and mask.shape[1] and mask[_pixel(point, mask.shape[:2])]:
            return oid
    best, best_count = None, 0
    for oid, mask in zip(ids, arrays, strict=True):
        h, w = mask.shape[:2]
        if not h or not w:
            continue
        r, c = _pixel(point, (h, w))
        half = max(1, int(NEAR_FRACTION * min(h, w)))
        window = mask[max(0, r - half) : r + half + 1, max(0, c - half) : c + half + 1]
        count = int(np.count_nonzero(window))
        if count > best_count:
            best, best_count = oid, count
    if best is not None:
        return best
    # Far from every mask: the object whose mask's centre is nearest (coarse grid).
    nearest, nearest_d = None, np.inf
    for oid, mask in zip(ids, arrays, strict=True):
        h, w = mask.shape[:2]
        step = max(1, min(h, w) // 64)
        ys, xs = np.nonzero(mask[::step, ::step])
        if ys.size == 0:
            continue
        cy, cx = (ys.mean() * step + 0.5) / h, (xs.mean() * step + 0.5) / w
        d = float(np.hypot((cx - point[0]) * w / h, cy - point[1]))
        if d < nearest_d:
            nearest, nearest_d = oid, d
    return nearest


def assign_points(
    points: Mapping[int, Sequence[Point]], masks: Mapping[int, FrameMasks]
) -> dict[object, dict[int, list[Point]]]:
    """Points per object per frame (frames whose masks are not known yet are left out)."""
    out: dict[object, dict[int, list[Point]]] = {}
    for frame, pts in points.items():
        found = masks.get(frame)
        if found is None:
            continue
        ids, arrays = found
        for p in pts:
            owner = point_owner(p, ids, arrays)
            if owner is not None:
                out.setdefault(owner, {}).setdefault(frame, []).append(p)
    return out


def _with_article(label: str) -> str:
    first = label.split()[0]
    if first[:1].isascii() and first[:1].islower() and first.lower() not in _DETERMINERS:
        return f"the {label}"
    return label


def subject_for(objects: Iterable[ObjectInfo]) -> str | None:
    """What the default prompt calls the selection; ``None`` for the rules' default.

    Labelled objects are named ("the dog and the ball"); unlabelled ones next to them
    are "the other selected object(s)"; with no label at all it is ``None`` (one object)
    or "the selected objects".
    """
    objs = list(objects)
    names = [_with_article(o.label) for o in objs if o.label]
    unnamed = len(objs) - len(names)
    if not names:
        return "the selected objects" if unnamed > 1 else None
    if unnamed:
        names.append("the other selected object" + ("s" if unnamed > 1 else ""))
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def check_label(label: str) -> str:
    """A label as stored: stripped, one line, at most ``MAX_LABEL_CHARS`` characters."""
    if not isinstance(label, str):
        raise TypeError(f"label={label!r}: must be a string")
    text = " ".join(label.split())
    if len(text) > MAX_LABEL_CHARS:
        raise ValueError(
            f"label={text[:20]!r}...: at most {MAX_LABEL_CHARS} characters (got {len(text)})"
        )
    return text


class ObjectBook:
    """Labels, hidden flags and colours of the objects of one clip (thread-safe)."""

    def __init__(
        self,
        colour_index: Callable[[object], int] | None = None,
        set_colour_index: Callable[[object, int], None] | None = None,
    ) -> None:
        self._labels: dict[object, str] = {}
        self._hidden: set[object] = set()
        self._colour_index: dict[object, int] = {}
        self._colour_source = colour_index
        self._colour_sink = set_colour_index
        # (frame, point) -> (object id, label, colour index) of the object it was last in.
        self._remembered: dict[tuple[int, Point], tuple[ObjectId, str, int]] = {}
        self._lock = threading.RLock()

    # --- colours ----------------------------------------------------------------------
    def colour_index(self, oid: object) -> int:
        """The palette index of ``oid`` (given on first sight, never changed).

        With a ``colour_index`` source (the canvas's mask layer), the list uses its
        colours, so a swatch always matches the mask on the frame.
        """
        if self._colour_source is not None:
            return self._colour_source(oid)
        with self._lock:
            if oid not in self._colour_index:
                self._colour_index[oid] = len(self._colour_index)
            return self._colour_index[oid]

    def colour(self, oid: object) -> Colour:
        """The RGB colour of ``oid``."""
        return object_color(self.colour_index(oid))

    def _set_colour_index(self, oid: object, index: int) -> None:
        if self._colour_sink is not None:
            self._colour_sink(oid, index)
        else:
            with self._lock:
                self._colour_index[oid] = index

    # --- user choices -----------------------------------------------------------------
    def rename(self, oid: ObjectId, label: str) -> str:
        """Set (or with ``""`` remove) the label of ``oid``; returns the stored label."""
        text = check_label(label)
        with self._lock:
            if text:
                self._labels[oid] = text
            else:
                self._labels.pop(oid, None)
            for key, (owner, _, colour) in self._remembered.items():
                if owner == oid:
                    self._remembered[key] = (owner, text, colour)
        return text

    def label(self, oid: object) -> str:
        """The label of ``oid`` (``""`` when none)."""
        with self._lock:
            return self._labels.get(oid, "")

    def set_hidden(self, oid: ObjectId, hidden: bool) -> None:
        """Hide or show ``oid``'s mask on the canvas (the selection is unchanged)."""
        with self._lock:
            if hidden:
                self._hidden.add(oid)
            else:
                self._hidden.discard(oid)

    def is_hidden(self, oid: object) -> bool:
        """Whether ``oid``'s mask is hidden."""
        with self._lock:
            return oid in self._hidden

    def hidden(self) -> set[object]:
        """Every hidden object id."""
        with self._lock:
            return set(self._hidden)

    # --- the list ---------------------------------------------------------------------
    def objects(
        self,
        points: Mapping[int, Sequence[Point]],
        masks: Mapping[int, FrameMasks],
        tracked_frames: Collection[int] = (),
    ) -> list[ObjectInfo]:
        """The object list: every object some frame's masks show, in first-seen order.

        ``masks`` holds the masks known per frame (a click's reply or the tracker's);
        ``tracked_frames`` says which of them came from tracking.
        """
        owned = assign_points(points, masks)
        tracked_set = set(tracked_frames)
        seen: dict[object, dict[str, list[int]]] = {}
        for frame in sorted(masks):
            ids, arrays = masks[frame]
            for oid, arr in zip(ids, arrays, strict=True):
                entry = seen.setdefault(oid, {"tracked": []})
                if frame in tracked_set and arr.any():
                    entry["tracked"].append(frame)
        for oid in owned:
            seen.setdefault(oid, {"tracked": []})
        order = sorted(seen, key=self.colour_index)
        out = []
        for oid in order:
            pts = owned.get(oid, {})
            key: ObjectId = oid if isinstance(oid, (int, str)) else str(oid)
            out.append(
                ObjectInfo(
                    id=key,
                    label=self.label(oid),
                    colour=self.colour(oid),
                    point_frames=tuple(sorted(f for f, p in pts.items() if p)),
                    tracked_frames=tuple(seen[oid]["tracked"]),
                    hidden=self.is_hidden(oid),
                    points={f: tuple(p) for f, p in pts.items()},
                )
            )
        return out

    # --- objects given back under a new id ---------------------------------------------
    def recall(self, objects: Sequence[ObjectInfo]) -> list[tuple[ObjectId, ObjectId]]:
        """Give objects back their label, colour and hidden flag after the server renumbered
        them.

        An object none of whose points was last seen in itself, but some in an object that
        is no longer listed, takes that object's label (unless it has one) and colour
        (unless another listed object has it); each gone object is taken by one object at
        most, the one holding most of its points. Returns the ``(old, new)`` ids taken over.
        """
        present = {o.id for o in objects}
        taken: list[tuple[ObjectId, ObjectId]] = []
        with self._lock:
            claims: list[tuple[int, ObjectId, ObjectInfo]] = []
            for info in objects:
                votes: dict[ObjectId, int] = {}
                own = False
                for f, pts in info.points.items():
                    for p in pts:
                        seen = self._remembered.get((f, p))
                        if seen is None:
                            continue
                        own = own or seen[0] == info.id
                        if seen[0] not in present:
                            votes[seen[0]] = votes.get(seen[0], 0) + 1
                if votes and not own:
                    old = max(votes, key=lambda k: votes[k])
                    claims.append((votes[old], old, info))
            used: set[ObjectId] = set()
            for _, old, info in sorted(claims, key=lambda c: -c[0]):
                if old in used:
                    continue
                used.add(old)
                label, colour = self._remembered_as(old)
                if label and not info.label:
                    self._labels[info.id] = label
                self._labels.pop(old, None)
                if old in self._hidden:  # hidden stays hidden under its new id
                    self._hidden.discard(old)
                    self._hidden.add(info.id)
                others = {self.colour_index(o.id) for o in objects if o.id != info.id}
                if colour not in others and colour != self.colour_index(info.id):
                    self._set_colour_index(info.id, colour)
                taken.append((old, info.id))
        return taken

    def _remembered_as(self, oid: ObjectId) -> tuple[str, int]:
        """The latest label and colour remembered for ``oid``."""
        for owner, label, colour in reversed(self._remembered.values()):
            if owner == oid:
                return label, colour
        return "", self.colour_index(oid)

    def remember(self, objects: Sequence[ObjectInfo]) -> bool:
        """Note which object, label and colour each listed point is in; True if that changed."""
        changed = False
        with self._lock:
            for info in objects:
                entry = (info.id, self.label(info.id), self.colour_index(info.id))
                for f, pts in info.points.items():
                    for p in pts:
                        if self._remembered.get((f, p)) != entry:
                            # Moved to the end, so the oldest notes are the first forgotten.
                            self._remembered.pop((f, p), None)
                            self._remembered[(f, p)] = entry
                            changed = True
            for key in list(self._remembered)[: max(0, len(self._remembered) - MAX_REMEMBERED)]:
                del self._remembered[key]
        return changed

    def prompt_for(self, edit_mode: str, objects: Iterable[ObjectInfo]) -> str:
        """The default prompt of ``edit_mode`` naming the selected objects by label."""
        return rules.default_prompt(edit_mode, subject=subject_for(objects))

    # --- persistence ------------------------------------------------------------------
    def choices(self) -> dict[str, object]:
        """What the user chose: labels and hidden flags, JSON-ready."""
        with self._lock:
            return {
                "labels": [[oid, text] for oid, text in self._labels.items()],
                "hidden": sorted(self._hidden, key=str),
            }

    def to_json(self) -> dict[str, object]:
        """Labels, hidden flags and the points' objects as JSON-ready data."""
        with self._lock:
            remembered = [
                [f, p[0], p[1], oid, label, colour]
                for (f, p), (oid, label, colour) in self._remembered.items()
            ]
        return {**self.choices(), "remembered": remembered}

    def load_json(self, data: object) -> None:
        """Restore what :meth:`to_json` wrote; entries it cannot read are skipped."""
        if not isinstance(data, Mapping):
            return
        labels = data.get("labels", [])
        hidden = data.get("hidden", [])
        with self._lock:
            for item in labels if isinstance(labels, list) else []:
                if isinstance(item, list) and len(item) == 2 and isinstance(item[0], (int, str)):
                    try:
                        self.rename(item[0], str(item[1]))
                    except (TypeError, ValueError):
                        continue
            for oid in hidden if isinstance(hidden, list) else []:
                if isinstance(oid, (int, str)) and not isinstance(oid, bool):
                    self._hidden.add(oid)
            remembered = data.get("remembered", [])
            for item in remembered if isinstance(remembered, list) else []:
                note = _note(item)
                if note is not None:
                    self._remembered[note[0]] = note[1]


def _note(item: object) -> tuple[tuple[int, Point], tuple[ObjectId, str, int]] | None:
    """One remembered point as :meth:`ObjectBook.to_json` wrote it, or ``None``."""
    if not isinstance(item, list) or len(item) != 6:
        return None
    f, x, y, oid, label, colour = item
    numbers = (x, y)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers):
        return None
    if isinstance(f, bool) or not isinstance(f, int) or isinstance(colour, bool):
        return None
    if not isinstance(colour, int) or not isinstance(oid, (int, str)) or isinstance(oid, bool):
        return None
    try:
        text = check_label(label) if isinstance(label, str) else ""
    except ValueError:
        text = ""
    return (f, (float(x), float(y))), (oid, text, colour)
