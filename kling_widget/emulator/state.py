"""The state a running emulator's route handlers share: its clock, served files, selection
sessions, tasks and the fetcher for URLs named in requests.

Built by ``Emulator.start``; the route modules take it instead of the ``Emulator``, so
none of them imports the emulator. Imports only sibling modules below the routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from kling_widget.emulator.clock import Clock
from kling_widget.emulator.fetch import Fetcher
from kling_widget.emulator.session_store import SessionStore
from kling_widget.emulator.tasks import TaskStore
from kling_widget.emulator.uploads import FileStore


@dataclass(frozen=True)
class State:
    """What the route handlers of one running emulator share."""

    clock: Clock
    files: FileStore
    sessions: SessionStore
    tasks: TaskStore
    fetch: Fetcher
