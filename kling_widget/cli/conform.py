"""``kling-widget conform``: re-encode a clip so it meets Kling's limits."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kling_widget.cli.common import EXIT_OK, CliUsageError, existing_file, out
from kling_widget.cli.media import add_target, describe
from kling_widget.cli.progress import ProgressBar

NAME = "conform"
HELP = (
    "Write a copy of a clip that meets Kling's limits (frame rate, size, duration; "
    "H.264 yuv420p mp4), with a progress bar."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget conform``."""
    parser.add_argument("clip", metavar="CLIP", help="the video file to conform")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output .mp4 path")
    add_target(parser)


def progress_callback(bar: ProgressBar) -> Callable[..., None]:
    """An ``on_progress`` for media functions: accepts a fraction or (done, total)."""

    def on_progress(*values: Any) -> None:
        if len(values) >= 2 and values[1]:
            bar.update(float(values[0]) / float(values[1]))
        elif values:
            bar.update(float(values[0]))

    return on_progress


def run(args: argparse.Namespace) -> int:
    """Conform and report the result's properties."""
    from kling_widget.media.video import VideoSource

    path = existing_file("CLIP", args.clip)
    dest = Path(args.output)
    if dest.suffix.lower() != ".mp4":
        raise CliUsageError("--output", args.output, "must end in .mp4 (H.264 in MP4)")
    if dest.resolve() == path.resolve():
        raise CliUsageError("--output", args.output, "must differ from CLIP")
    source = VideoSource(path)
    out(f"{path}: {describe(source)}")
    for v in source.check(args.target):
        out(f"  - {v}")
    with ProgressBar("conform") as bar:
        result = source.conform(dest, target=args.target, on_progress=progress_callback(bar))
        bar.update(1.0)
    out(f"{dest}: {describe(result)}")
    return EXIT_OK
