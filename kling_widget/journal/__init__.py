"""The project journal: a per-clip SQLite record that makes nothing get lost.

See :class:`Journal` (storage) and :class:`kling_widget.project.Project` (the
workflow that writes it).
"""

from __future__ import annotations

from kling_widget.journal.errors import JournalCorruptError, JournalError, JournalLockedError
from kling_widget.journal.records import (
    ClipRecord,
    DownloadRecord,
    OpRecord,
    RecoveryReport,
    SessionRecord,
    StatusChange,
    TaskRecord,
)
from kling_widget.journal.store import (
    DEFAULT_ROOT,
    JOURNAL_NAME,
    Journal,
    file_sha256,
    project_folder,
)

__all__ = [
    "DEFAULT_ROOT",
    "JOURNAL_NAME",
    "ClipRecord",
    "DownloadRecord",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "OpRecord",
    "RecoveryReport",
    "SessionRecord",
    "StatusChange",
    "TaskRecord",
    "file_sha256",
    "project_folder",
]
