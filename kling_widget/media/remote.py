"""Clips at an http(s) URL: downloaded once into a cache, then opened as a ``VideoSource``.

Kept apart from ``media.video`` so that reading local clips (what the emulator does)
never pulls in the network layer. Downloads go through the package's one resumable,
bounded downloader (``kling_widget.transfer``; http(s) only). Imports ``media.video``,
``transfer`` and ``errors``.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path

from kling_widget.errors import KlingError
from kling_widget.media.video import _KNOWN_SUFFIXES, VideoError, VideoSource, _public_url
from kling_widget.transfer import download

__all__ = ["default_video_cache_dir", "open_clip"]


def default_video_cache_dir() -> Path:
    """Where downloaded clips are kept: ``$XDG_CACHE_HOME/kling-widget/videos``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kling-widget" / "videos"


def _download(url: str, cache_dir: Path) -> Path:
    """Download ``url`` once into ``cache_dir`` (keyed by the URL's hash), atomically,
    through the package's one resumable downloader (http(s) only, bounded size)."""
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    if suffix not in _KNOWN_SUFFIXES:
        suffix = ".mp4"
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    dest = cache_dir / f"{key}{suffix}"
    if dest.exists():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        return download(url, dest).path
    except KlingError as exc:
        raise VideoError(f"video_url={_public_url(url)!r}: download failed ({exc})") from None


def open_clip(url: str, cache_dir: str | Path | None = None) -> VideoSource:
    """Download the clip at ``url`` (once: cached by the URL's hash) and open it."""
    folder = Path(cache_dir) if cache_dir is not None else default_video_cache_dir()
    return VideoSource(_download(url, folder), url=url)
