"""``ProjectContext``: what the selection session and the task book share.

One clip and its journal, the client (made on first use), the clip's public URL (given,
journaled or uploaded), the status line, the clock and the lock that keeps one call at a
time on the selection. Imports the API client's types, the journal and the media probe
(lazily); never the editor, the batch or the command line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kling_widget.errors import KlingValidationError
from kling_widget.journal import Journal, JournalReadOnlyError, file_sha256
from kling_widget.rules import is_url

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.media.video import VideoSource

log = logging.getLogger("kling_widget.workflow")

StatusFn = Callable[[str], None]
Uploader = Callable[[Path], str]


class ProjectContext:
    """The shared plumbing of one project (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        clip_path: Path,
        client: KlingClient | None,
        *,
        video_url: str | None,
        uploader: Uploader | None,
        on_status: StatusFn | None,
        clock: Callable[[], float] | None,
        source: VideoSource | None = None,
        clip_checked: bool = False,
    ) -> None:
        self.journal = journal
        self.clip_path = clip_path
        self.on_status = on_status
        self.clock: Callable[[], float] = clock or time.time
        # One selection call (and the session it may rebuild) at a time.
        self.lock = threading.RLock()
        self._client = client
        self._video_url = video_url
        self._uploader = uploader
        self._uploader_resolved = uploader is not None
        self._source = source
        # Reopened by path: the file there may have changed since; checked before upload.
        self.clip_checked = clip_checked

    # --- plumbing ----------------------------------------------------------
    @property
    def client(self) -> KlingClient:
        """The Kling client (created from the environment on first use)."""
        if self._client is None:
            from kling_widget.workflow.connect import default_client

            self._client, _ = default_client()
        return self._client

    @property
    def folder(self) -> Path:
        """The project folder (journal, images, results)."""
        return self.journal.folder

    @property
    def read_only(self) -> bool:
        """True when the journal was opened read-only (another process writes it)."""
        return self.journal.read_only

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` before any request when the journal cannot record it."""
        if self.journal.read_only:
            raise JournalReadOnlyError(self.journal.path, action)

    def status(self, message: str) -> None:
        """Tell the status line (and the log); a broken callback never breaks the work."""
        log.info("%s", message)
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:
                log.exception("on_status callback failed")

    @property
    def source(self) -> VideoSource:
        """The clip, probed (:class:`kling_widget.media.video.VideoSource`)."""
        if self._source is None:
            if not self.clip_path.is_file():
                raise FileNotFoundError(
                    f"clip {self.clip_path} (recorded in {self.journal.path}) is no longer there"
                )
            from kling_widget.media.video import VideoSource

            self._source = VideoSource(self.clip_path)
        return self._source

    def clip_seconds(self) -> float | None:
        """The clip's length when it can be probed locally (None: not on this machine)."""
        if self._source is None and not self.clip_path.is_file():
            return None
        try:
            return float(self.source.duration)
        except (OSError, ValueError, KlingValidationError):
            return None

    # --- the clip's URL ----------------------------------------------------
    @property
    def uploader(self) -> Uploader | None:
        """The callable that turns the clip's path into a public URL (None: not set)."""
        return self._uploader

    @uploader.setter
    def uploader(self, fn: Uploader | None) -> None:
        self._uploader = fn
        self._uploader_resolved = fn is not None

    def resolve_uploader(self) -> Uploader | None:
        """The uploader, or the emulator's upload when the client talks to an emulator."""
        if not self._uploader_resolved:
            from kling_widget.workflow.connect import uploader_for

            self._uploader = uploader_for(self.client)
            self._uploader_resolved = True
        return self._uploader

    def video_url(self, *, fresh: bool = False) -> str:
        """A URL Kling can fetch the clip from: given, journaled, or uploaded now."""
        if self._video_url and not fresh:
            return self._video_url
        if not fresh:
            known = self.journal.video_url()
            if known:
                self._video_url = known
                return known
        uploader = self.resolve_uploader()
        if uploader is None:
            if self._video_url:
                return self._video_url
            raise KlingValidationError(
                "video_url",
                None,
                "Kling needs a public URL for the clip: pass video_url='https://...' "
                "(or uploader=callable(path) -> url) to Project",
            )
        if not self.clip_path.is_file():
            raise FileNotFoundError(f"clip {self.clip_path} is no longer there to upload")
        if not self.clip_checked:
            recorded = self.journal.clip()
            digest, _ = file_sha256(self.clip_path)
            if recorded is not None and digest != recorded.fingerprint:
                raise KlingValidationError(
                    "clip",
                    str(self.clip_path),
                    f"its content changed since the journal {self.journal.path} was made "
                    "(SHA-256 differs): open the new file with Project(clip) instead",
                )
            self.clip_checked = True
        self.status(f"uploading {self.clip_path.name}")
        self._video_url = uploader(self.clip_path)
        return self._video_url

    def journaled_url(self, url: str) -> bool:
        """True when ``url`` is the one the journal recorded (it may have gone stale)."""
        return url == self.journal.video_url()


def clip_path_of(clip: str | Path) -> tuple[Path, VideoSource | None, str | None]:
    """``(local path, probed source or None, video URL or None)`` for a path or a URL."""
    text = str(clip)
    if is_url(text):
        from kling_widget.media.remote import open_clip

        source = open_clip(text)
        return Path(source.path), source, text
    path = Path(clip)
    if not path.is_file():
        raise KlingValidationError(
            "clip", text, "must be an existing video file (or an http(s) URL)"
        )
    return path, None, None


__all__ = ["ProjectContext", "StatusFn", "Uploader", "clip_path_of", "log"]
