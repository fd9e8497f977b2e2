"""Stopping a render from another thread: a per-thread stop signal the writers check.

The task worker runs each render inside ``cancellable(event)``; the mp4 writer (and the
tracking a render may need) calls ``check_cancelled`` between frames, so setting the
event ends the render at its next frame with ``RenderCancelled`` instead of letting it
write into folders that are being removed.

Imports only the standard library.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_local = threading.local()


class RenderCancelled(Exception):
    """The render was stopped from outside (the emulator is stopping)."""


@contextlib.contextmanager
def cancellable(event: threading.Event) -> Iterator[None]:
    """Within the block, ``event`` being set cancels this thread's render."""
    previous = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = previous


def cancel_requested() -> bool:
    """Whether this thread's render has been asked to stop."""
    event: threading.Event | None = getattr(_local, "event", None)
    return event is not None and event.is_set()


def check_cancelled() -> None:
    """Raise ``RenderCancelled`` when this thread's render has been asked to stop."""
    if cancel_requested():
        raise RenderCancelled("the render was stopped")
