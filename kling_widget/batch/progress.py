"""Batch progress: a snapshot type and a bar (``tqdm``: a terminal bar or a notebook widget).

``tqdm.auto`` picks the notebook widget inside Jupyter and the terminal bar elsewhere, from
one API; ``"text"`` and ``"widget"`` force one of them. Imports only the typed errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from kling_widget.errors import KlingValidationError


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


class BatchBar:
    """A ``tqdm`` bar of finished jobs with the batch's status after it.

    ``kind``: ``"auto"`` (``tqdm.auto``), ``"text"`` (the terminal bar, on ``stream``) or
    ``"widget"`` (the notebook widget). Updates may come from the batch's worker thread.
    """

    def __init__(self, total: int, kind: str = "auto", stream: TextIO | None = None) -> None:
        if kind == "widget":
            from tqdm.notebook import tqdm as bar_type
        elif kind == "text":
            from tqdm.std import tqdm as bar_type
        else:
            from tqdm.auto import tqdm as bar_type
        options: dict[str, Any] = {"total": total, "desc": "batch", "unit": "job"}
        if kind != "widget":
            options["file"] = stream if stream is not None else sys.stderr
        self.bar = bar_type(**options)

    def __call__(self, p: BatchProgress) -> None:
        self.bar.n = p.finished
        self.bar.set_postfix_str(p.note(), refresh=False)
        self.bar.refresh()

    def close(self, note: str | None = None) -> None:
        """Show the final note and leave the bar as it ended."""
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.close()


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


def chain(*fns: ProgressFn | None) -> ProgressFn | None:
    """One callback calling every given one (None when none is given)."""
    live = [f for f in fns if f is not None]
    if not live:
        return None

    def every(p: BatchProgress) -> None:
        for f in live:
            f(p)

    return every


def reporter(
    progress: bool | str, total: int
) -> tuple[ProgressFn | None, Callable[[str], None] | None]:
    """The display asked for: ``"auto"``, ``"widget"``, ``"text"``, True or False.

    ``"auto"``: a widget in a notebook, a bar on a terminal, nothing on a pipe or a log.
    """
    if progress == "auto":
        progress = "widget" if in_notebook() else ("text" if stderr_is_tty() else False)
    if progress is True:
        progress = "text"
    if progress in ("widget", "text"):
        bar = BatchBar(total, str(progress))
        return bar, bar.close
    if progress is False or progress is None:
        return None, None
    raise KlingValidationError(
        "progress", progress, "must be 'auto', 'widget', 'text', True or False"
    )


__all__ = [
    "BatchBar",
    "BatchProgress",
    "ProgressFn",
    "chain",
    "in_notebook",
    "reporter",
    "stderr_is_tty",
]
