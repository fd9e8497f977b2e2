"""Fixtures for the API client tests: a loopback server, a sleep recorder, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kling_fake_server import ACCESS_KEY, SECRET_KEY, FakeKling, SleepLog, shared_http

from kling_widget.api.client import KlingClient


@pytest.fixture
def server() -> Iterator[FakeKling]:
    fake = FakeKling()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def client(server: FakeKling, sleeps: SleepLog) -> Iterator[KlingClient]:
    with KlingClient(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        base_url=server.url,
        http_client=shared_http(),
        sleep=sleeps,
        clock=sleeps.clock,
    ) as c:
        yield c
