"""The API client against hostile replies: typed errors naming the field, bounded time and
memory, and never a credential in an error, whatever the server echoes."""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image
from server import HostileServer

from kling_widget.api.client import KlingClient
from kling_widget.backoff import RetryPolicy
from kling_widget.errors import (
    KlingDeadlineError,
    KlingError,
    KlingResponseError,
    KlingValidationError,
)

HANG_S = 20.0
API_KEY = "sk-hostile-test-key-0123456789abcdef"
ACCESS, SECRET = "ak-hostile-access", "sk-hostile-secret-0123456789abcdef0123"
FAST = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.02)


def client(server: HostileServer, mode: str, **kw: object) -> KlingClient:
    args: dict[str, object] = {"api_key": API_KEY, "retry_policy": FAST, "timeout": 5.0}
    args.update(kw)
    return KlingClient(base_url=server.mode(mode), **args)  # type: ignore[arg-type]


def test_data_of_the_wrong_type(hostile: HostileServer) -> None:
    with client(hostile, "data-list") as c, pytest.raises(KlingResponseError, match="data"):
        c.init_selection(video_url="https://example.invalid/a.mp4")


def test_timestamp_out_of_range(hostile: HostileServer) -> None:
    with client(hostile, "huge-time") as c, pytest.raises(KlingResponseError, match="created_at"):
        c.get_task("t-1")


def test_fields_of_the_wrong_type(hostile: HostileServer) -> None:
    with (
        client(hostile, "wrong-types") as c,
        pytest.raises(KlingResponseError, match=r"reply field data\.(task_status|task_result)"),
    ):
        c.get_task("t-1")


def test_deep_nesting_is_a_response_error(hostile: HostileServer) -> None:
    with client(hostile, "deep") as c, pytest.raises(KlingResponseError):
        c.list_tasks()


def test_endless_reply_stops_at_the_cap(hostile: HostileServer) -> None:
    start = time.monotonic()
    with (
        client(hostile, "endless", max_reply_bytes=1 << 20) as c,
        pytest.raises(KlingError) as info,
    ):
        c.list_tasks()
    assert "cap" in str(info.value)
    assert time.monotonic() - start < HANG_S


def test_dripping_server_hits_the_call_deadline(hostile: HostileServer) -> None:
    start = time.monotonic()
    with (
        client(hostile, "drip-headers", timeout=5.0, deadline=1.0) as c,
        pytest.raises(KlingDeadlineError),
    ):
        c.list_tasks()
    assert time.monotonic() - start < HANG_S


@pytest.mark.parametrize("mode", ["echo-auth", "html"])
@pytest.mark.parametrize("keys", ["api_key", "key_pair"])
def test_echoed_credentials_never_appear_in_errors(
    hostile: HostileServer, mode: str, keys: str
) -> None:
    kw: dict[str, object] = (
        {"api_key": API_KEY}
        if keys == "api_key"
        else {"access_key": ACCESS, "secret_key": SECRET, "api_key": None}
    )
    with client(hostile, mode, **kw) as c, pytest.raises(KlingError) as info:
        c.get_task("t-1")
    sent = hostile.seen[-1][2]["Authorization"].split(" ", 1)[1]
    shown = " ".join(
        [str(info.value), repr(info.value), repr(info.value.body), repr(info.value.__cause__)]
    )
    for secret in (API_KEY, SECRET, sent):
        assert secret not in shown


def _png(w: int = 400, h: int = 400) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((w, h), 64).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("image", "phrase"),
    [
        (_png()[:3000], "truncated"),
        ("ftp://example.com/ref.png", r"only http\(s\) URLs"),
        (base64.b64encode(_png()[:3000]).decode(), "truncated"),
    ],
)
def test_local_image_checks_send_nothing(
    hostile: HostileServer, image: object, phrase: str
) -> None:
    with client(hostile, "page") as c, pytest.raises(KlingValidationError, match=phrase):
        c.create_task("s-1", "swap", "swap it", image_list=[image])
    assert hostile.seen == []


def test_async_client_is_bounded_the_same_way(hostile: HostileServer) -> None:
    import asyncio

    from kling_widget.api.async_client import AsyncKlingClient

    async def run(mode: str, **kw: object) -> None:
        async with AsyncKlingClient(
            api_key=API_KEY, base_url=hostile.mode(mode), retry_policy=FAST, **kw
        ) as c:
            await c.list_tasks()

    start = time.monotonic()
    with pytest.raises(KlingDeadlineError):
        asyncio.run(run("drip-headers", timeout=5.0, deadline=1.0))
    assert time.monotonic() - start < HANG_S
    with pytest.raises(KlingResponseError):
        asyncio.run(run("deep"))
    with pytest.raises(KlingError, match="cap"):
        asyncio.run(run("endless", max_reply_bytes=1 << 20))
