"""Kling task callbacks: verify their Standard Webhooks signature and read them as tasks.

Signature = base64(HMAC-SHA256(base64decode(secret without ``whsec_``),
``"{webhook-id}.{webhook-timestamp}.{raw body}"``)), sent as ``webhook-signature: v1,<sig>``
(several may be given, space-separated, e.g. during a secret rotation).

The HMAC is computed by the ``standardwebhooks`` package, as Kling's callback page
recommends. Its ``Webhook.verify`` is not called directly because it reads the clock
itself (no way to check a recorded callback or test at a given time), decodes a malformed
secret silently, and lets ``ValueError``/``binascii.Error`` escape on a malformed signature
header; the header parsing, the 5-minute window and the constant-time comparison are here.

:func:`parse_callback` turns either documented body shape into a
:class:`~kling_widget.api.models.Task`; :func:`verify_callback` checks the signature first.
Imports models and the leaves; never the clients.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from standardwebhooks.webhooks import Webhook

from kling_widget.api.models import Task, TaskKind
from kling_widget.errors import KlingError, KlingResponseError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(KlingError):
    """The callback is not authentic (bad or missing signature, stale timestamp)."""


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: str | bytes,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a callback's signature and age; return its JSON body.

    ``headers`` is any mapping (matched case-insensitively); ``body`` must be the raw bytes
    received (re-serialised JSON would not match). Raises
    :class:`WebhookVerificationError` when a header is missing, no ``v1`` signature matches,
    or the timestamp is more than ``tolerance`` seconds from ``now``.
    """
    lower = {str(k).lower(): str(val) for k, val in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    try:
        sent_at = int(stamp.strip())
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp={stamp!r}: not an integer") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp={sent_at}: more than {tolerance:g} s from now"
        )
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookVerificationError("callback body is not UTF-8") from None
    signer = Webhook(_secret_bytes(secret))
    when = datetime.fromtimestamp(sent_at, tz=timezone.utc)
    expected = signer.sign(msg_id, when, text).encode("ascii")
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(
            candidate.encode("ascii", "replace"), expected
        ):
            try:
                parsed: Any = json.loads(text)
            except (ValueError, RecursionError):
                raise WebhookVerificationError("signed body is not JSON") from None
            return parsed if isinstance(parsed, dict) else {"data": parsed}
    raise WebhookVerificationError("no webhook-signature matches")


def parse_callback(
    body: str | bytes | Mapping[str, Any], kind: TaskKind = "multi-elements"
) -> Task:
    """A callback body (raw JSON or already parsed) of either documented shape as a ``Task``.

    Old shape: the task object (``task_id``, ``task_status``...). New shape: ``id``,
    ``status`` ("succeeded" becomes the same state as "succeed"), ``outputs`` (videos),
    ``billing``. Unknown fields stay in ``.raw``. A body that is neither raises
    :class:`KlingResponseError`. ``kind`` says which API the callback came from.
    """
    if isinstance(body, Mapping):
        data: Any = body
    else:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise KlingResponseError("callback body is not JSON") from None
    if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping) and "code" in data:
        data = data["data"]  # an envelope around the task object
    if not isinstance(data, Mapping) or not any(k in data for k in ("task_id", "id")):
        raise KlingResponseError("callback body is neither a task object nor {id, status, ...}")
    return Task.from_json(data, kind)


def verify_callback(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: str | bytes,
    kind: TaskKind = "multi-elements",
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Task:
    """:func:`verify_webhook`, then :func:`parse_callback`: a ``Task`` from a signed callback."""
    return parse_callback(verify_webhook(secret, headers, body, tolerance, now), kind)


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        if not secret:
            raise WebhookVerificationError("webhook secret is empty")
        return secret
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # Never echo the secret itself.
        raise WebhookVerificationError("webhook secret is not valid base64") from None
