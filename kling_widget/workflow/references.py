"""Reference images of a project: checked once, kept as files, sent by content.

A task's journaled parameters name each image by SHA-256 (a file under the project's
``images/``) or by URL, so a create re-sent after a crash sends exactly the same bytes.
Imports the API's image check (format, size, aspect) and the journal; nothing above.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kling_widget.journal import Journal
from kling_widget.rules import is_url

ImageRef = dict[str, str]


def _image_format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    return None


def as_list(images: object) -> list[object]:
    """One image or many, as a list (``None`` is no image)."""
    if images is None:
        return []
    if isinstance(images, (str, bytes, Path)) or not isinstance(images, Iterable):
        return [images]
    return list(images)


def store_images(journal: Journal, images: object, field_name: str = "images") -> list[ImageRef]:
    """Check every image and keep it as a file; returns references for the task's params."""
    from kling_widget.api.validation import normalize_image

    refs: list[ImageRef] = []
    for i, src in enumerate(as_list(images)):
        wire = normalize_image(src, f"{field_name}[{i}]")
        if is_url(wire):
            refs.append({"url": wire})
            continue
        data = base64.b64decode(wire)
        digest, path = journal.store_image(data, _image_format(data))
        refs.append({"sha256": digest, "file": path.relative_to(journal.folder).as_posix()})
    return refs


def image_wire(journal: Journal, refs: Sequence[Mapping[str, str]]) -> list[str]:
    """The wire values (URL or raw base64) of journaled image references."""
    out: list[str] = []
    for ref in refs:
        if "url" in ref:
            out.append(str(ref["url"]))
            continue
        path = journal.folder / str(ref["file"])
        if not path.is_file():
            raise FileNotFoundError(
                f"reference image {path} (sha256 {ref['sha256']}) is missing from the project"
            )
        out.append(base64.b64encode(path.read_bytes()).decode("ascii"))
    return out


def image_key(ref: Mapping[str, str]) -> str:
    """What identifies an image in a request key: its SHA-256 or its URL."""
    return ref.get("sha256") or ref.get("url") or ""


__all__ = ["ImageRef", "as_list", "image_key", "image_wire", "store_images"]
