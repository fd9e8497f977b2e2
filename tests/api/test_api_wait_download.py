"""wait(): polling with backoff, final states, timeouts; download(): atomic, resumable, checked."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from kling_fake_server import FakeKling, Recorded, Reply, SleepLog, envelope, task_json

from kling_widget import errors as e
from kling_widget.api.client import KlingClient
from kling_widget.api.models import Task

PAYLOAD = bytes(range(256)) * 400  # 102400 bytes


def finished(server: FakeKling, path: str = "/files/out.mp4") -> Task:
    video = {"id": "v", "url": server.url + path, "watermark_url": server.url + "/files/wm.mp4"}
    return Task.from_json(task_json(status="succeed", videos=[video]))


def test_wait_polls_with_growing_delays_until_succeed(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    for status in ["submitted"] * 6 + ["processing"] * 3:
        server.ok(task_json(status=status))
    server.ok(task_json(status="succeed", videos=[{"id": "v", "url": "https://cdn/o.mp4"}]))
    seen: list[str] = []
    task = client.wait("t-1", on_progress=lambda t: seen.append(t.status))
    assert task.succeeded and task.videos[0].url == "https://cdn/o.mp4"
    assert seen == ["submitted"] * 6 + ["processing"] * 3 + ["succeed"]
    assert all(r.path == "/v1/videos/multi-elements/t-1" for r in server.requests)
    d = sleeps.delays
    assert d[0] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(d))
    assert max(d) == 10.0


def test_wait_returns_failed_task_or_raises_when_asked(
    client: KlingClient, server: FakeKling
) -> None:
    failed = task_json(status="failed")
    failed["task_status_msg"] = "content rejected"
    server.ok(failed)
    task = client.wait("t-1")
    assert task.failed and task.status_msg == "content rejected"
    server.ok(failed)
    with pytest.raises(e.KlingTaskFailedError, match="content rejected") as info:
        client.wait("t-1", raise_on_failure=True)
    assert info.value.task_id == "t-1"


def test_wait_timeout_keeps_the_task_id(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.default = lambda req: Reply(200, envelope(task_json("t-77", status="processing")))
    with pytest.raises(e.KlingTimeoutError) as info:
        client.wait("t-77", timeout=30)
    assert info.value.task_id == "t-77"
    assert "t-77" in str(info.value)
    assert sum(sleeps.delays) == pytest.approx(30.0)


def test_wait_on_an_omni_task_uses_its_endpoint(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json("o-1", status="succeed"))
    task = Task.from_json(task_json("o-1"), kind="omni-video")
    assert client.wait(task).kind == "omni-video"
    assert server.requests[0].path == "/v1/videos/omni-video/o-1"


def _file_server(server: FakeKling, data: bytes, *, supports_range: bool = True) -> None:
    def serve(req: Recorded) -> Reply:
        rng = req.headers.get("Range")
        if rng and supports_range:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            return Reply(
                206,
                body=data[start:],
                headers={
                    "Content-Type": "video/mp4",
                    "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                },
            )
        return Reply(200, body=data, headers={"Content-Type": "video/mp4"})

    server.default = serve


def test_download_writes_the_file_atomically(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    _file_server(server, PAYLOAD)
    progress: list[tuple[int, int | None]] = []
    path = client.download(
        finished(server), tmp_path / "out.mp4", on_progress=lambda a, b: progress.append((a, b))
    )
    assert path == tmp_path / "out.mp4"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "out.mp4.part").exists()
    req = server.requests[0]
    assert req.path == "/files/out.mp4"
    assert "Authorization" not in req.headers  # credentials never go to the result host
    assert "Range" not in req.headers
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_into_a_directory_uses_the_task_id(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    _file_server(server, PAYLOAD)
    assert client.download(finished(server), tmp_path) == tmp_path / "t-1.mp4"
    assert (
        client.download(finished(server), tmp_path, watermark=True)
        == tmp_path / "t-1-watermark.mp4"
    )
    assert server.requests[1].path == "/files/wm.mp4"


def test_download_resumes_an_existing_part_with_range(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    _file_server(server, PAYLOAD)
    (tmp_path / "out.mp4.part").write_bytes(PAYLOAD[:30000])
    path = client.download(server.url + "/files/out.mp4", tmp_path / "out.mp4")
    assert server.requests[0].headers["Range"] == "bytes=30000-"
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(PAYLOAD).digest()


def test_download_restarts_when_range_is_ignored(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    _file_server(server, PAYLOAD, supports_range=False)
    (tmp_path / "out.mp4.part").write_bytes(b"garbage" * 10)
    path = client.download(server.url + "/files/out.mp4", tmp_path / "out.mp4")
    assert path.read_bytes() == PAYLOAD


def test_broken_transfer_is_resumed_automatically(
    client: KlingClient, server: FakeKling, sleeps: SleepLog, tmp_path: Path
) -> None:
    _file_server(server, PAYLOAD)
    server.reply(Reply(200, body=PAYLOAD, headers={"Content-Type": "video/mp4"}, cut_after=40000))
    path = client.download(server.url + "/files/out.mp4", tmp_path / "out.mp4")
    assert path.read_bytes() == PAYLOAD
    ranges = [r.headers.get("Range") for r in server.requests]
    assert ranges[0] is None
    assert ranges[1] is not None and int(ranges[1][6:-1]) > 0
    assert len(sleeps.delays) == 1


def test_short_file_is_never_renamed_into_place(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    # The server always cuts the body: after the retries the final file must not exist.
    server.default = lambda req: Reply(
        200, body=PAYLOAD, headers={"Content-Length": str(len(PAYLOAD))}, cut_after=1000
    )
    with pytest.raises(e.KlingTransportError):
        client.download(server.url + "/files/out.mp4", tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert (tmp_path / "out.mp4.part").exists()


def test_download_error_status(client: KlingClient, server: FakeKling, tmp_path: Path) -> None:
    server.reply(Reply(404, body=b"gone"))
    with pytest.raises(e.KlingNotFoundError) as info:
        client.download(server.url + "/files/old.mp4?sig=SECRETSIG", tmp_path / "o.mp4")
    assert "SECRETSIG" not in str(info.value)


def test_download_of_unfinished_task_is_refused(client: KlingClient, tmp_path: Path) -> None:
    with pytest.raises(e.KlingValidationError, match="no result video"):
        client.download(Task.from_json(task_json(status="processing")), tmp_path)
