"""``kling-widget tasks``: list, show and download Kling tasks of the account.

``download ID -o DIR`` saves ``DIR/<task id>.mp4`` (the id made a safe file name: it
never lands outside DIR); ``-o FILE`` saves that file. The download is the package's one
resumable downloader (a ``.part`` file resumed by a re-run, verified before it is renamed
into place). Imports the command line's common parts and the transfer layer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kling_widget.cli.common import (
    EXIT_OK,
    CliUsageError,
    add_connection_arguments,
    check_output_dir,
    check_output_file,
    connect,
    eprint,
    out,
)
from kling_widget.cli.progress import ProgressBar
from kling_widget.limits import PAGE_NUM_RANGE, PAGE_SIZE_RANGE

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.api.models import Task

NAME = "tasks"
HELP = "List, show or download the account's Multi-Elements and Omni-Video tasks."
KINDS = ("multi-elements", "omni-video")


def _bounded_int(field: str, bounds: tuple[int, int]) -> Callable[[str], int]:
    low, high = bounds

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{field}={text!r}: must be an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{field}={value}: must be in {low}..{high}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget tasks`` and its three actions."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="list tasks, newest first")
    listing.add_argument(
        "--kind", choices=(*KINDS, "all"), default="all", help="which API (default: all)"
    )
    listing.add_argument("--page", type=_bounded_int("--page", PAGE_NUM_RANGE), default=1)
    listing.add_argument(
        "--page-size", type=_bounded_int("--page-size", PAGE_SIZE_RANGE), default=30
    )
    show = actions.add_parser("show", help="show one task (task_id or external_task_id)")
    show.add_argument("task_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print Kling's full task JSON")
    download = actions.add_parser("download", help="download a succeeded task's result video")
    download.add_argument("task_id", metavar="ID")
    download.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR|FILE",
        help="an existing folder (the result is saved there as <task id>.mp4) or a file",
    )
    for action in (listing, show, download):
        add_connection_arguments(action)
        action.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print the traceback of an error as well as its one-line message",
        )


def _row(task: Any) -> list[str]:
    created = task.created_at.strftime("%Y-%m-%d %H:%M:%S") if task.created_at else "-"
    return [
        task.task_id,
        task.kind,
        task.status,
        created,
        task.external_task_id or "-",
        str(len(task.videos)),
    ]


def format_table(tasks: list[Task]) -> str:
    """Tasks as an aligned text table."""
    header = ["TASK ID", "KIND", "STATUS", "CREATED", "EXTERNAL ID", "VIDEOS"]
    rows = [header] + [_row(t) for t in tasks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def find_task(client: KlingClient, task_id: str) -> Task:
    """A task by id from either API: Multi-Elements first, then Omni-Video."""
    from kling_widget.errors import KlingNotFoundError

    try:
        return client.get_task(task_id)
    except KlingNotFoundError:
        return client.get_omni_video(task_id)


def output_path(output: str, task_id: str) -> Path:
    """Where ``download`` writes: inside an existing folder (a safe name made from the id,
    never outside it), or the file given."""
    from kling_widget.transfer import inside, safe_filename

    target = Path(output).expanduser()
    if target.is_dir() or output.endswith(("/", "\\")):
        check_output_dir("--output", output)
        return inside(target, safe_filename(task_id, suffix=".mp4"))
    return check_output_file("--output", output, suffix=None)


def run(args: argparse.Namespace) -> int:
    """Dispatch to list / show / download."""
    if args.action == "download":
        output_path(args.output, "check")  # the output is checked before any request
    conn = connect(args.max_retries)
    # On stderr so stdout stays a clean table or JSON for pipes.
    eprint(conn.banner)
    client = conn.client
    try:
        if args.action == "list":
            return _list(client, args)
        task = find_task(client, args.task_id)
        if args.action == "show":
            return _show(task, args.json)
        return _download(client, task, output_path(args.output, task.task_id))
    finally:
        client.close()


def _list(client: Any, args: argparse.Namespace) -> int:
    tasks: list[Any] = []
    if args.kind in ("multi-elements", "all"):
        tasks += client.list_tasks(page=args.page, page_size=args.page_size)
    if args.kind in ("omni-video", "all"):
        tasks += client.list_omni_videos(page=args.page, page_size=args.page_size)
    tasks.sort(key=lambda t: t.created_at.timestamp() if t.created_at else 0.0, reverse=True)
    if not tasks:
        out("no tasks")
        return EXIT_OK
    out(format_table(tasks))
    return EXIT_OK


def _show(task: Any, as_json: bool) -> int:
    if as_json:
        out(json.dumps(task.raw, indent=2, sort_keys=True))
        return EXIT_OK
    out(f"task id:        {task.task_id}")
    out(f"kind:           {task.kind}")
    out(f"status:         {task.status}" + (f" ({task.status_msg})" if task.status_msg else ""))
    out(f"external id:    {task.external_task_id or '-'}")
    out(f"created:        {task.created_at or '-'}")
    out(f"updated:        {task.updated_at or '-'}")
    if task.final_unit_deduction is not None:
        out(f"units deducted: {task.final_unit_deduction}")
    for i, video in enumerate(task.videos):
        out(f"video {i}:        {video.url}")
        if video.duration is not None:
            out(f"  duration:     {video.duration}")
    return EXIT_OK


def _download(client: Any, task: Any, dest: Path) -> int:
    if not task.succeeded or not task.videos:
        raise CliUsageError(
            "ID",
            task.task_id,
            f"task status is {task.status!r}: only a succeeded task has a result to download",
        )
    with ProgressBar("download") as bar:

        def on_progress(done: int, total: int | None) -> None:
            if total:
                bar.update(done / total, f"{done} of {total} bytes")
            else:
                bar.update(bar.fraction, f"{done} bytes")

        saved = Path(client.download(task, dest, on_progress=on_progress))
        bar.update(1.0)
    out(f"saved {saved} ({saved.stat().st_size} bytes)")
    return EXIT_OK
