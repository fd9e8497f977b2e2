"""Task states and the external task id format, shared by both API families.

Imports only ``kling_widget.limits`` and ``kling_widget.errors``.
"""

from __future__ import annotations

import uuid
from enum import Enum

from kling_widget.errors import KlingValidationError

# Ids made by this package start with this prefix so a user can tell them apart in Kling's
# task list; the rest is a uuid4 in hex (35 characters in all, no characters that need
# quoting in a URL path).
EXTERNAL_ID_PREFIX = "kw-"


def new_external_task_id() -> str:
    """A fresh ``external_task_id`` for an idempotent create: ``kw-`` + uuid4 hex."""
    return f"{EXTERNAL_ID_PREFIX}{uuid.uuid4().hex}"


class TaskState(str, Enum):
    """A task's status as the query endpoints spell it.

    The new callback shape spells success ``"succeeded"``; :meth:`from_wire` maps it to
    :attr:`SUCCEEDED` so both shapes give the same state.
    """

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEEDED = "succeed"
    FAILED = "failed"

    @classmethod
    def from_wire(cls, value: object) -> TaskState:
        """The state for a wire string; raises ``KlingValidationError`` for anything else."""
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "succeeded":
                return cls.SUCCEEDED
            for state in cls:
                if state.value == text:
                    return state
        raise KlingValidationError(
            "task_status", value, "must be one of submitted, processing, succeed, failed"
        )

    @property
    def is_final(self) -> bool:
        """True once the task has ended (``succeed`` or ``failed``)."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)
