"""Task queries of both families (by ``task_id`` or ``external_task_id``, and the list) and
the emulator's own endpoints (uploads, served files, ``/emulator/info``).

Imports only siblings below the routes and ``kling_widget.limits``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from kling_widget import __version__
from kling_widget.emulator.envelope import NOT_FOUND, ApiError, invalid
from kling_widget.emulator.routing import FileReply, Request, Router
from kling_widget.emulator.state import State
from kling_widget.limits import PAGE_NUM_RANGE, PAGE_SIZE_RANGE

FAMILIES = {"multi-elements": "/v1/videos/multi-elements", "omni-video": "/v1/videos/omni-video"}
DEFAULT_PAGE_SIZE = 30


def int_param(
    query: Mapping[str, list[str]], name: str, default: int, bounds: tuple[int, int]
) -> int:
    """A whole-number query parameter within ``bounds`` (1201 otherwise)."""
    values = query.get(name)
    if not values:
        return default
    text = values[0]
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, text, "must be an integer") from None
    lo, hi = bounds
    if not lo <= value <= hi:
        raise invalid(name, value, f"must be within [{lo}, {hi}]")
    return value


class TaskRoutes:
    """Query handlers and the emulator's own endpoints of one running emulator."""

    def __init__(self, state: State) -> None:
        self.state = state

    def register(self, router: Router) -> None:
        """Add the query, list, upload, file and info routes to ``router``."""
        for kind, base in FAMILIES.items():
            router.add("GET", base, functools.partial(self.list, kind=kind))
            router.add("GET", base + r"/(?P<id>[^/]+)", functools.partial(self.get, kind=kind))
        router.add("POST", "/emulator/uploads", self.upload, streams_body=True)
        router.add(
            "GET", r"/emulator/files/(?P<id>[0-9a-f]+)/(?P<name>[^/]+)", self.file, auth=False
        )
        router.add("GET", "/emulator/info", self.info, auth=False)

    def get(self, req: Request, kind: str) -> dict[str, Any]:
        """One task by ``task_id`` or ``external_task_id``."""
        ident = req.params["id"]
        record = self.state.tasks.find(kind, ident)
        if record is None:
            raise ApiError(NOT_FOUND, f"task not found: {ident!r}")
        return record.to_json()

    def list(self, req: Request, kind: str) -> list[dict[str, Any]]:
        """A page of tasks, newest first."""
        page = int_param(req.query, "pageNum", 1, PAGE_NUM_RANGE)
        size = int_param(req.query, "pageSize", DEFAULT_PAGE_SIZE, PAGE_SIZE_RANGE)
        return [t.to_json() for t in self.state.tasks.page(kind, page, size)]

    def upload(self, req: Request) -> dict[str, Any]:
        """``POST /emulator/uploads``: serve the streamed body as a file."""
        assert req.upload_path is not None
        files = self.state.files
        stored = files.register(req.upload_path.parent.name, req.upload_path)
        return {
            "id": stored.file_id,
            "name": stored.name,
            "size": stored.size,
            "url": files.url(stored),
        }

    def file(self, req: Request) -> FileReply:
        """``GET /emulator/files/<id>/<name>`` (public, like Kling's CDN links)."""
        stored = self.state.files.get(req.params["id"], req.params["name"])
        if stored is None:
            raise ApiError(NOT_FOUND, "file not found (expired or unknown)")
        return FileReply(stored.path, stored.content_type)

    @staticmethod
    def info(req: Request) -> dict[str, Any]:
        """``GET /emulator/info``: how a caller recognises an emulator."""
        return {"emulator": True, "version": __version__}
