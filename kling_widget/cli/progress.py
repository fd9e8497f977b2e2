"""A dependency-free progress bar for the command line.

On a terminal it redraws one line in place; when stderr is a pipe or a file (CI logs, tests)
it prints a plain line at each 10 % step or message change instead, so logs stay readable
and no carriage returns pile up.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

_WIDTH = 28
_LINE_STEP = 10  # percent between lines when not on a TTY


class ProgressBar:
    """A single-line progress bar on ``stream`` (stderr by default).

    ``update(fraction, note)`` takes a fraction in [0, 1]; values outside are clamped so a
    caller's rounding can never draw a broken bar.
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, *, tty: bool | None = None
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = tty if tty is not None else bool(isatty and isatty())
        self.fraction = 0.0
        self.note = ""
        self._last_line: tuple[int, str] | None = None
        self._drawn_width = 0
        self._closed = False

    def update(self, fraction: float, note: str | None = None) -> None:
        """Move the bar to ``fraction`` (0..1); ``note`` replaces the text after it."""
        if self._closed:
            return
        if fraction != fraction:  # NaN: keep the previous position
            fraction = self.fraction
        self.fraction = min(1.0, max(0.0, float(fraction)))
        if note is not None:
            self.note = note
        self._draw()

    def _render(self) -> str:
        filled = round(self.fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        text = f"{self.label} [{bar}] {self.fraction * 100:3.0f}%"
        if self.note:
            text += f" {self.note}"
        return text

    def _draw(self) -> None:
        text = self._render()
        if self.tty:
            pad = max(0, self._drawn_width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._drawn_width = len(text)
        else:
            step = int(self.fraction * 100) // _LINE_STEP
            key = (step, self.note)
            if key == self._last_line:
                return
            self._last_line = key
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, note: str | None = None) -> None:
        """Finish the bar's line (a final redraw with ``note`` if given)."""
        if self._closed:
            return
        if note is not None:
            self.note = note
            self._draw()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
