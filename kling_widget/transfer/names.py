"""Names and URLs from the server are data, not paths.

:func:`safe_filename` turns a server-given id into one harmless file name;
:func:`inside` proves a path lands inside its destination folder; :func:`check_fetch_url`
accepts only the URL schemes a caller allows (http and https by default, never ``file:``);
:func:`shown_url` drops the query (signed CDN links carry tokens there) for messages.

A leaf module: imports only ``kling_widget.errors``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kling_widget.errors import KlingValidationError

MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: object, *, suffix: str = "", default: str = "kling-result") -> str:
    """A file name made from ``name``: letters, digits, ``._-`` only, no leading dot, at
    most ``MAX_NAME_CHARS`` characters (a long name keeps a hash of the whole), plus
    ``suffix``. Separators, ``..``, NUL and other control characters never survive."""
    text = "" if name is None else str(name)
    cleaned = _UNSAFE.sub("_", text).strip("._-")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    if not cleaned:
        cleaned = default
    room = MAX_NAME_CHARS - len(suffix)
    if len(cleaned) > room:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        cleaned = f"{cleaned[: room - 13]}-{digest}"
    if suffix and cleaned.lower().endswith(suffix.lower()):
        return cleaned
    return cleaned + suffix


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would land outside ``folder``."""
    base = folder.resolve()
    target = (base / name).resolve()
    if target.parent != base:
        raise KlingValidationError("file name", name, f"must stay inside {base}")
    return target


def shown_url(url: str) -> str:
    """The URL without query, fragment or user info, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_fetch_url(
    url: object, allowed_schemes: Sequence[str] = ("http", "https"), field: str = "url"
) -> str:
    """``url`` as a string whose scheme is one of ``allowed_schemes`` and that has a host."""
    if not isinstance(url, str) or not url.strip():
        raise KlingValidationError(field, url, "required, an http(s) URL")
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise KlingValidationError(field, shown_url(text), "not a valid URL") from None
    names = "http(s)" if set(allowed_schemes) == {"http", "https"} else "/".join(allowed_schemes)
    if parts.scheme.lower() not in allowed_schemes:
        raise KlingValidationError(
            field,
            shown_url(text),
            f"only {names} URLs are fetched (got {parts.scheme or 'none'!r})",
        )
    if not parts.hostname:
        raise KlingValidationError(field, shown_url(text), "the URL has no host")
    return text
