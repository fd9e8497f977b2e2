"""Verify Kling task callbacks signed per Standard Webhooks (https://www.standardwebhooks.com).

Signature = base64(HMAC-SHA256(base64decode(secret without ``whsec_``),
``"{webhook-id}.{webhook-timestamp}.{raw body}"``)), sent as ``webhook-signature: v1,<sig>``
(several may be given, space-separated, e.g. during a secret rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from kling_widget.errors import KlingError

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
    key = _secret_bytes(secret)
    signed = msg_id.encode("utf-8") + b"." + str(sent_at).encode("ascii") + b"." + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode("ascii", "replace"), expected):
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("signed body is not JSON") from None
            return parsed if isinstance(parsed, dict) else {"data": parsed}
    raise WebhookVerificationError("no webhook-signature matches")


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # Never echo the secret itself.
        raise WebhookVerificationError("webhook secret is not valid base64") from None
