"""Fixtures for the editor tests: a record of what the widgets send to the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import comm
import pytest
from editor_helpers import CommRecorder, Sent


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[CommRecorder]:
    """Record what widgets publish (outside a kernel they use ``comm.DummyComm``)."""
    rec = CommRecorder()

    def publish_msg(
        self: Any,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        rec.messages.append(Sent(msg_type, data, [bytes(b) for b in (buffers or [])]))

    monkeypatch.setattr(comm.DummyComm, "publish_msg", publish_msg)
    yield rec
