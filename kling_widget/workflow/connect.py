"""Getting a client without thinking about it: real credentials, or the local emulator.

``default_client()`` is what the editor, the CLI, projects and notebooks use when they are
not handed a client: credentials in the environment give a real ``KlingClient`` (pointed
at ``KLING_BASE_URL`` when set, which may name an emulator in another process); no
credentials give a client of an in-process emulator, shared by everything in this process,
started on first use and stopped at exit.

``uploader_for(client)`` returns a function that makes a local clip reachable by URL when
the client talks to an emulator (which has an upload endpoint), and ``None`` for the real
API (Kling needs a public URL; uploading is the user's business there).

Imports the API client and the emulator (lazily); nothing above the workflow layer.
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

from kling_widget.errors import KlingTransportError, error_class_for

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
    return emulator_client(emu), notice


def emulator_client(emu: Emulator) -> KlingClient:
    """A client of ``emu`` (started if needed), with its credentials."""
    from kling_widget.api.client import KlingClient

    opts = emu.client_options()
    return KlingClient(
        api_key=opts.get("api_key"),
        access_key=opts.get("access_key"),
        secret_key=opts.get("secret_key"),
        base_url=opts["base_url"],
    )


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


def _excerpt(text: str, secrets: tuple[str, ...], limit: int = 160) -> str:
    """A short, single-line excerpt of a server's text with every credential removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<credential hidden>")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uploader_for(client: KlingClient) -> Callable[[Path], str] | None:
    """An upload function for an emulator-backed ``client``; ``None`` on the real API.

    A failed upload raises a typed :class:`~kling_widget.errors.KlingError`; the server's
    text is quoted only as a short excerpt with every credential removed, even when the
    server echoes the ``Authorization`` header back.
    """
    base = str(client.base_url).rstrip("/")
    if not is_emulator(base):
        return None
    credentials = client.credentials

    def upload(path: Path) -> str:
        src = Path(path)
        token = credentials.bearer_token()
        secrets = (*credentials.secrets(), token)
        try:
            with src.open("rb") as fh:
                resp = httpx.post(
                    base + UPLOAD_PATH,
                    params={"filename": src.name},
                    content=fh.read(),
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=UPLOAD_TIMEOUT_S,
                )
        except httpx.HTTPError as exc:
            raise KlingTransportError(
                f"uploading {src.name} to the emulator failed: "
                f"{type(exc).__name__}: {_excerpt(str(exc), secrets)}"
            ) from None
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        url = data.get("url") if isinstance(data, dict) else None
        if isinstance(url, str) and resp.status_code == 200 and body.get("code") == 0:
            return url
        code = body.get("code") if isinstance(body, dict) else None
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        said = body.get("message") if isinstance(body, dict) else None
        message = _excerpt(said if isinstance(said, str) else resp.text, secrets)
        raise error_class_for(resp.status_code, code)(
            f"uploading {src.name} to the emulator failed: {message}",
            http_status=resp.status_code,
            code=code,
        )

    return upload
