"""Getting the media a request names: its own files, ``file://`` paths, loopback URLs.

The emulator runs offline, so it fetches only what is on this machine: its own served
files, ``file://`` paths, and http(s) URLs on 127.0.0.1 / localhost / ::1. Anything else
answers 1201 "not reachable from the emulator".
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from kling_widget.emulator.envelope import ApiError, invalid
from kling_widget.emulator.tasks import is_loopback_url
from kling_widget.emulator.uploads import FileStore, StoredFile, safe_name

REACH_RULE = (
    "not reachable from the emulator (it reads its own uploads, file:// paths and "
    "http(s) URLs on loopback)"
)


class Fetcher:
    """Resolves URLs of requests to local files, downloading loopback URLs once."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def local_file(self, field: str, url: str) -> tuple[Path, StoredFile | None]:
        """(path, stored file or None) for ``url``; ``ApiError`` 1201 when unreachable."""
        stored = self.files.from_url(url)
        if stored is not None:
            return stored.path, stored
        parts = urlsplit(url)
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            if not path.is_file():
                raise invalid(field, url, "no such file")
            return path, None
        if is_loopback_url(url):
            if (
                "/emulator/files/" in parts.path
                and parts.netloc == urlsplit(self.files.base_url).netloc
            ):
                raise invalid(field, url, "this file is no longer served (expired or unknown)")
            return self._download(field, url)
        raise invalid(field, url, REACH_RULE)

    def _download(self, field: str, url: str) -> tuple[Path, StoredFile]:
        name = safe_name(unquote(urlsplit(url).path), default="download")
        file_id, dest = self.files.reserve(name)
        try:
            with httpx.stream("GET", url, timeout=60.0, follow_redirects=True) as resp:
                if resp.status_code != 200:
                    raise invalid(field, url, f"download answered HTTP {resp.status_code}")
                with dest.open("wb") as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise invalid(field, url, f"download failed: {type(exc).__name__}") from None
        except ApiError:
            dest.unlink(missing_ok=True)
            raise
        return dest, self.files.register(file_id, dest)

    def read_bytes(self, field: str, url: str) -> bytes:
        """The bytes at ``url`` (same reach rules)."""
        path, _ = self.local_file(field, url)
        return path.read_bytes()
