"""``BatchOptions``: the tuning of a batch run, and the job-row statuses' failure type.

Imports only the batch's limiter (for its default start); nothing else of the package.
"""

from __future__ import annotations

from dataclasses import dataclass

from kling_widget.batch.limiter import DEFAULT_START


@dataclass(frozen=True)
class BatchOptions:
    """Tuning of a batch run; the defaults suit the real API and the emulator alike.

    ``poll_interval`` (min, max) seconds: a task is polled every ``poll_fraction`` of its
    age, within those bounds, and densely (2 % of it, at least every 0.05 s) around the
    usual task time of the batch, once three tasks have ended. ``retry_base``: first
    backoff after a 5xxx or network failure (1302/1303 back off from
    ``rate_limit_base``, 1 s as the docs ask). Both double per attempt with jitter (the
    package's one :class:`~kling_widget.backoff.RetryPolicy`), up to ``max_backoff``.
    ``max_attempts``: failures of one step before a job is given up (1303 answers do not
    count: they only mean "wait").
    """

    prep_concurrency: int = 4
    poll_interval: tuple[float, float] = (0.1, 10.0)
    poll_fraction: float = 0.1
    task_timeout: float = 3600.0
    retry_base: float = 0.25
    rate_limit_base: float = 1.0
    max_backoff: float = 30.0
    max_attempts: int = 8
    retry_failed: bool = False
    check_media: bool = True
    learn_start: int = DEFAULT_START


class GiveUp(Exception):
    """A job step failed for good; ``status`` and ``message`` go into its row."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Refused(Exception):
    """No task exists after all (a re-sent create was refused); the slot was given back."""


__all__ = ["BatchOptions", "GiveUp", "Refused"]
