"""Batch edits of many clips under the account's concurrency limit.

```python
from kling_widget.batch import Job, edit_many, load_jobs

jobs = [Job.removal("a.mp4", [(0, 0.5, 0.4)]), Job.omni("b.mp4", "make it snow")]
result = edit_many(jobs, out_dir="results")   # or edit_many(load_jobs("jobs.csv"), ...)
print(result)                                  # a table of outcomes
```

See :func:`edit_many` (and ``edit_many_async``), :class:`Job`, :func:`load_jobs` and
``docs/scaling.md``. Modules: ``jobs`` (what a job is and its checks), ``jobfile`` (CSV
and JSONL job files), ``points`` (``FRAME:X,Y``), ``limiter``
(the account's concurrency), ``options``, ``steps`` (one job's blocking calls into its
project), ``slots`` and ``engine`` (the run), ``runner`` (the entry points), ``progress``
and ``result``. Imports the workflow and below; never the command line.
"""

from __future__ import annotations

from kling_widget.batch.jobfile import load_jobs
from kling_widget.batch.jobs import EDITS, JOB_FILE_COLUMNS, Job, JobError, check_jobs
from kling_widget.batch.limiter import LimiterStats, SlotLimiter
from kling_widget.batch.options import BatchOptions
from kling_widget.batch.progress import BatchProgress
from kling_widget.batch.result import BatchResult, JobOutcome
from kling_widget.batch.runner import edit_many, edit_many_async

__all__ = [
    "EDITS",
    "JOB_FILE_COLUMNS",
    "BatchOptions",
    "BatchProgress",
    "BatchResult",
    "Job",
    "JobError",
    "JobOutcome",
    "LimiterStats",
    "SlotLimiter",
    "check_jobs",
    "edit_many",
    "edit_many_async",
    "load_jobs",
]
