"""Getting the media a request names: its own files, ``file://`` paths, loopback URLs.

The emulator runs offline, so it fetches only what is on this machine: its own served
files, ``file://`` paths, and http(s) URLs whose host is a loopback address (127.0.0.0/8,
``::1``, ``localhost``). Anything else answers 1201 "not reachable from the emulator".
Redirects are followed by hand, at most ``MAX_REDIRECTS``, and only to loopback URLs: a
loopback URL that redirects to another host is refused (1201), so a request can never make
the emulator reach beyond the machine. A download stops (1201) once it passes its size cap
or ``FETCH_DEADLINE_S``.
Imports only ``emulator.envelope`` and ``emulator.uploads``.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from kling_widget.emulator.envelope import ApiError, invalid
from kling_widget.emulator.uploads import FileStore, StoredFile, safe_name

REACH_RULE = (
    "not reachable from the emulator (it reads its own uploads, file:// paths and "
    "http(s) URLs on loopback)"
)
MAX_REDIRECTS = 5
# Per connect/read/write; a loopback server that stalls longer than this fails the fetch.
FETCH_TIMEOUT_S = 30.0
# The whole download, redirects included; a server that drips bytes fails the fetch too.
FETCH_DEADLINE_S = 300.0


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is http(s) on this machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Fetcher:
    """Resolves URLs of requests to local files, downloading loopback URLs once."""

    def __init__(self, files: FileStore, max_bytes: int) -> None:
        self.files = files
        self.max_bytes = max_bytes

    def local_file(
        self, field: str, url: str, limit: int | None = None
    ) -> tuple[Path, StoredFile | None]:
        """(path, stored file or None) for ``url``; ``ApiError`` 1201 when unreachable or
        larger than ``limit`` bytes (default: the fetcher's cap)."""
        cap = self.max_bytes if limit is None else limit
        stored = self.files.from_url(url)
        if stored is not None:
            self._check_size(field, url, stored.path.stat().st_size, cap)
            return stored.path, stored
        parts = urlsplit(url)
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            if not path.is_file():
                raise invalid(field, url, "no such file")
            self._check_size(field, url, path.stat().st_size, cap)
            return path, None
        if is_loopback_url(url):
            if (
                "/emulator/files/" in parts.path
                and parts.netloc == urlsplit(self.files.base_url).netloc
            ):
                raise invalid(field, url, "this file is no longer served (expired or unknown)")
            return self._download(field, url, cap)
        raise invalid(field, url, REACH_RULE)

    @staticmethod
    def _check_size(field: str, url: str, size: int, cap: int) -> None:
        if size > cap:
            raise invalid(field, url, f"the file has {size} bytes: at most {cap} are accepted")

    def _download(self, field: str, url: str, cap: int) -> tuple[Path, StoredFile]:
        current = url
        file_id: str | None = None
        deadline = time.monotonic() + FETCH_DEADLINE_S
        try:
            with httpx.Client(
                timeout=FETCH_TIMEOUT_S, follow_redirects=False, trust_env=False
            ) as http:
                for _ in range(MAX_REDIRECTS + 1):
                    with http.stream("GET", current) as resp:
                        if resp.is_redirect:
                            current = self._next_hop(field, url, current, resp)
                            continue
                        if resp.status_code != 200:
                            raise invalid(field, url, f"download answered HTTP {resp.status_code}")
                        # Named after the final URL: a redirect's own path says nothing.
                        name = safe_name(unquote(urlsplit(current).path), default="download")
                        file_id, dest = self.files.reserve(name)
                        self._save(field, url, resp, dest, cap, deadline)
                        return dest, self.files.register(file_id, dest)
                raise invalid(field, url, f"more than {MAX_REDIRECTS} redirects")
        except httpx.HTTPError as exc:
            if file_id is not None:
                self.files.discard(file_id)
            raise invalid(field, url, f"download failed: {type(exc).__name__}") from None
        except ApiError:
            if file_id is not None:
                self.files.discard(file_id)
            raise

    @staticmethod
    def _next_hop(field: str, url: str, current: str, resp: httpx.Response) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise invalid(field, url, f"HTTP {resp.status_code} redirect without a Location")
        target = urljoin(current, location)
        target = str(target)
        if not is_loopback_url(target):
            host = urlsplit(target).hostname or target[:60]
            raise invalid(
                field,
                url,
                f"redirects to {host!r}, which is not on this machine; redirects are followed "
                "only to loopback URLs",
            )
        return target

    def _save(
        self, field: str, url: str, resp: httpx.Response, dest: Path, cap: int, deadline: float
    ) -> None:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit():
            self._check_size(field, url, int(declared), cap)
        written = 0
        with dest.open("wb") as fh:
            for chunk in resp.iter_bytes():
                written += len(chunk)
                if written > cap:
                    raise invalid(field, url, f"the file has more than {cap} bytes")
                if time.monotonic() > deadline:
                    raise invalid(field, url, f"the download took over {FETCH_DEADLINE_S:g} s")
                fh.write(chunk)

    def read_bytes(self, field: str, url: str, limit: int | None = None) -> bytes:
        """The bytes at ``url`` (same reach rules and cap)."""
        path, _ = self.local_file(field, url, limit)
        return path.read_bytes()
