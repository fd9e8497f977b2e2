"""Shared pieces of the command line: exit codes, error reporting, connecting, paths.

Imports the typed errors, the journal's errors and the workflow's ``connect`` (lazily);
every command module builds on it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient

EXIT_OK = 0
EXIT_FAILURE = 1  # the API, the network, the disk or the journal failed; or a job failed
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


def report_error(exc: BaseException, *, debug: bool = False) -> int:
    """Print ``exc`` as one readable line and return the exit code it maps to.

    Every known error gets its own line and code; anything else is an internal error,
    with its traceback only when ``debug`` is set.
    """
    from kling_widget.errors import KlingError, KlingValidationError, short_repr
    from kling_widget.journal import (
        JournalCorruptError,
        JournalError,
        JournalLockedError,
        JournalReadOnlyError,
    )

    code = EXIT_FAILURE
    if isinstance(exc, KlingValidationError):
        eprint(f"error: invalid {exc.field}: {exc.message}")
        code = EXIT_USAGE
    elif isinstance(exc, CliUsageError):
        eprint(f"error: invalid {exc.field}: {exc.field}={short_repr(exc.value)}: {exc.rule}")
        code = EXIT_USAGE
    elif isinstance(exc, JournalLockedError):
        eprint(f"error: {exc.path.parent} is open in {exc.holder}; close it or pass --read-only")
    elif isinstance(exc, (JournalCorruptError, JournalReadOnlyError, JournalError)):
        eprint(f"error: {exc}")
    elif isinstance(exc, KlingError):
        details = [
            f"Kling code: {exc.code if exc.code is not None else 'none'}",
            f"request id: {exc.request_id or 'none'}",
        ]
        if exc.http_status is not None:
            details.append(f"HTTP status: {exc.http_status}")
        task_id = getattr(exc, "task_id", None)
        if task_id:
            details.append(f"task id: {task_id}")
        eprint(f"error: {type(exc).__name__}: {exc.message} ({', '.join(details)})")
    elif isinstance(exc, FileNotFoundError):
        eprint(f"error: file not found: {exc.filename or exc}")
        code = EXIT_USAGE
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        eprint(f"error: {exc.strerror or type(exc).__name__}{where}")
    else:
        eprint(
            f"error: internal error (please report it): {type(exc).__name__}: {exc}"
            + ("" if debug else " (run with --debug for the traceback)")
        )
    if debug:
        eprint("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
    return code


def _first_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if os.path.lexists(parent):
            return parent
    return Path(".")


def check_output_file(field: str, path: str, suffix: str | None = ".mp4") -> Path:
    """A file the command may write: not a folder, not under a file, in a writable folder.

    Checked before anything is sent, so a paid result never meets a path it cannot take.
    """
    p = Path(path).expanduser()
    if suffix is not None and p.suffix.lower() != suffix:
        raise CliUsageError(field, path, f"must end in {suffix}")
    if p.is_dir():
        raise CliUsageError(field, path, "is an existing folder; give a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise CliUsageError(field, path, "exists and cannot be overwritten (no permission)")
    _check_folder(field, path, p.parent)
    return p


def check_output_dir(field: str, path: str) -> Path:
    """A folder the command may write into (made later): not a file, not under one."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise CliUsageError(field, path, "is a file; give a folder")
    _check_folder(field, path, p)
    return p


def _check_folder(field: str, shown: str, folder: Path) -> None:
    base = _first_existing(folder)
    if not base.is_dir():
        raise CliUsageError(field, shown, f"{base} is a file, so nothing can be written under it")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CliUsageError(field, shown, f"{base} is not writable")


def check_seconds(field: str) -> Callable[[str], float]:
    """An argparse type: seconds, finite and above 0."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{field}={text!r}: must be a number") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{field}={text}: must be finite and above 0")
        return value

    return parse


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
        type=int_at_least("--max-retries", 0),
        default=None,
        metavar="N",
        help="retries after a rate limit, server error or network failure "
        "(default: the client's own, with exponential backoff)",
    )


def int_at_least(option: str, lowest: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``lowest``, else an error naming ``option``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option}={text!r}: must be an integer") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{option}={value}: must be >= {lowest}")
        return value

    return parse


def connect(max_retries: int | None = None) -> Connection:
    """The client the environment asks for, or the in-process emulator when it names none.

    The banner is the first line commands print, so a user always knows whether real
    credits are being spent.
    """
    from kling_widget.workflow import default_client, uploader_for

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
