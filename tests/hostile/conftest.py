"""The hostile server, one per test module (its state is reset per test)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from server import HostileServer


@pytest.fixture(scope="module")
def _server() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


@pytest.fixture
def hostile(_server: HostileServer) -> HostileServer:
    _server.seen.clear()
    _server.counts.clear()
    return _server
