"""Result downloads that survive a killed process: atomic, resumable, verified.

Bytes go to ``<dest>.part`` (a fixed name, so the next process finds it), a
broken or killed download continues with an HTTP ``Range`` request, the length
is checked against what the server announced, and only a complete file is
renamed into place. Result URLs are public CDN links: no credential is sent.
"""

from __future__ import annotations

import functools
import hashlib
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ProgressFn = Callable[[int, int | None], None]


class DownloadError(Exception):
    """A result could not be downloaded completely (the partial file is kept for resuming)."""


@dataclass(frozen=True)
class Downloaded:
    """A complete file on disk."""

    path: Path
    size: int
    sha256: str
    resumed_from: int


def part_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` live."""
    return dest.with_name(dest.name + ".part")


def _total_from(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        crange = response.headers.get("content-range", "")
        # "bytes start-end/total"
        if "/" in crange and not crange.endswith("/*"):
            return int(crange.rsplit("/", 1)[1])
        length = response.headers.get("content-length")
        return offset + int(length) if length is not None else None
    length = response.headers.get("content-length")
    return int(length) if length is not None else None


def download_file(
    url: str,
    dest: Path,
    *,
    timeout: float = 60.0,
    attempts: int = 4,
    on_progress: ProgressFn | None = None,
    http_client: httpx.Client | None = None,
) -> Downloaded:
    """Download ``url`` to ``dest`` atomically; resume ``dest.part`` if one is there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    client = http_client or httpx.Client(
        timeout=timeout, follow_redirects=True, verify=_ssl_context()
    )
    first_offset = part.stat().st_size if part.exists() else 0
    last_error: Exception | None = None
    try:
        for _ in range(max(1, attempts)):
            offset = part.stat().st_size if part.exists() else 0
            # Identity encoding: Range offsets count the bytes stored on the server.
            headers = {"Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                with client.stream("GET", url, headers=headers) as response:
                    total: int | None
                    if response.status_code == 416 and offset:
                        # The part file is already complete (or longer than the file).
                        total = offset
                        head = client.head(url)
                        if head.headers.get("content-length") is not None:
                            total = int(head.headers["content-length"])
                        if total != offset:
                            part.unlink()
                            continue
                    elif response.status_code not in (200, 206):
                        raise DownloadError(
                            f"download of {url} failed: HTTP {response.status_code}"
                        )
                    else:
                        if response.status_code == 200 and offset:
                            offset = 0  # the server ignored Range: start over
                        total = _total_from(response, offset)
                        mode = "ab" if offset else "wb"
                        with open(part, mode) as f:
                            done = offset
                            # iter_raw yields bytes as they arrive: a connection that breaks
                            # mid-body leaves everything received so far in the part file.
                            for chunk in response.iter_raw():
                                f.write(chunk)
                                f.flush()
                                done += len(chunk)
                                if on_progress is not None:
                                    on_progress(done, total)
                            f.flush()
                            os.fsync(f.fileno())
                size = part.stat().st_size
                if total is not None and size != total:
                    last_error = DownloadError(
                        f"download of {url} stopped at {size} of {total} bytes"
                    )
                    continue
                digest = _sha256(part)
                os.replace(part, dest)
                return Downloaded(dest, size, digest, first_offset)
            except (httpx.TransportError, httpx.StreamError) as exc:
                last_error = exc
                continue
    finally:
        if http_client is None:
            client.close()
    raise DownloadError(
        f"download of {url} to {dest} did not complete ({last_error}); "
        f"{part.name} is kept and the next attempt resumes from it"
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1 s of CPU; a batch downloads hundreds of results.
    # The same context httpx builds by default (certifi's bundle, SSL_CERT_* honoured).
    create = getattr(httpx, "create_ssl_context", None)
    if create is not None:  # httpx >= 0.28
        context: ssl.SSLContext = create()
        return context
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
