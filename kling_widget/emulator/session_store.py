"""Every selection session of one emulator, with expiry on the business clock.

Unknown and expired sessions both answer HTTP 400 with code 1201 and a message starting
"session expired or not found", which the client maps to ``KlingSessionExpiredError``.
Imports only the sessions module, the envelope errors and limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kling_widget.emulator.envelope import INVALID_PARAMETER, ApiError
from kling_widget.emulator.sessions import SelectionSession
from kling_widget.limits import SESSION_LIFETIME_S

# Sessions whose decoded work frames are kept in memory at once.
MAX_DECODED_SESSIONS = 6


class SessionStore:
    """Every session of the emulator, with expiry on the business clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, SelectionSession] = {}
        self._lock = threading.Lock()

    def add(self, session: SelectionSession) -> None:
        """Keep a new session (releasing the frames of long-unused ones)."""
        with self._lock:
            self._sessions[session.session_id] = session
            session.last_used = self._clock()
            self._release_idle()

    def _release_idle(self) -> None:
        # Work frames cost memory (~25 MB for a 5 s 720p clip); keep those of the most
        # recently used sessions only. A released session decodes again on demand.
        holding = sorted(
            (s for s in self._sessions.values() if s.clip.decoded),
            key=lambda s: s.last_used,
            reverse=True,
        )
        for idle in holding[MAX_DECODED_SESSIONS:]:
            if idle.lock.acquire(blocking=False):
                try:
                    idle.clip.release()
                finally:
                    idle.lock.release()

    def get(self, session_id: Any) -> SelectionSession:
        """The live session, or ``ApiError`` 400/1201 "session expired or not found"."""
        expired = None
        with self._lock:
            session = self._sessions.get(str(session_id))
            if session is not None and self._clock() >= session.created + SESSION_LIFETIME_S:
                del self._sessions[session.session_id]
                expired, session = session, None
        if expired is not None:
            # Outside the store's lock: closing waits for the session's background threads.
            expired.close()
        if session is not None:
            session.last_used = self._clock()
        if session is None:
            raise ApiError(
                INVALID_PARAMETER,
                f"session expired or not found: session_id={session_id!r} (sessions last "
                f"{SESSION_LIFETIME_S // 3600} h; init-selection again)",
            )
        return session

    def all(self) -> list[SelectionSession]:
        """Every session still held (expired ones until next looked up)."""
        with self._lock:
            return list(self._sessions.values())
