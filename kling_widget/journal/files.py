"""Where a journal lives on disk and how its files are named and hashed.

Holds the folder layout (``root/<clip-stem>-<sha256[:8]>/journal.sqlite3``), the default
root, file hashing and atomic small-file writes. Imports nothing from the rest of the
package: the database, the store and the recovery all build on it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

JOURNAL_NAME = "journal.sqlite3"
LOCK_NAME = "journal.lock"
# Relative to the working directory, like any output folder a command writes;
# ``KLING_WIDGET_PROJECTS`` moves it (the demo points it outside the source checkout).
DEFAULT_ROOT = "kling-projects"
ROOT_ENV = "KLING_WIDGET_PROJECTS"
_CHUNK = 1 << 20


def default_root() -> Path:
    """The folder projects go to when none is given: ``$KLING_WIDGET_PROJECTS`` or
    ``./kling-projects``."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def journal_file(path: str | Path) -> Path:
    """``path`` itself when it names a ``.sqlite3`` file, else ``path/journal.sqlite3``."""
    p = Path(path)
    if p.is_dir() or p.suffix != ".sqlite3":
        return p / JOURNAL_NAME
    return p


def file_sha256(path: str | Path) -> tuple[str, int]:
    """Stream a file through SHA-256; returns ``(hexdigest, size)``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def project_folder(clip: str | Path, fingerprint: str, root: str | Path = DEFAULT_ROOT) -> Path:
    """The folder holding a clip's journal: ``root/<clip-stem>-<sha256[:8]>``."""
    stem = re.sub(r"[^\w.-]+", "_", Path(clip).stem).strip("._") or "clip"
    return Path(root) / f"{stem}-{fingerprint[:8]}"


def host_of(base_url: str) -> str:
    """Only the host (and port) of a base URL: never a userinfo part or a query."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


def write_atomically(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through a temporary sibling; nothing half-written stays."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = [
    "DEFAULT_ROOT",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "ROOT_ENV",
    "default_root",
    "file_sha256",
    "host_of",
    "journal_file",
    "project_folder",
    "write_atomically",
]
