"""The ``kling-widget`` command (also ``python -m kling_widget``).

Subcommands live in their own modules and are listed in :data:`COMMANDS`. A command module
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; it keeps heavy
imports (the emulator, PyAV, JupyterLab) inside ``run`` so ``kling-widget --help`` stays fast.
To add a subcommand, write such a module and add its dotted path to :data:`COMMANDS`;
nothing else changes.

Exit codes (``cli.common``): 0 success, 2 bad usage or invalid input (the message names the
field, the value and the rule; nothing was sent), 1 a failure of the API, the network, the
disk or the journal, or a job that failed (the message carries Kling's code and request
id). Every known error is one line; ``--debug`` adds the traceback.

The top of the layers: imports everything below it, nothing imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from kling_widget.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, report_error

__all__ = ["COMMANDS", "EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

_DEBUG_HELP = "print the traceback of an error as well as its one-line message"

# The subcommand registry: dotted module paths, in the order ``--help`` lists them.
COMMANDS: list[str] = [
    "kling_widget.cli.demo",
    "kling_widget.cli.emulator",
    "kling_widget.cli.media",  # check
    "kling_widget.cli.conform",
    "kling_widget.cli.edit",
    "kling_widget.cli.tasks",
    "kling_widget.cli.batch",
]


def _load(path: str) -> ModuleType:
    return importlib.import_module(path)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one subparser per module in :data:`COMMANDS`."""
    from kling_widget import __version__

    parser = argparse.ArgumentParser(
        prog="kling-widget",
        description=(
            "Edit videos with Kling AI's Multi-Elements API from the command line, "
            "or start the Jupyter demo on the local Kling emulator."
        ),
        epilog="Exit codes: 0 success, 2 bad usage or invalid input (nothing was sent), "
        "1 a failure of the API, the network, the disk or the journal, or a failed job.",
    )
    parser.add_argument("--version", action="version", version=f"kling-widget {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for path in COMMANDS:
        module = _load(path)
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        # Also after the command name; SUPPRESS keeps a global --debug from being reset.
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure becomes a readable line and an exit code
        return report_error(exc, debug=bool(getattr(args, "debug", False)))
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
