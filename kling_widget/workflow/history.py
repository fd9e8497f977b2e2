"""A project's task history with warnings for results about to be deleted by Kling.

Imports only the journal's records; nothing else of the package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from kling_widget.journal import TaskRecord

# Results not on disk this close to Kling's 30-day deletion are flagged.
EXPIRY_WARNING_S = 3 * 24 * 3600.0


def _ago(seconds: float) -> str:
    hours = seconds / 3600
    if hours >= 48:
        return f"{math.floor(hours / 24)} days"
    return f"{max(1, math.floor(hours))} h"


def warning_for(rec: TaskRecord, now: float) -> str | None:
    """What a user should know about one task right now, if anything."""
    if rec.unconfirmed:
        return (
            f"task {rec.external_task_id}: create not confirmed; "
            "it is looked up on Kling before it is ever sent again"
        )
    if not rec.succeeded or rec.result_path is not None or not rec.expires_at:
        return None
    left = rec.expires_at - now
    if left <= 0:
        return f"task {rec.task_id}: result not downloaded and its URL expired {_ago(-left)} ago"
    if left <= EXPIRY_WARNING_S:
        return (
            f"task {rec.task_id}: result not downloaded and deleted by Kling in {_ago(left)}; "
            f"run project.download({rec.task_id!r})"
        )
    return None


def with_warnings(records: Iterable[TaskRecord], now: float) -> list[TaskRecord]:
    """The records, each with its ``warning`` set (or cleared)."""
    return [replace(rec, warning=warning_for(rec, now)) for rec in records]


__all__ = ["EXPIRY_WARNING_S", "warning_for", "with_warnings"]
