"""The task history panel: every task of the clip from the journal, newest first.

One row per task: what it was (edit mode or Omni, prompt, std / pro), where it stands
(status in plain words and how long it took or has been running), what it cost (Kling's
``final_unit_deduction``), where the result is on disk, and Kling's message when it
failed. Each row has "Edit again" (fills the form from that task) and, once its result is
on disk, "Compare" (the result next to the original) and "Path" (shows the full path).

The rows come from the journal (``Project.history()``), so the panel is the same after a
kernel restart. :func:`task_row` turns a journal record into plain display data (tested
without widgets); :class:`TasksPanel` draws the rows and keeps one set of widgets per
task, updating them in place.

Imports only ``ipywidgets`` and the journal's records.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets

from kling_widget.journal.records import CREATING, REJECTED, TaskRecord

__all__ = ["TaskRow", "TasksPanel", "elapsed_text", "task_row"]

_STATUS_WORDS: dict[str, tuple[str, str]] = {
    CREATING: ("sending", "#64748b"),
    "submitted": ("queued", "#2563eb"),
    "processing": ("rendering", "#2563eb"),
    "succeed": ("done", "#16a34a"),
    "failed": ("failed", "#dc2626"),
    REJECTED: ("refused", "#dc2626"),
}
PROMPT_PREVIEW_CHARS = 120


@dataclass(frozen=True)
class TaskRow:
    """One task as the panel shows it."""

    key: str
    task_id: str | None
    kind: str
    edit_mode: str
    prompt: str
    negative_prompt: str | None
    quality: str
    status: str
    status_text: str
    colour: str
    running: bool
    elapsed_s: float
    units: float | None
    result_path: Path | None
    message: str | None
    created_at: float
    image_refs: tuple[str, ...]

    @property
    def title(self) -> str:
        """``"removal · std"``, ``"omni kling-video-o1 · pro"``."""
        return f"{self.edit_mode} · {self.quality}" if self.quality else self.edit_mode


def elapsed_text(seconds: float) -> str:
    """``"8 s"``, ``"2 min 05 s"``, ``"1 h 03 min"``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _units(raw: Mapping[str, object] | None) -> float | None:
    if not raw:
        return None
    value = raw.get("final_unit_deduction")
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out >= 0 else None


def _refs(params: Mapping[str, object]) -> tuple[str, ...]:
    images = params.get("images")
    out = []
    for ref in images if isinstance(images, list) else []:
        if isinstance(ref, Mapping) and isinstance(ref.get("sha256"), str):
            out.append(str(ref["sha256"]))
        elif isinstance(ref, str):
            out.append(ref)
    return tuple(out)


def _finished_at(rec: TaskRecord) -> float | None:
    if rec.running or rec.unconfirmed:
        return None
    final = [c.at for c in rec.status_history if c.status in ("succeed", "failed")]
    return max(final) if final else rec.updated_at


def task_row(rec: TaskRecord, now: float | None = None) -> TaskRow:
    """The display data of one journal record (``now`` on the same clock as the journal)."""
    now = time.time() if now is None else now
    params = rec.params if isinstance(rec.params, Mapping) else {}
    if rec.kind == "omni-video":
        edit_mode = f"omni {params.get('model_name') or ''}".strip()
    else:
        edit_mode = str(params.get("edit_mode") or "multi-elements")
    words, colour = _STATUS_WORDS.get(rec.status, (rec.status, "#334155"))
    started = rec.created_at
    ended = _finished_at(rec)
    elapsed = (ended if ended is not None else now) - started
    if rec.status == "succeed" and rec.result_path is None:
        words = "done, not downloaded"
    message = None
    if rec.status in ("failed", REJECTED):
        message = rec.status_msg or rec.error or "no reason given"
    elif rec.warning:
        message = rec.warning
    negative = params.get("negative_prompt")
    return TaskRow(
        key=rec.external_task_id,
        task_id=rec.task_id,
        kind=rec.kind,
        edit_mode=edit_mode,
        prompt=str(params.get("prompt") or ""),
        negative_prompt=str(negative) if isinstance(negative, str) and negative else None,
        quality=str(params.get("mode") or ""),
        status=rec.status,
        status_text=words,
        colour=colour,
        running=rec.running or rec.unconfirmed,
        elapsed_s=max(0.0, elapsed),
        units=_units(rec.raw),
        result_path=rec.result_path,
        message=message,
        created_at=rec.created_at,
        image_refs=_refs(params),
    )


def _summary_html(row: TaskRow) -> str:
    prompt = row.prompt
    if len(prompt) > PROMPT_PREVIEW_CHARS:
        prompt = prompt[: PROMPT_PREVIEW_CHARS - 1] + "…"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
    units = "" if row.units is None else f" · {row.units:g} units"
    status = (
        f"<span style='color:{row.colour};font-weight:600'>{html.escape(row.status_text)}</span>"
        f" · {elapsed_text(row.elapsed_s)}{'…' if row.running else ''}{units}"
    )
    lines = [
        f"<div><b>{html.escape(row.title)}</b> · {status} "
        f"<span style='color:#64748b'>· {when}</span></div>",
        f"<div style='color:#334155'>{html.escape(prompt) or '<i>no prompt</i>'}</div>",
    ]
    if row.message:
        lines.append(f"<div style='color:#b91c1c'>{html.escape(row.message)}</div>")
    return (
        "<div class='kling-task-summary' style='font:12px sans-serif'>" + "".join(lines) + "</div>"
    )


class _RowWidgets:
    def __init__(self, panel: TasksPanel, key: str) -> None:
        self.summary = widgets.HTML(layout=widgets.Layout(flex="1 1 320px", min_width="0"))
        small = widgets.Layout(width="auto")
        self.again = widgets.Button(description="Edit again", layout=small)
        self.again.add_class("kling-task-again")
        self.compare = widgets.Button(description="Compare", layout=small)
        self.compare.add_class("kling-task-compare")
        self.path_button = widgets.Button(description="Path", layout=small)
        self.path = widgets.HTML(layout=widgets.Layout(display="none", width="100%"))
        self.again.on_click(lambda _: panel._clicked("again", key))
        self.compare.on_click(lambda _: panel._clicked("compare", key))
        self.path_button.on_click(lambda _: self.toggle_path())
        buttons = widgets.HBox(
            [self.again, self.compare, self.path_button],
            layout=widgets.Layout(flex="0 0 auto", flex_flow="row wrap"),
        )
        self.box = widgets.VBox(
            [
                widgets.HBox(
                    [self.summary, buttons],
                    layout=widgets.Layout(width="100%", flex_flow="row wrap", align_items="center"),
                ),
                self.path,
            ],
            layout=widgets.Layout(width="100%", border_bottom="1px solid #e2e8f0", padding="2px 0"),
        )
        self.box.add_class("kling-task-row")

    def update(self, row: TaskRow) -> None:
        text = _summary_html(row)
        if self.summary.value != text:
            self.summary.value = text
        has_result = row.result_path is not None
        self.compare.layout.display = None if has_result else "none"
        self.path_button.layout.display = None if has_result else "none"
        path = html.escape(str(row.result_path)) if has_result else ""
        self.path.value = f"<code style='font-size:11px;user-select:all'>{path}</code>"
        if not has_result:
            self.path.layout.display = "none"

    def toggle_path(self) -> None:
        self.path.layout.display = "none" if self.path.layout.display != "none" else "block"

    def close(self) -> None:
        for w in (self.summary, self.again, self.compare, self.path_button, self.path):
            w.close()
        for child in self.box.children:
            child.close()
        self.box.close()


class TasksPanel:
    """Rows of task history, newest first, with "Edit again" and "Compare" callbacks."""

    def __init__(
        self,
        on_edit_again: Callable[[TaskRow], None] | None = None,
        on_compare: Callable[[TaskRow], None] | None = None,
    ) -> None:
        self.on_edit_again = on_edit_again
        self.on_compare = on_compare
        self._rows: dict[str, TaskRow] = {}
        self._widgets: dict[str, _RowWidgets] = {}
        self._lock = threading.RLock()
        self.heading = widgets.HTML(
            "<div style='font:600 13px sans-serif'>Tasks of this clip</div>"
        )
        self.empty = widgets.HTML(
            "<div style='font:12px sans-serif;color:#64748b'>No task yet: Create one above.</div>"
        )
        self.list = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.widget = widgets.VBox(
            [self.heading, self.empty, self.list], layout=widgets.Layout(width="100%")
        )
        self.widget.add_class("kling-tasks")

    @property
    def rows(self) -> list[TaskRow]:
        """The rows shown, newest first."""
        with self._lock:
            return sorted(self._rows.values(), key=lambda r: -r.created_at)

    def row(self, key: str) -> TaskRow | None:
        """The row of one task (by ``external_task_id``)."""
        with self._lock:
            return self._rows.get(key)

    def update(self, records: Sequence[TaskRecord], now: float | None = None) -> list[TaskRow]:
        """Show ``records`` (any order); returns the rows, newest first."""
        rows = [task_row(r, now) for r in records]
        rows.sort(key=lambda r: (-r.created_at, r.key))
        with self._lock:
            keep = {r.key for r in rows}
            for key in list(self._widgets):
                if key not in keep:
                    self._widgets.pop(key).close()
                    self._rows.pop(key, None)
            for row in rows:
                w = self._widgets.get(row.key)
                if w is None:
                    w = self._widgets[row.key] = _RowWidgets(self, row.key)
                w.update(row)
                self._rows[row.key] = row
            children = tuple(self._widgets[r.key].box for r in rows)
            if self.list.children != children:
                self.list.children = children
            self.empty.layout.display = "none" if rows else None
        return rows

    def _clicked(self, what: str, key: str) -> None:
        row = self.row(key)
        if row is None:
            return
        fn = self.on_edit_again if what == "again" else self.on_compare
        if fn is not None:
            fn(row)

    def close(self) -> None:
        """Close every widget of the panel."""
        with self._lock:
            for w in self._widgets.values():
                w.close()
            self._widgets.clear()
        for w in (self.heading, self.empty, self.list, self.widget):
            w.close()
