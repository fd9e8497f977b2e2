"""Errors raised by the project journal (imports nothing from the package)."""

from __future__ import annotations

from pathlib import Path


class JournalError(Exception):
    """Base class of every journal problem (not an API error: nothing was sent)."""


class JournalCorruptError(JournalError):
    """The journal file is damaged or is not a kling-widget journal.

    Nothing is reset silently: the message names the file and the way out
    (``Journal.recover(path)`` moves the bad file aside and rebuilds what it can).
    """

    def __init__(self, path: str | Path, detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(
            f"journal {self.path} is damaged or not a kling-widget journal ({detail}). "
            "Nothing was changed. To keep the damaged file as "
            f"'{self.path.name}.corrupt-<timestamp>' and rebuild what can still be read, run "
            f"kling_widget.Journal.recover({str(self.path)!r}); "
            "or move the folder aside to start this clip afresh."
        )


class JournalLockedError(JournalError):
    """Another live process holds the journal for writing.

    Policy: one writer per journal (a notebook, a CLI run, a batch); any number of
    read-only readers (``Journal(path, read_only=True)``, ``Project(clip, read_only=True)``).
    ``pid`` and ``host`` name the writer when its lock file says so.
    """

    def __init__(self, path: str | Path, pid: int | None, host: str | None) -> None:
        self.path = Path(path)
        self.pid = pid
        self.host = host
        super().__init__(
            f"journal {self.path} is open in {self.holder}; close it there, "
            "or open it read-only (Project(clip, read_only=True))"
        )

    @property
    def holder(self) -> str:
        """Who holds the lock, in words: ``another process (pid 123 on host)``."""
        if self.pid is None:
            return "another process"
        where = f" on {self.host}" if self.host else ""
        return f"another process (pid {self.pid}{where})"


class JournalReadOnlyError(JournalError):
    """A change was asked of a journal opened read-only."""

    def __init__(self, path: str | Path, action: str | None = None) -> None:
        self.path = Path(path)
        self.action = action
        what = f"cannot {action}" if action else "nothing can be changed through it"
        super().__init__(
            f"journal {self.path} is open read-only: {what} (close the other process that "
            "has this clip open, then open it again without read_only)"
        )
