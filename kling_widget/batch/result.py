"""The outcome of a batch: one row per job, as text, Markdown or an HTML table."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kling_widget.batch.jobs import Job
from kling_widget.batch.limiter import LimiterStats

# Row statuses.
DONE = "done"  # result on disk
FAILED = "failed"  # Kling ran the task and it failed
ERROR = "error"  # refused before or by Kling, or gave up after retries (nothing billed twice)
TIMEOUT = "timeout"  # still running on Kling after the task timeout: re-run to pick it up
STATUSES = (DONE, FAILED, ERROR, TIMEOUT)


@dataclass
class JobOutcome:
    """What became of one job."""

    job: Job
    status: str = ERROR
    task_id: str | None = None
    external_task_id: str | None = None
    result: Path | None = None
    error: str | None = None
    # "resumed" (a task from an earlier run was picked up), "already done", or "".
    note: str = ""
    attempts: int = 0

    @property
    def name(self) -> str:
        """The job's output name."""
        return self.job.output_name

    @property
    def ok(self) -> bool:
        """True when the result is on disk."""
        return self.status == DONE


@dataclass
class BatchResult:
    """Every job's outcome, in job order, and how the batch ran.

    ``str()`` and :meth:`to_markdown` give a Markdown table; in a notebook the result shows
    as an HTML table. ``wall_s`` is the batch's wall time, ``limiter`` what the concurrency
    limiter saw (final limit, peak in flight, 1303 answers).
    """

    rows: list[JobOutcome]
    out_dir: Path
    wall_s: float = 0.0
    limiter: LimiterStats | None = None
    retries: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = dict(Counter(r.status for r in self.rows))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[JobOutcome]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> JobOutcome:
        return self.rows[i]

    @property
    def ok(self) -> bool:
        """True when every job's result is on disk."""
        return all(r.ok for r in self.rows)

    def by_status(self, status: str) -> list[JobOutcome]:
        """The rows with one status."""
        return [r for r in self.rows if r.status == status]

    def summary(self) -> str:
        """One line: counts per status, wall time, limit."""
        parts = [f"{self.counts.get(s, 0)} {s}" for s in STATUSES if self.counts.get(s)]
        line = f"{len(self.rows)} job(s): " + (", ".join(parts) or "nothing to do")
        line += f" in {self.wall_s:.1f} s"
        if self.limiter is not None:
            how = "given" if self.limiter.given is not None else "learned"
            line += (
                f"; at most {self.limiter.peak_in_flight} task(s) in flight "
                f"(limit {self.limiter.limit}, {how}; {self.limiter.refusals} x 1303)"
            )
        return line

    def _cells(self, row: JobOutcome) -> list[str]:
        detail = row.error or row.note or ""
        return [
            row.name,
            row.job.edit,
            row.status,
            row.task_id or "",
            str(row.result) if row.result else "",
            detail,
        ]

    _HEAD = ("job", "edit", "status", "task_id", "result", "error / note")

    def to_markdown(self) -> str:
        """The outcome table in Markdown, followed by the summary line."""

        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [
            "| " + " | ".join(self._HEAD) + " |",
            "|" + "|".join("---" for _ in self._HEAD) + "|",
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(esc(c) for c in self._cells(row)) + " |")
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"BatchResult({self.summary()!r})"

    def _repr_html_(self) -> str:
        colors = {DONE: "#15803d", FAILED: "#b91c1c", ERROR: "#b91c1c", TIMEOUT: "#b45309"}
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self._HEAD)
        body = []
        for row in self.rows:
            cells = [html.escape(c) for c in self._cells(row)]
            color = colors.get(row.status, "#374151")
            cells[2] = f"<span style='color:{color};font-weight:600'>{cells[2]}</span>"
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (
            "<div class='kling-batch-result'>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p>{html.escape(self.summary())}</p></div>"
        )


__all__ = ["DONE", "ERROR", "FAILED", "STATUSES", "TIMEOUT", "BatchResult", "JobOutcome"]
