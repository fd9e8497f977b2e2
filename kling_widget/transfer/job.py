"""The sans-IO core of the one resumable downloader: :class:`DownloadJob` says what to ask,
how to read each answer and when a file is complete; :class:`Redirects` follows redirects
by hand. The drivers (sync and async) are in :mod:`kling_widget.transfer.download`.

Guarantees:

* Bytes go to ``<dest>.part`` (a fixed name, so a later process resumes it with ``Range``);
  only a complete file is renamed into place, after its length matches the server's total
  (and its SHA-256 the expected one, when given). The result carries the SHA-256.
* A ``206`` must start at the offset asked for; otherwise the part file is discarded and
  the download starts over. A ``Content-Range`` that does not parse is a
  :class:`KlingResponseError` (and the part file is discarded).
* ``Content-Length`` (or the range total) is checked against ``max_bytes`` before a byte is
  written, and the bytes are counted as they arrive.
* A total ``deadline`` per call (connect, every read, every retry and backoff) distinct
  from the per-read ``timeout``: :class:`KlingDeadlineError`.
* Only http(s) URLs, also after a redirect; redirects are followed here (at most
  ``MAX_REDIRECTS``), a loop is a :class:`KlingResponseError`. No credential is sent: the
  requests carry no ``Authorization`` header (clients made here have none).
* A local write failure (a full disk) removes the part file and re-raises the ``OSError``.

A leaf module: imports ``kling_widget.errors``, ``limits`` and ``transfer.names`` only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urljoin

from kling_widget.errors import (
    KlingAPIError,
    KlingError,
    KlingNotFoundError,
    KlingRateLimitError,
    KlingResponseError,
    KlingServerError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.limits import MAX_DOWNLOAD_BYTES, MAX_REDIRECTS
from kling_widget.transfer.names import check_fetch_url, shown_url

USER_AGENT = "kling-widget/0.1"
# Restarts from zero after a server answered a range request at the wrong offset.
MAX_RESTARTS = 3
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED = re.compile(r"^bytes \*/(\d+)$")
_REDIRECTS = (301, 302, 303, 307, 308)

ProgressFn = Callable[[int, "int | None"], None]
Schemes = Sequence[str]


@dataclass(frozen=True)
class DownloadResult:
    """A complete, verified file on disk."""

    path: Path
    size: int
    sha256: str
    resumed_from: int = 0


@dataclass(frozen=True)
class Get:
    """Action: send this GET."""

    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Body:
    """Read the body: append to the part file (resume) or write it from the start."""

    append: bool
    total: int | None


class Redirected:
    """Send the next request to the new ``job.url``."""


class Restart:
    """The part file was discarded; send the request again from byte 0."""


Step = Body | Redirected | Restart | DownloadResult


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class Redirects:
    """Follows redirects by hand: only allowed schemes, a bounded count, no loops."""

    def __init__(self, url: str, allowed_schemes: Schemes) -> None:
        self.url = check_fetch_url(url, allowed_schemes)
        self._allowed = allowed_schemes
        self._seen = {self.url}
        self._hops = 0

    def follow(self, status: int, headers: Mapping[str, str]) -> bool:
        """True (and ``self.url`` moved) when the answer is a redirect."""
        if status not in _REDIRECTS:
            return False
        location = _header(headers, "location")
        if not location:
            raise KlingResponseError(
                f"{shown_url(self.url)} answered {status} without a Location", http_status=status
            )
        target = urljoin(self.url, location.strip())
        try:
            target = check_fetch_url(target, self._allowed, "redirect")
        except KlingValidationError as err:
            raise KlingResponseError(
                f"{shown_url(self.url)} redirected to a refused URL: {err.rule}", http_status=status
            ) from None
        self._hops += 1
        if target in self._seen:
            raise KlingResponseError(f"redirect loop at {shown_url(target)}", http_status=status)
        if self._hops > MAX_REDIRECTS:
            raise KlingResponseError(
                f"more than {MAX_REDIRECTS} redirects from {shown_url(self.url)}",
                http_status=status,
            )
        self._seen.add(target)
        self.url = target
        return True


def status_error(url: str, status: int, headers: Mapping[str, str]) -> KlingError:
    """The typed error for a non-success status of a file host."""
    cls: type[KlingAPIError] = KlingAPIError
    if status in (404, 410):
        cls = KlingNotFoundError
    elif status == 429:
        cls = KlingRateLimitError
    elif status >= 500:
        cls = KlingServerError
    return cls(f"GET {shown_url(url)} failed", http_status=status)


class DownloadJob:
    """The sans-IO core of one download: what to ask, how to read each answer, when done."""

    def __init__(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        expected_sha256: str | None = None,
        on_progress: ProgressFn | None = None,
        allowed_schemes: Schemes = ("http", "https"),
    ) -> None:
        self.redirects = Redirects(url, allowed_schemes)
        self.dest = _prepare_dest(Path(dest))
        self.part = self.dest.with_name(self.dest.name + ".part")
        self.max_bytes = max_bytes
        self.expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        self.on_progress = on_progress
        self.resumed_from = self._part_size()
        self._asked = 0
        self._restarts = 0
        self._total: int | None = None
        self._done = 0
        self._hasher: hashlib._Hash | None = None

    @property
    def url(self) -> str:
        """The URL the next request goes to (after redirects)."""
        return self.redirects.url

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def request(self) -> Get:
        """The next GET: a ``Range`` request when a part file is there."""
        self._asked = self._part_size()
        headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
        if self._asked:
            headers["Range"] = f"bytes={self._asked}-"
        return Get(self.url, headers)

    def on_headers(self, status: int, headers: Mapping[str, str]) -> Step:
        """Decide from the status line and headers; raises a typed error for a bad answer."""
        if self.redirects.follow(status, headers):
            return Redirected()
        if status == 416 and self._asked:
            match = _UNSATISFIED.match((_header(headers, "content-range") or "").strip())
            if match and int(match.group(1)) == self._asked:
                self._total = self._asked
                return self.finish()
            return self._restart("416 for a range the part file does not match")
        if status == 206:
            return self._partial(headers)
        if status == 200:
            self._total = self._length(headers)
            return self._body(append=False)
        if 200 <= status < 300:
            raise KlingResponseError(
                f"GET {shown_url(self.url)} answered {status} without a body", http_status=status
            )
        raise status_error(self.url, status, headers)

    def _partial(self, headers: Mapping[str, str]) -> Step:
        text = (_header(headers, "content-range") or "").strip()
        match = _RANGE.match(text)
        if not match:
            self.discard()
            raise KlingResponseError(
                f"GET {shown_url(self.url)}: unreadable Content-Range {text[:60]!r}",
                http_status=206,
            )
        start, end = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        if end < start or (total is not None and end >= total):
            self.discard()
            raise KlingResponseError(
                f"GET {shown_url(self.url)}: inconsistent Content-Range {text[:60]!r}",
                http_status=206,
            )
        if start != self._asked:
            return self._restart(f"206 starts at byte {start}, asked for {self._asked}")
        self._total = total if total is not None else end + 1
        return self._body(append=start > 0)

    def _length(self, headers: Mapping[str, str]) -> int | None:
        if _header(headers, "content-encoding") not in (None, "identity"):
            return None  # decoded bytes differ from the announced length
        text = (_header(headers, "content-length") or "").strip()
        return int(text) if text.isdigit() else None

    def _body(self, append: bool) -> Body:
        if self._total is not None and self._total > self.max_bytes:
            self.discard()
            raise KlingResponseError(
                f"GET {shown_url(self.url)}: {self._total} bytes announced, over the "
                f"{self.max_bytes}-byte cap"
            )
        self._done = self._asked if append else 0
        # Hash while writing (no second pass over the file); a resumed part is hashed once.
        self._hasher = _sha256_of(self.part) if append else hashlib.sha256()
        return Body(append, self._total)

    def _restart(self, why: str) -> Restart:
        self.discard()
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            raise KlingResponseError(f"GET {shown_url(self.url)}: {why}, {MAX_RESTARTS} times")
        return Restart()

    def open_part(self, append: bool) -> IO[bytes]:
        """The part file, opened to append or truncated."""
        return open(self.part, "ab" if append else "wb")

    def write(self, fh: IO[bytes], chunk: bytes) -> None:
        """Write one chunk, refusing bytes past the cap or past the announced total."""
        self._done += len(chunk)
        limit = self.max_bytes if self._total is None else min(self._total, self.max_bytes)
        if self._done > limit:
            self.discard()
            what = "the announced length" if self._total is not None else "the cap"
            raise KlingResponseError(f"GET {shown_url(self.url)}: more bytes than {what} ({limit})")
        try:
            fh.write(chunk)
        except OSError:
            self.discard()
            raise
        if self._hasher is not None:
            self._hasher.update(chunk)
        if self.on_progress is not None:
            self.on_progress(self._done, self._total)

    def finish(self) -> DownloadResult | Restart:
        """After the body ended: verify length and digest, then move into place."""
        size = self._part_size()
        if self._total is not None and size != self._total:
            if size > self._total:
                return self._restart(f"{size} bytes on disk, the server says {self._total}")
            raise KlingTransportError(
                f"GET {shown_url(self.url)} stopped at {size} of {self._total} bytes"
            )
        hasher, self._hasher = self._hasher, None
        digest = hasher.hexdigest() if hasher is not None else _sha256_of(self.part).hexdigest()
        if self.expected_sha256 and digest != self.expected_sha256:
            self.discard()
            raise KlingResponseError(
                f"GET {shown_url(self.url)}: SHA-256 {digest} differs from the expected one"
            )
        os.replace(self.part, self.dest)
        return DownloadResult(self.dest, size, digest, self.resumed_from)

    def discard(self) -> None:
        """Remove the part file (it cannot be trusted or resumed)."""
        self._hasher = None
        self.part.unlink(missing_ok=True)


def _prepare_dest(dest: Path) -> Path:
    dest = dest.expanduser()
    if dest.is_dir():
        raise KlingValidationError("dest", str(dest), "is a folder; give a file path")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KlingValidationError(
            "dest", str(dest), f"its folder cannot be created ({exc.strerror or exc})"
        ) from None
    return dest


def _sha256_of(path: Path) -> hashlib._Hash:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h
