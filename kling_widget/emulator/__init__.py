"""The local Kling emulator: a loopback HTTP server speaking Kling's protocol.

``from kling_widget.emulator import Emulator``; see ``docs/emulator.md``. The package
imports only ``kling_widget.media``, ``kling_widget.rules``, ``kling_widget.rle``,
``kling_widget.limits``, ``kling_widget.errors`` and the api's wire checks
(``kling_widget.api.validation``); never the api's client, the journal or anything above.
"""

from __future__ import annotations

import os
import sys
import threading

from kling_widget.emulator.clock import ManualClock
from kling_widget.emulator.emulator import Emulator
from kling_widget.emulator.faults import FaultPlan
from kling_widget.emulator.routing import RecordedRequest
from kling_widget.emulator.server import BodyLimits

__all__ = ["BodyLimits", "Emulator", "FaultPlan", "ManualClock", "RecordedRequest", "serve"]


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve an emulator in the foreground until Ctrl-C (``kling-widget emulator``).

    Accepts the credentials in ``KLING_API_KEY`` or ``KLING_ACCESS_KEY`` +
    ``KLING_SECRET_KEY`` when set (otherwise generates a pair and prints how to use them)
    and prints ``KLING_BASE_URL=<url>``.
    """
    api_key = os.environ.get("KLING_API_KEY") or None
    access_key = os.environ.get("KLING_ACCESS_KEY") or None
    secret_key = os.environ.get("KLING_SECRET_KEY") or None
    if access_key is None or secret_key is None:
        access_key = secret_key = None
    generated = api_key is None and access_key is None
    if generated:
        import secrets

        api_key = secrets.token_urlsafe(24)
    emu = Emulator(
        api_key=api_key, access_key=access_key, secret_key=secret_key, port=port, host=host
    )
    emu.start()
    print(f"KLING_BASE_URL={emu.base_url}", flush=True)
    if generated:
        # The key is generated for this run only; printing it is how another process gets it.
        print(f"KLING_API_KEY={api_key}", flush=True)
    print("Kling emulator running; Ctrl-C to stop.", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    finally:
        emu.stop()
