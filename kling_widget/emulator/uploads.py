"""Files the emulator serves: uploads, normalized clips, previews and results.

Each file lives in ``data_dir/files/<id>/<name>`` and is served at
``GET /emulator/files/<id>/<name>`` (public, no auth, like Kling's CDN links), with
``Range`` support. Results carry an expiry on the business clock (30 days); an expired
file answers 404 and is deleted. Imports nothing from the package.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, default: str = "file") -> str:
    """A file name reduced to ``[A-Za-z0-9._-]`` (no directories, never empty)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip("._")
    return cleaned[:120] or default


@dataclass
class StoredFile:
    """One served file."""

    file_id: str
    name: str
    path: Path
    created: float
    expires: float | None

    @property
    def content_type(self) -> str:
        """MIME type guessed from the name."""
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.path.stat().st_size


class FileStore:
    """Thread-safe registry of served files."""

    def __init__(self, root: Path, clock: Callable[[], float]) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()
        self.base_url = ""

    def reserve(self, name: str) -> tuple[str, Path]:
        """A new (file id, path) to write a file into before ``register``."""
        file_id = secrets.token_hex(8)
        folder = self.root / file_id
        folder.mkdir(parents=True)
        return file_id, folder / safe_name(name)

    def register(self, file_id: str, path: Path, expires_in: float | None = None) -> StoredFile:
        """Serve the file written at ``path`` (from ``reserve``)."""
        now = self._clock()
        stored = StoredFile(
            file_id=file_id,
            name=path.name,
            path=path,
            created=now,
            expires=None if expires_in is None else now + expires_in,
        )
        with self._lock:
            self._files[file_id] = stored
        return stored

    def discard(self, file_id: str) -> None:
        """Forget a file and delete its folder (a refused or failed upload or download)."""
        if not re.fullmatch(r"[0-9a-f]+", file_id):
            return
        with self._lock:
            self._files.pop(file_id, None)
        shutil.rmtree(self.root / file_id, ignore_errors=True)

    def add_bytes(self, name: str, data: bytes, expires_in: float | None = None) -> StoredFile:
        """Store and serve ``data`` under ``name``."""
        file_id, path = self.reserve(name)
        path.write_bytes(data)
        return self.register(file_id, path, expires_in)

    def get(self, file_id: str, name: str | None = None) -> StoredFile | None:
        """The file, or None when unknown, misnamed or expired (expired files are deleted)."""
        with self._lock:
            stored = self._files.get(file_id)
            if stored is None or (name is not None and name != stored.name):
                return None
            if stored.expires is not None and self._clock() >= stored.expires:
                del self._files[file_id]
                shutil.rmtree(stored.path.parent, ignore_errors=True)
                return None
            return stored

    def url(self, stored: StoredFile) -> str:
        """The URL this file is served at."""
        return f"{self.base_url}/emulator/files/{stored.file_id}/{quote(stored.name)}"

    def from_url(self, url: str) -> StoredFile | None:
        """The stored file a URL of ours points at, if it is one (and still served)."""
        parts = urlsplit(url)
        ours = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or parts.netloc != ours.netloc:
            return None
        m = re.fullmatch(r".*/emulator/files/([0-9a-f]+)/([^/]+)", parts.path)
        if m is None:
            return None
        return self.get(m.group(1), unquote(m.group(2)))

    def all(self) -> list[StoredFile]:
        """Every registered file (expired ones included until next looked up)."""
        with self._lock:
            return list(self._files.values())
