"""The object list panel: one row per selected object, with hide, rename and delete.

Each row shows the object's colour swatch (the colour of its mask on the canvas), its
name (a text box: what is typed there names it in the default prompt), the frames where
it has points and the frames it is tracked on, a Hide toggle and a Delete button. The
panel only reports what the user did (``on_rename``, ``on_hide``, ``on_delete``); the
editor decides what that means. Rows are kept per object and updated in place, and wrap
on narrow screens.

Imports only ``ipywidgets`` and its sibling ``editor.objects``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence

import ipywidgets as widgets

from kling_widget.editor.objects import MAX_LABEL_CHARS, ObjectId, ObjectInfo

__all__ = ["ObjectsPanel", "frame_ranges"]


def frame_ranges(frames: Sequence[int], limit: int = 6) -> str:
    """``[0, 1, 2, 5, 9, 10]`` -> ``"0–2, 5, 9–10"`` (at most ``limit`` runs, then "…")."""
    runs: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append("…")
    return ", ".join(parts)


def _where_html(info: ObjectInfo) -> str:
    points = frame_ranges(info.point_frames) if info.point_frames else "none"
    tracked = (
        f"{len(info.tracked_frames)} frames ({frame_ranges(info.tracked_frames, 3)})"
        if info.tracked_frames
        else "not yet (press Preview)"
    )
    return (
        "<div style='font:11px sans-serif;color:#475569;line-height:1.3'>"
        f"points on {html.escape(points)}<br>tracked on {html.escape(tracked)}</div>"
    )


def _swatch_html(info: ObjectInfo) -> str:
    return (
        f"<div title='object {html.escape(str(info.id))}' style='width:18px;height:18px;"
        f"border-radius:4px;background:{info.colour_hex};border:1px solid #0f172a33'></div>"
    )


class _Row:
    def __init__(self, panel: ObjectsPanel, oid: ObjectId) -> None:
        self.oid = oid
        self.swatch = widgets.HTML(layout=widgets.Layout(width="24px"))
        self.name = widgets.Text(
            placeholder=f"object {oid}",
            continuous_update=False,
            tooltip="Name it: the name is used in the default prompt",
            layout=widgets.Layout(width="160px"),
        )
        self.name.add_class("kling-object-name")
        self.where = widgets.HTML(layout=widgets.Layout(flex="1 1 160px", min_width="0"))
        self.hide = widgets.ToggleButton(
            value=False, description="Hide", icon="eye-slash", layout=widgets.Layout(width="auto")
        )
        self.hide.add_class("kling-object-hide")
        self.delete = widgets.Button(
            description="Delete",
            icon="trash",
            tooltip="Delete every point of this object",
            layout=widgets.Layout(width="auto"),
        )
        self.delete.add_class("kling-object-delete")
        self._updating = False
        self.name.observe(lambda ch: self._renamed(panel, str(ch["new"])), "value")
        self.hide.observe(lambda ch: self._hidden(panel, bool(ch["new"])), "value")
        self.delete.on_click(lambda _: panel._deleted(oid))
        self.box = widgets.HBox(
            [self.swatch, self.name, self.where, self.hide, self.delete],
            layout=widgets.Layout(
                width="100%", align_items="center", flex_flow="row wrap", padding="1px 0"
            ),
        )
        self.box.add_class("kling-object-row")

    def _renamed(self, panel: ObjectsPanel, text: str) -> None:
        if not self._updating:
            panel._renamed(self.oid, text[:MAX_LABEL_CHARS])

    def _hidden(self, panel: ObjectsPanel, hidden: bool) -> None:
        self.hide.description = "Show" if hidden else "Hide"
        self.hide.icon = "eye" if hidden else "eye-slash"
        if not self._updating:
            panel._hidden(self.oid, hidden)

    def update(self, info: ObjectInfo) -> None:
        self._updating = True
        try:
            swatch = _swatch_html(info)
            if self.swatch.value != swatch:
                self.swatch.value = swatch
            if self.name.value != info.label:
                self.name.value = info.label
            where = _where_html(info)
            if self.where.value != where:
                self.where.value = where
            if self.hide.value != info.hidden:
                self.hide.value = info.hidden
        finally:
            self._updating = False

    def close(self) -> None:
        for w in (self.swatch, self.name, self.where, self.hide, self.delete, self.box):
            w.close()


class ObjectsPanel:
    """The list of selected objects (empty: a one-line hint)."""

    def __init__(
        self,
        on_rename: Callable[[ObjectId, str], object] | None = None,
        on_hide: Callable[[ObjectId, bool], object] | None = None,
        on_delete: Callable[[ObjectId], object] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.on_rename = on_rename
        self.on_hide = on_hide
        self.on_delete = on_delete
        self.on_error = on_error
        self._rows: dict[ObjectId, _Row] = {}
        self._lock = threading.RLock()
        self.heading = widgets.HTML("<div style='font:600 13px sans-serif'>Objects</div>")
        self.empty = widgets.HTML(
            "<div style='font:12px sans-serif;color:#64748b'>"
            "No object yet: click one on the frame.</div>"
        )
        self.list = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.widget = widgets.VBox(
            [self.heading, self.empty, self.list],
            layout=widgets.Layout(width="100%", border="1px solid #e5e7eb", padding="4px"),
        )
        self.widget.add_class("kling-objects")

    def row(self, oid: ObjectId) -> _Row | None:
        """The widgets of one object's row."""
        with self._lock:
            return self._rows.get(oid)

    def update(self, objects: Sequence[ObjectInfo]) -> None:
        """Show ``objects`` in the order given."""
        with self._lock:
            keep = {o.id for o in objects}
            for oid in list(self._rows):
                if oid not in keep:
                    self._rows.pop(oid).close()
            for info in objects:
                row = self._rows.get(info.id)
                if row is None:
                    row = self._rows[info.id] = _Row(self, info.id)
                row.update(info)
            children = tuple(self._rows[o.id].box for o in objects)
            if self.list.children != children:
                self.list.children = children
            self.empty.layout.display = "none" if objects else None

    def _renamed(self, oid: ObjectId, text: str) -> None:
        if self.on_rename is not None:
            on_rename = self.on_rename
            self._guard(lambda: on_rename(oid, text))

    def _hidden(self, oid: ObjectId, hidden: bool) -> None:
        if self.on_hide is not None:
            on_hide = self.on_hide
            self._guard(lambda: on_hide(oid, hidden))

    def _deleted(self, oid: ObjectId) -> None:
        if self.on_delete is not None:
            on_delete = self.on_delete
            self._guard(lambda: on_delete(oid))

    def _guard(self, fn: Callable[[], object]) -> None:
        # Handlers of widget events never raise: the failure is reported instead.
        try:
            fn()
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(exc)

    def close(self) -> None:
        """Close every widget of the panel."""
        with self._lock:
            for row in self._rows.values():
                row.close()
            self._rows.clear()
        for w in (self.heading, self.empty, self.list, self.widget):
            w.close()
