"""Getting a client without thinking about it: real credentials, or the local emulator.

``default_client()`` is what the editor, the CLI, projects and notebooks use when they are
not handed a client: credentials in the environment give a real ``KlingClient`` (pointed
at ``KLING_BASE_URL`` when set, which may name an emulator in another process); no
credentials give a client of an in-process emulator, shared by everything in this process,
started on first use and stopped at exit.

``uploader_for(client)`` returns a function that makes a local clip reachable by URL when
the client talks to an emulator (which has an upload endpoint), and ``None`` for the real
API (Kling needs a public URL; uploading is the user's business there).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.emulator import Emulator

EMULATOR_NOTICE = "running on the local Kling emulator"
INFO_PATH = "/emulator/info"
UPLOAD_PATH = "/emulator/uploads"
PROBE_TIMEOUT_S = 3.0
UPLOAD_TIMEOUT_S = 300.0

_lock = threading.Lock()
_shared: Emulator | None = None
_is_emulator: dict[str, bool] = {}


def shared_emulator() -> Emulator:
    """The process-wide in-process emulator, started on first use (stopped at exit)."""
    global _shared
    with _lock:
        if _shared is None or not _shared.running:
            from kling_widget.emulator import Emulator

            _shared = Emulator().start()
            atexit.register(_shared.stop)
        return _shared


def _has_credentials(env: dict[str, str] | os._Environ[str]) -> bool:
    return bool(env.get("KLING_API_KEY")) or bool(
        env.get("KLING_ACCESS_KEY") and env.get("KLING_SECRET_KEY")
    )


def default_client(quiet: bool = False) -> tuple[KlingClient, str]:
    """(client, notice): from the environment's credentials, else the shared emulator.

    The notice says where calls go; unless ``quiet`` it is also printed (one line, to
    stderr) when the emulator is used, so nobody mistakes it for the real service.
    """
    from kling_widget.api.client import KlingClient

    if _has_credentials(os.environ):
        client = KlingClient()
        if is_emulator(str(client.base_url)):
            return client, f"{EMULATOR_NOTICE} at {client.base_url}"
        return client, f"using Kling at {client.base_url}"
    emu = shared_emulator()
    notice = f"{EMULATOR_NOTICE} (no Kling credentials found) at {emu.base_url}"
    if not quiet:
        print(notice, file=sys.stderr, flush=True)
    return KlingClient(**emu.client_options()), notice


def is_emulator(base_url: str) -> bool:
    """Whether ``base_url`` answers ``GET /emulator/info`` as a Kling emulator (cached)."""
    base = base_url.rstrip("/")
    with _lock:
        known = _is_emulator.get(base)
    if known is not None:
        return known
    try:
        resp = httpx.get(base + INFO_PATH, timeout=PROBE_TIMEOUT_S)
        body: Any = resp.json() if resp.status_code == 200 else None
        found = bool(
            isinstance(body, dict)
            and isinstance(body.get("data"), dict)
            and body["data"].get("emulator") is True
        )
    except (httpx.HTTPError, ValueError):
        # Unreachable or not JSON: not an emulator we can upload to (not cached: it may
        # come up later).
        return False
    with _lock:
        _is_emulator[base] = found
    return found


def uploader_for(client: Any) -> Callable[[Path], str] | None:
    """An upload function for an emulator-backed ``client``; ``None`` on the real API."""
    base = str(client.base_url).rstrip("/")
    if not is_emulator(base):
        return None
    credentials = client.credentials

    def upload(path: Path) -> str:
        src = Path(path)
        with src.open("rb") as fh:
            resp = httpx.post(
                base + UPLOAD_PATH,
                params={"filename": src.name},
                content=fh.read(),
                headers={"Authorization": f"Bearer {credentials.bearer_token()}"},
                timeout=UPLOAD_TIMEOUT_S,
            )
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict) or body.get("code") != 0:
            message = body.get("message") if isinstance(body, dict) else resp.text[:160]
            raise RuntimeError(
                f"uploading {src.name} to the emulator failed: HTTP {resp.status_code}: {message}"
            )
        return str(body["data"]["url"])

    return upload
