"""``kling-widget check``: the clip preflight against Kling's documented limits."""

from __future__ import annotations

import argparse
from typing import Any

from kling_widget.cli.common import EXIT_OK, EXIT_USAGE, existing_file, out
from kling_widget.limits import CLIP_LIMITS

NAME = "check"
HELP = "Check a clip against Kling's limits for Multi-Elements or Omni-Video."


def add_target(parser: argparse.ArgumentParser) -> None:
    """The ``--target`` option shared by ``check`` and ``conform``."""
    parser.add_argument(
        "--target",
        choices=sorted(CLIP_LIMITS),
        default="multi-elements",
        help="which API's clip limits apply (default: multi-elements)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget check``."""
    parser.add_argument("clip", metavar="CLIP", help="the video file to check (.mp4 or .mov)")
    add_target(parser)


def describe(source: Any) -> str:
    """One line about a probed clip (a ``VideoSource``): size, rate, frames, duration, codec."""
    return (
        f"{source.width}x{source.height}, {float(source.fps):g} fps, "
        f"{source.frame_count} frames, {float(source.duration):.2f} s, {source.codec}"
    )


def run(args: argparse.Namespace) -> int:
    """Print the clip's properties and every broken limit; exit 2 when any is broken."""
    from kling_widget.media.video import VideoSource

    path = existing_file("CLIP", args.clip)
    source = VideoSource(path)
    out(f"{path}: {describe(source)}")
    violations = source.check(args.target)
    if not violations:
        out(f"OK: meets the {args.target} limits")
        return EXIT_OK
    for v in violations:
        out(f"  - {v}")
    out(
        f"{len(violations)} limit(s) broken for {args.target}; "
        f"fix with: kling-widget conform {args.clip} -o OUT.mp4 --target {args.target}"
    )
    return EXIT_USAGE
