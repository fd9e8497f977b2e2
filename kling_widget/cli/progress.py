"""The command line's progress bar: ``tqdm`` on stderr, as a fraction with a note after it.

On a terminal the bar redraws in place; when stderr is a pipe or a file (CI logs, tests)
tqdm's own rule applies and no bar is drawn, so logs carry only the commands' lines.
Imports nothing of the package.
"""

from __future__ import annotations

import math
import sys
from types import TracebackType
from typing import TextIO

from tqdm.std import tqdm

_STEPS = 1000  # the bar counts thousandths, so a fraction maps to whole steps


class ProgressBar:
    """A bar for work measured as a fraction in [0, 1] (clamped; NaN keeps the last).

    ``stream`` defaults to stderr; ``tty`` forces the bar on (True) or off (False)
    instead of asking the stream.
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, *, tty: bool | None = None
    ) -> None:
        self.fraction = 0.0
        self._bar = tqdm(
            total=_STEPS,
            desc=label,
            file=stream if stream is not None else sys.stderr,
            disable=None if tty is None else not tty,
            bar_format="{desc} {percentage:3.0f}%|{bar:28}| {postfix}",
            dynamic_ncols=True,
            leave=True,
        )

    def update(self, fraction: float, note: str | None = None) -> None:
        """Move the bar to ``fraction``; ``note`` replaces the text after it."""
        value = float(fraction)
        if not math.isnan(value):
            self.fraction = min(1.0, max(0.0, value))
        if note is not None:
            self._bar.set_postfix_str(note, refresh=False)
        self._bar.n = round(self.fraction * _STEPS)
        self._bar.refresh()

    def note(self, text: str) -> None:
        """Replace the text after the bar, keeping its position."""
        self.update(self.fraction, text)

    def close(self, note: str | None = None) -> None:
        """Finish the bar's line (with ``note`` if given)."""
        if note is not None:
            self.update(self.fraction, note)
        self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["ProgressBar"]
