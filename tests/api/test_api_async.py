"""AsyncKlingClient: same wire format, retries, idempotent creates, waits and downloads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt
import pytest
from kling_fake_server import (
    ACCESS_KEY,
    SECRET_KEY,
    FakeKling,
    Recorded,
    Reply,
    SleepLog,
    envelope,
    task_json,
)

from kling_widget import errors as e
from kling_widget.api.async_client import AsyncKlingClient

ME = "/v1/videos/multi-elements"


def make(server: FakeKling, sleeps: SleepLog, **kw: object) -> AsyncKlingClient:
    return AsyncKlingClient(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        base_url=server.url + "/relay",
        sleep=sleeps.async_sleep,
        clock=sleeps.clock,
        **kw,  # type: ignore[arg-type]
    )


def test_async_session_flow_wire(server: FakeKling, sleeps: SleepLog) -> None:
    server.ok({"status": 0, "session_id": "s-1", "fps": 24, "total_frame": 120})
    server.ok({"status": 0, "session_id": "s-1", "res": {"frame_index": 2, "rle_mask_list": []}})
    server.ok({"status": 0, "session_id": "s-1"})
    server.ok({"status": 0, "session_id": "s-1", "res": {"video": "https://cdn/p.mp4"}})
    server.ok([task_json()])

    async def run() -> None:
        async with make(server, sleeps) as client:
            session = await client.init_selection(video_url="https://x/clip.mp4")
            assert session.total_frame == 120
            sel = await client.add_selection(session.session_id, 2, [(0.5, 0.25)])
            assert sel.frame_index == 2
            await client.clear_selection("s-1")
            preview = await client.preview_selection("s-1")
            assert preview.video_url == "https://cdn/p.mp4"
            assert len(await client.list_tasks(3, 10)) == 1

    asyncio.run(run())
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", f"/relay{ME}/init-selection"),
        ("POST", f"/relay{ME}/add-selection"),
        ("POST", f"/relay{ME}/clear-selection"),
        ("POST", f"/relay{ME}/preview-selection"),
        ("GET", f"/relay{ME}"),
    ]
    assert server.requests[1].json == {
        "session_id": "s-1",
        "frame_index": 2,
        "points": [{"x": 0.5, "y": 0.25}],
    }
    assert server.requests[4].query == {"pageNum": ["3"], "pageSize": ["10"]}
    token = server.requests[0].headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    assert claims["iss"] == ACCESS_KEY and claims["exp"] - claims["nbf"] == 1805


def test_async_validation_sends_nothing(server: FakeKling, sleeps: SleepLog) -> None:
    async def run() -> None:
        async with make(server, sleeps) as client:
            with pytest.raises(e.KlingValidationError) as info:
                await client.add_selection("s", 0, [(0.5, 1.5)])
            assert info.value.field == "points[0].y"
            with pytest.raises(e.KlingValidationError):
                await client.create_omni_video("x", duration=20, aspect_ratio="1:1")

    asyncio.run(run())
    assert server.requests == []


def test_async_retries_and_idempotent_create(server: FakeKling, sleeps: SleepLog) -> None:
    created: dict[str, dict[str, object]] = {}

    def create_then_drop(req: Recorded) -> Reply:
        created[req.json["external_task_id"]] = task_json(
            "task-1", external=req.json["external_task_id"]
        )
        return Reply(drop=True)

    def lookup(req: Recorded) -> Reply:
        return Reply(200, envelope(created[req.path.rsplit("/", 1)[1]]))

    server.reply(
        Reply(429, envelope(None, code=1303, message="busy"), headers={"Retry-After": "3"})
    )
    server.reply(create_then_drop, lookup)

    async def run() -> None:
        async with make(server, sleeps) as client:
            task = await client.create_omni_video("make it <<<image_1>>>", aspect_ratio="16:9")
            assert task.task_id == "task-1" and task.kind == "omni-video"

    asyncio.run(run())
    assert [r.method for r in server.requests] == ["POST", "POST", "GET"]
    assert len(created) == 1
    assert sleeps.delays[0] == 3.0 and len(sleeps.delays) == 2


def test_async_wait_and_download(server: FakeKling, sleeps: SleepLog, tmp_path: Path) -> None:
    data = b"\x00\x01video" * 5000
    server.ok(task_json(status="processing"))
    server.ok(task_json(status="succeed", videos=[{"url": server.url + "/f/out.mp4"}]))
    server.reply(Reply(200, body=data, cut_after=7000))

    def ranged(req: Recorded) -> Reply:
        start = int(req.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return Reply(
            206,
            body=data[start:],
            headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
        )

    server.reply(ranged)

    async def run() -> Path:
        async with make(server, sleeps) as client:
            task = await client.wait("t-1")
            assert task.succeeded
            return await client.download(task, tmp_path / "out.mp4")

    path = asyncio.run(run())
    assert path.read_bytes() == data
    assert server.requests[3].headers["Range"].startswith("bytes=")
    assert "Authorization" not in server.requests[2].headers


def test_async_timeout(server: FakeKling, sleeps: SleepLog) -> None:
    server.default = lambda req: Reply(200, envelope(task_json("t-5", status="submitted")))

    async def run() -> None:
        async with make(server, sleeps) as client:
            await client.wait("t-5", timeout=12)

    with pytest.raises(e.KlingTimeoutError) as info:
        asyncio.run(run())
    assert info.value.task_id == "t-5"


def test_async_error_mapping(server: FakeKling, sleeps: SleepLog) -> None:
    server.reply(Reply(200, body=b"<html>maintenance</html>"))

    async def run() -> None:
        async with make(server, sleeps) as client:
            await client.get_task("t-1")

    with pytest.raises(e.KlingResponseError, match="maintenance"):
        asyncio.run(run())
