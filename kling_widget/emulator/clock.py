"""Clocks for the emulator.

The emulator's business time (session expiry, task progress, result expiry) reads an
injectable clock, a callable returning epoch seconds, so tests can jump 25 hours without
waiting. JWT checks use a separate clock (wall time by default) so that jumping the
business clock never invalidates a freshly minted token. Imports nothing from the package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class ManualClock:
    """A clock that only moves when told to: ``clock()`` returns epoch seconds.

    ``ManualClock()`` starts at the current wall time; ``advance(s)`` moves it forward.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be >= 0); return the new time."""
        if seconds < 0:
            raise ValueError(f"seconds={seconds!r}: a clock only moves forward")
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, now: float) -> None:
        """Set the clock to ``now`` epoch seconds (forward only)."""
        with self._lock:
            if now < self._now:
                raise ValueError(f"now={now!r}: earlier than the clock ({self._now!r})")
            self._now = float(now)

    def __repr__(self) -> str:
        return f"ManualClock({self():.3f})"


def wall_clock() -> float:
    """Epoch seconds from the system clock."""
    return time.time()
