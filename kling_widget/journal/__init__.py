"""The project journal: a per-clip SQLite record that makes nothing get lost.

See :class:`Journal` (storage) and :class:`kling_widget.workflow.Project` (the workflow
that writes it). Imports the API's models (for mask checks), the edit rules and the
one downloader; never the workflow, the editor, the batch or the command line.
"""

from __future__ import annotations

from kling_widget.journal.errors import (
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalReadOnlyError,
)
from kling_widget.journal.files import (
    DEFAULT_ROOT,
    JOURNAL_NAME,
    ROOT_ENV,
    default_root,
    file_sha256,
    project_folder,
)
from kling_widget.journal.records import (
    CREATING,
    REJECTED,
    ClipRecord,
    DownloadRecord,
    OpRecord,
    RecoveryReport,
    SessionRecord,
    StatusChange,
    TaskRecord,
)
from kling_widget.journal.store import Journal

__all__ = [
    "CREATING",
    "DEFAULT_ROOT",
    "JOURNAL_NAME",
    "REJECTED",
    "ROOT_ENV",
    "ClipRecord",
    "DownloadRecord",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalReadOnlyError",
    "OpRecord",
    "RecoveryReport",
    "SessionRecord",
    "StatusChange",
    "TaskRecord",
    "default_root",
    "file_sha256",
    "project_folder",
]
