"""Callbacks: the POST a task's ``callback_url`` receives on each status change.

Kling's callback page documents two body shapes; the emulator sends one of them per
emulator (``Emulator(callback_shape=...)``):

- ``"old"`` (default; the shape documented for the ``model_name``-style endpoints, which
  include Multi-Elements and Omni-Video): the task object exactly as the query answers it.
- ``"new"``: ``{id, status, message, create_time, update_time, external_id, outputs,
  billing}``, success spelled ``"succeeded"``, each result video as
  ``{"type": "video", id, url, watermark_url, duration}``; ``billing`` is filled once the
  task succeeded, with emulator figures (Kling does not document their values).

Callbacks go to loopback URLs only, one at a time in status order, best effort (a failed
POST is logged, not retried), signed per Standard Webhooks when a ``whsec_`` secret is set.
Imports only ``emulator.fetch`` (for the loopback rule) and ``emulator.tasks``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from typing import Any

import httpx

from kling_widget.emulator.fetch import is_loopback_url
from kling_widget.emulator.tasks import TaskRecord

logger = logging.getLogger("kling_widget.emulator")

CALLBACK_SHAPES = ("old", "new")
CALLBACK_TIMEOUT_S = 5.0


def old_shape(record: TaskRecord) -> dict[str, Any]:
    """The task object as the query endpoints answer it."""
    return record.to_json()


def new_shape(record: TaskRecord) -> dict[str, Any]:
    """The newer callback body (``id``, ``status``, ``outputs``, ``billing``...)."""
    outputs = []
    for video in record.videos:
        item = {"type": "video"}
        item.update({k: video[k] for k in ("id", "url", "watermark_url", "duration") if k in video})
        outputs.append(item)
    body: dict[str, Any] = {
        "id": record.task_id,
        "status": "succeeded" if record.status == "succeed" else record.status,
        "message": record.status_msg,
        "create_time": int(record.created * 1000),
        "update_time": int(record.updated * 1000),
        "outputs": outputs,
    }
    if record.external_task_id is not None:
        body["external_id"] = record.external_task_id
    if record.status == "succeed":
        body["billing"] = [
            {
                "charge_type": "task",
                "cash_type": "unit",
                "amount": record.units,
                "currency": "unit",
                "package_type": record.kind,
                "list_price": record.units,
            }
        ]
    return body


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` signed with ``secret`` (``whsec_...``)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    sig = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{sig}",
    }


class CallbackSender:
    """Posts callbacks from one background thread, in the order they were queued."""

    def __init__(self, shape: str = "old", webhook_secret: str | None = None) -> None:
        if shape not in CALLBACK_SHAPES:
            raise ValueError(
                f"callback_shape={shape!r}: must be one of {', '.join(CALLBACK_SHAPES)}"
            )
        self.shape = shape
        self._secret = webhook_secret
        self._queue: queue.Queue[tuple[str, bytes, dict[str, str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="emulator-callbacks", daemon=True)
        self._thread.start()

    def notify(self, record: TaskRecord) -> None:
        """Queue the callback for ``record``'s current state (if it has a loopback URL)."""
        url = record.body.get("callback_url")
        if not isinstance(url, str) or not is_loopback_url(url):
            return
        payload = old_shape(record) if self.shape == "old" else new_shape(record)
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._secret:
            headers.update(
                sign_webhook(self._secret, str(secrets.randbelow(10**18)), int(time.time()), body)
            )
        self._queue.put((url, body, headers))

    def stop(self) -> None:
        """Stop after the callbacks already queued."""
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            url, body, headers = item
            try:
                with httpx.Client(timeout=CALLBACK_TIMEOUT_S, trust_env=False) as http:
                    http.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                logger.info("emulator callback to %s failed", url)
