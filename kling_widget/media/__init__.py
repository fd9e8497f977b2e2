"""Media: clips, frames, reference images, masks and mask export.

``video`` (``VideoSource``: probe, preflight, conform, frames; local files only),
``remote`` (clips at an http(s) URL, fetched through ``kling_widget.transfer``), ``frames``
(``FrameCache``), ``images`` (reference images), ``masks``, ``export``, ``violations``,
and ``samples`` / ``textured`` (clips with exact ground truth).

Imports only the leaves (``limits``, ``errors``, ``rules``, ``rle``, ``transfer``); never
``kling_widget.api`` or anything above it.
"""
