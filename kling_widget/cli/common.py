"""Shared pieces of the command line: exit codes, error reporting, connecting, clip paths."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient

EXIT_OK = 0
EXIT_FAILURE = 1  # the API or the network failed
EXIT_USAGE = 2  # bad usage or invalid input; nothing was sent

# Environment variables whose values must never reach the terminal.
SECRET_ENV = ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY")


class CliUsageError(ValueError):
    """Bad input found by the command line itself: names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field}={value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule


def redact(text: str) -> str:
    """Replace any credential from the environment that appears in ``text``.

    The client never puts secrets in its errors; this is a second guard, because a message
    printed by the command line may also quote a library's text we do not control.
    """
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name.lower()} hidden>")
    return text


def eprint(*parts: object) -> None:
    """Print to stderr with secrets redacted."""
    print(redact(" ".join(str(p) for p in parts)), file=sys.stderr)


def out(*parts: object) -> None:
    """Print to stdout with secrets redacted."""
    print(redact(" ".join(str(p) for p in parts)), flush=True)


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as a readable line and return the exit code it maps to."""
    from kling_widget.errors import KlingError, KlingValidationError

    if isinstance(exc, KlingValidationError):
        eprint(f"error: invalid {exc.field}: {exc.field}={_short(exc.value)}: {exc.rule}")
        return EXIT_USAGE
    if isinstance(exc, CliUsageError):
        eprint(f"error: invalid {exc.field}: {exc.field}={_short(exc.value)}: {exc.rule}")
        return EXIT_USAGE
    if isinstance(exc, KlingError):
        eprint(f"error: {type(exc).__name__}: {exc.message}")
        details = [
            f"Kling code: {exc.code if exc.code is not None else 'none'}",
            f"request id: {exc.request_id or 'none'}",
        ]
        if exc.http_status is not None:
            details.append(f"HTTP status: {exc.http_status}")
        task_id = getattr(exc, "task_id", None)
        if task_id:
            details.append(f"task id: {task_id}")
        eprint("  " + ", ".join(details))
        return EXIT_FAILURE
    if isinstance(exc, FileNotFoundError):
        eprint(f"error: file not found: {exc.filename or exc}")
        return EXIT_USAGE
    if isinstance(exc, ValueError):
        eprint(f"error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OSError):
        eprint(f"error: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    eprint("internal error (please report it):")
    eprint("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
    return EXIT_FAILURE


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 15] + f"... ({len(text)} chars)"
    return text


def existing_file(field: str, path: str) -> Path:
    """``path`` as a Path, or a usage error naming ``field`` when there is no such file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise CliUsageError(field, path, "no such file")
    return p


def has_credentials() -> bool:
    """True when the environment names Kling credentials (either kind)."""
    env = os.environ
    return bool(env.get("KLING_API_KEY")) or bool(
        env.get("KLING_ACCESS_KEY") and env.get("KLING_SECRET_KEY")
    )


def shown_url(url: str) -> str:
    """``url`` without user info, query or fragment: safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


@dataclass
class Connection:
    """A client plus what the command line says about where it points."""

    client: KlingClient
    uploader: Callable[[Path], str] | None
    banner: str

    @property
    def is_emulator(self) -> bool:
        return self.uploader is not None


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that talks to Kling."""
    parser.add_argument(
        "--max-retries",
        type=_retries,
        default=None,
        metavar="N",
        help="retries after a rate limit, server error or network failure "
        "(default: the client's own, with exponential backoff)",
    )


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-retries={text!r}: must be an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--max-retries={value}: must be >= 0")
    return value


def connect(max_retries: int | None = None) -> Connection:
    """The client the environment asks for, or the in-process emulator when it names none.

    The banner is the first line commands print, so a user always knows whether real
    credits are being spent.
    """
    from kling_widget.connect import default_client, uploader_for

    creds = has_credentials()
    client: KlingClient
    if creds and max_retries is not None:
        from kling_widget.api.client import KlingClient

        client = KlingClient(max_retries=max_retries)  # keys and base URL from the environment
    else:
        client, _ = default_client(quiet=True)
    uploader = uploader_for(client)
    where = shown_url(str(client.base_url))
    if uploader is None:
        banner = f"Using the real Kling API at {where}"
    elif creds:
        banner = f"Using the local Kling emulator at {where}"
    else:
        banner = "Using the local Kling emulator (no credentials found)"
    return Connection(client=client, uploader=uploader, banner=banner)
