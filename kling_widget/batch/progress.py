"""Batch progress: a snapshot type, a text bar for terminals and an ipywidgets bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands; passed to ``on_progress`` after every change."""

    total: int
    done: int
    failed: int
    in_flight: int
    limit: int
    event: str = ""

    @property
    def finished(self) -> int:
        """Jobs that reached an end (done, failed, error or timeout)."""
        return self.done + self.failed

    @property
    def fraction(self) -> float:
        """Finished jobs over all jobs (1.0 for an empty batch)."""
        return 1.0 if self.total == 0 else self.finished / self.total

    def note(self) -> str:
        """A short status text: counts, tasks in flight and the limit."""
        text = f"{self.done}/{self.total} done"
        if self.failed:
            text += f", {self.failed} not done"
        return text + f", {self.in_flight} in flight (limit {self.limit})"


ProgressFn = Callable[[BatchProgress], None]


class TextProgress:
    """A one-line text bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        from kling_widget.cli.progress import ProgressBar

        self.bar = ProgressBar("batch", stream, tty=tty)

    def __call__(self, p: BatchProgress) -> None:
        self.bar.update(p.fraction, p.note())

    def close(self, note: str | None = None) -> None:
        """Finish the line."""
        self.bar.close(note)


class WidgetProgress:
    """An ipywidgets progress bar with a status label, for notebooks.

    Built (and displayed) in the notebook's thread; updates may come from the batch's
    worker thread, which ipywidgets sends to the browser as ordinary state changes.
    """

    def __init__(self, total: int) -> None:
        import ipywidgets as widgets

        self.bar = widgets.IntProgress(
            value=0, min=0, max=max(1, total), description="batch", bar_style="info"
        )
        self.label = widgets.Label(f"0/{total} done")
        self.box = widgets.HBox([self.bar, self.label])

    def display(self) -> None:
        """Show the bar in the current cell's output."""
        from IPython.display import display

        display(self.box)  # type: ignore[no-untyped-call]

    def __call__(self, p: BatchProgress) -> None:
        self.bar.value = p.finished
        self.label.value = p.note()
        if p.finished == p.total:
            self.bar.bar_style = "success" if p.failed == 0 else "warning"

    def close(self, note: str | None = None) -> None:
        """Leave the bar showing the final state."""
        if note:
            self.label.value = note


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a widget bar can be shown)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell: Any = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def stderr_is_tty() -> bool:
    """True when stderr is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


__all__ = [
    "BatchProgress",
    "ProgressFn",
    "TextProgress",
    "WidgetProgress",
    "in_notebook",
    "stderr_is_tty",
]
