"""``kling-widget batch JOBS.csv|JOBS.jsonl -o DIR``: many edits under the concurrency limit.

Registered in :data:`kling_widget.cli.COMMANDS`. The job file's columns (CSV header, or
JSONL keys) are listed by ``kling-widget batch --help`` (``JOB_FILE_COLUMNS``). Every row
is checked (fields, clip and image limits) before anything is sent; a bad row exits with
code 2 naming the row, the field, the value and the rule. Results go to ``DIR/<name>.mp4``
and journals to ``DIR/journals`` (``--journals``), so running the same command again
after a crash or Ctrl-C repeats nothing and loses nothing.

Exit codes (``cli.common``): 0 every job done, 1 some job failed (the table says which),
2 bad input (nothing was sent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kling_widget.batch.jobs import JOB_FILE_COLUMNS
from kling_widget.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_connection_arguments,
    int_at_least,
)

NAME = "batch"
HELP = (
    "Edit many clips from a CSV or JSONL job file, keeping at most N Kling tasks in flight; "
    "re-running the same command resumes without repeating anything."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget batch``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "job file columns (CSV header / JSONL keys):\n" + "\n".join(
        f"  {name:<20} {text}" for name, text in JOB_FILE_COLUMNS.items()
    )
    parser.add_argument("jobs", metavar="JOBS", help="a .csv or .jsonl job file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder for the result videos"
    )
    parser.add_argument(
        "--concurrency",
        type=int_at_least("--concurrency", 1),
        default=None,
        metavar="N",
        help="the account's concurrent-task limit (default: learned from Kling's 1303 answers)",
    )
    parser.add_argument(
        "--journals",
        default=None,
        metavar="DIR",
        help="where the per-job journals live (default: OUTPUT/journals)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="create a new task for jobs whose task failed in an earlier run",
    )
    add_connection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check every job, then run the batch and print the outcome table."""
    from kling_widget.batch import BatchOptions, edit_many, load_jobs
    from kling_widget.batch.jobs import check_media
    from kling_widget.cli.common import check_output_dir, connect, eprint, out

    # Every row and the output folder are checked before anything is sent; a bad one is a
    # validation error (exit 2) naming the row, the field, the value and the rule.
    jobs = load_jobs(args.jobs)
    check_media(jobs)
    check_output_dir("--output", args.output)
    if args.journals:
        check_output_dir("--journals", args.journals)
    connection = connect(args.max_retries)
    eprint(connection.banner)
    eprint(f"{len(jobs)} job(s) from {args.jobs}; results in {args.output}")
    result = edit_many(
        jobs,
        concurrency=args.concurrency,
        client=connection.client,
        out_dir=Path(args.output),
        root=Path(args.journals) if args.journals else None,
        uploader=connection.uploader,
        progress="auto",
        options=BatchOptions(retry_failed=args.retry_failed, check_media=False),
    )
    connection.client.close()
    out(result.to_markdown())
    sys.stdout.flush()
    return EXIT_OK if result.ok else EXIT_FAILURE


__all__ = ["HELP", "NAME", "add_arguments", "run"]
