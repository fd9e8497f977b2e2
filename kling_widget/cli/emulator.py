"""``kling-widget emulator``: the local Kling emulator alone, in the foreground."""

from __future__ import annotations

import argparse
import contextlib

from kling_widget.cli.common import EXIT_OK

NAME = "emulator"
HELP = (
    "Serve the local Kling emulator on loopback until interrupted. It accepts the "
    "credentials in KLING_API_KEY or KLING_ACCESS_KEY + KLING_SECRET_KEY when set; "
    "point another process at it with KLING_BASE_URL."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget emulator``."""
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    from kling_widget.emulator import serve

    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.host)
    return EXIT_OK
