"""kling-widget: an interactive Jupyter editor for Kling AI's video-editing API.

Public API (imported lazily, so ``import kling_widget`` stays cheap and a
script that only uses the client never imports the widget stack)::

    from kling_widget import KlingClient, AsyncKlingClient, Credentials
    from kling_widget import Editor, VideoSource, decode_rle, encode_rle
    from kling_widget.emulator import Emulator
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # api
    "Credentials": "kling_widget.api.credentials",
    "KlingClient": "kling_widget.api.client",
    "AsyncKlingClient": "kling_widget.api.async_client",
    "Session": "kling_widget.api.models",
    "Selection": "kling_widget.api.models",
    "ObjectMask": "kling_widget.api.models",
    "Preview": "kling_widget.api.models",
    "Task": "kling_widget.api.models",
    "TaskVideo": "kling_widget.api.models",
    "verify_webhook": "kling_widget.api.webhooks",
    "KlingError": "kling_widget.errors",
    "KlingValidationError": "kling_widget.errors",
    "KlingAPIError": "kling_widget.errors",
    "KlingAuthError": "kling_widget.errors",
    "KlingAccountError": "kling_widget.errors",
    "KlingPermissionError": "kling_widget.errors",
    "KlingInvalidRequestError": "kling_widget.errors",
    "KlingNotFoundError": "kling_widget.errors",
    "KlingContentPolicyError": "kling_widget.errors",
    "KlingRateLimitError": "kling_widget.errors",
    "KlingServerError": "kling_widget.errors",
    "KlingSessionExpiredError": "kling_widget.errors",
    "KlingTransportError": "kling_widget.errors",
    "KlingResponseError": "kling_widget.errors",
    "KlingTimeoutError": "kling_widget.errors",
    "KlingTaskFailedError": "kling_widget.errors",
    "KlingSelectionError": "kling_widget.errors",
    "WebhookVerificationError": "kling_widget.api.webhooks",
    # media
    "decode_rle": "kling_widget.rle",
    "encode_rle": "kling_widget.rle",
    "VideoSource": "kling_widget.media.video",
    "ReferenceImage": "kling_widget.media.images",
    "make_sample": "kling_widget.media.samples",
    "sample_image": "kling_widget.media.samples",
    # emulator
    "Emulator": "kling_widget.emulator",
    "FaultPlan": "kling_widget.emulator",
    "ManualClock": "kling_widget.emulator",
    # editor, journal, batch
    "Editor": "kling_widget.editor.editor",
    "Journal": "kling_widget.journal",
    "Project": "kling_widget.workflow",
    "edit_many": "kling_widget.batch",
    "edit_many_async": "kling_widget.batch",
    "Job": "kling_widget.batch",
    "BatchResult": "kling_widget.batch",
    "load_jobs": "kling_widget.batch",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kling_widget' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    # Re-exports for type checkers; ruff cannot see the computed __all__.
    # ruff: noqa: F401
    from kling_widget.api.async_client import AsyncKlingClient
    from kling_widget.api.client import KlingClient
    from kling_widget.api.credentials import Credentials
    from kling_widget.api.models import ObjectMask, Preview, Selection, Session, Task, TaskVideo
    from kling_widget.api.webhooks import WebhookVerificationError, verify_webhook
    from kling_widget.batch import BatchResult, Job, edit_many, edit_many_async, load_jobs
    from kling_widget.editor.editor import Editor
    from kling_widget.emulator import Emulator, FaultPlan, ManualClock
    from kling_widget.errors import (
        KlingAccountError,
        KlingAPIError,
        KlingAuthError,
        KlingContentPolicyError,
        KlingError,
        KlingInvalidRequestError,
        KlingNotFoundError,
        KlingPermissionError,
        KlingRateLimitError,
        KlingResponseError,
        KlingSelectionError,
        KlingServerError,
        KlingSessionExpiredError,
        KlingTaskFailedError,
        KlingTimeoutError,
        KlingTransportError,
        KlingValidationError,
    )
    from kling_widget.journal import Journal
    from kling_widget.media.images import ReferenceImage
    from kling_widget.media.samples import make_sample, sample_image
    from kling_widget.media.video import VideoSource
    from kling_widget.rle import decode_rle, encode_rle
    from kling_widget.workflow import Project
