"""The downloader against hostile file hosts: typed errors, bounded time, files on disk."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import time
from pathlib import Path

import pytest
from server import PAYLOAD, HostileServer

from kling_widget import transfer
from kling_widget.backoff import RetryPolicy
from kling_widget.errors import (
    KlingDeadlineError,
    KlingNotFoundError,
    KlingResponseError,
    KlingValidationError,
)

# Generous: each test's own deadline is ~1 s; this only catches a hang.
HANG_S = 20.0
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_plain_download_is_verified(hostile: HostileServer, tmp_path: Path) -> None:
    result = transfer.download(hostile.url + "/video.mp4", tmp_path / "out.mp4")
    assert result.path.read_bytes() == PAYLOAD
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest() and result.size == len(PAYLOAD)
    assert files(tmp_path) == ["out.mp4"]
    # No credential ever goes to a file host.
    assert all("authorization" not in {k.lower() for k in h} for _, _, h in hostile.seen)


def test_broken_transfer_resumes_from_the_part_file(hostile: HostileServer, tmp_path: Path) -> None:
    result = transfer.download(hostile.mode("break-once"), tmp_path / "out.mp4", policy=FAST)
    assert result.path.read_bytes() == PAYLOAD
    ranges = [h.get("Range") for _, _, h in hostile.seen]
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) * 2 // 5}-"


def test_206_at_the_wrong_offset_restarts_from_zero(hostile: HostileServer, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    (tmp_path / "out.mp4.part").write_bytes(PAYLOAD[:90])
    result = transfer.download(hostile.mode("wrong-offset"), dest, policy=FAST)
    # The server's 206 started at 0, not 90: the part file was discarded, not appended to.
    assert dest.read_bytes() == PAYLOAD and result.resumed_from == 90
    assert files(tmp_path) == ["out.mp4"]


def test_unreadable_content_range_is_a_response_error(
    hostile: HostileServer, tmp_path: Path
) -> None:
    (tmp_path / "out.mp4.part").write_bytes(PAYLOAD[:10])
    with pytest.raises(KlingResponseError, match="Content-Range"):
        transfer.download(hostile.mode("bad-range"), tmp_path / "out.mp4", policy=FAST)
    assert files(tmp_path) == []


def test_content_length_over_the_cap_is_refused_before_reading(
    hostile: HostileServer, tmp_path: Path
) -> None:
    with pytest.raises(KlingResponseError, match="cap"):
        transfer.download(hostile.mode("huge"), tmp_path / "out.mp4", max_bytes=1 << 20)
    assert files(tmp_path) == []


def test_endless_body_stops_at_the_cap(hostile: HostileServer, tmp_path: Path) -> None:
    with pytest.raises(KlingResponseError, match="cap"):
        transfer.download(hostile.mode("endless"), tmp_path / "out.mp4", max_bytes=1 << 20)
    assert files(tmp_path) == []
    with pytest.raises(KlingResponseError, match="cap"):
        transfer.fetch_bytes(hostile.mode("endless"), max_bytes=1 << 20)


def test_a_dripping_server_hits_the_total_deadline(hostile: HostileServer, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(KlingDeadlineError):
        transfer.download(hostile.mode("drip"), tmp_path / "out.mp4", deadline=1.0, policy=FAST)
    assert time.monotonic() - start < HANG_S
    # The part file stays for a later resume; nothing is renamed into place.
    assert "out.mp4" not in files(tmp_path)


def test_dripping_headers_hit_the_deadline_too(hostile: HostileServer) -> None:
    start = time.monotonic()
    with pytest.raises(KlingDeadlineError):
        transfer.fetch_bytes(hostile.mode("drip-headers"), max_bytes=1 << 20, deadline=1.0)
    assert time.monotonic() - start < HANG_S


@pytest.mark.parametrize("mode", ["loop", "ping-pong/ping"])
def test_redirect_loops_are_typed(hostile: HostileServer, tmp_path: Path, mode: str) -> None:
    with pytest.raises(KlingResponseError, match="redirect"):
        transfer.download(hostile.mode(mode), tmp_path / "out.mp4")
    assert files(tmp_path) == []


@pytest.mark.parametrize("mode", ["to-ftp", "to-file"])
def test_redirects_only_to_http(hostile: HostileServer, tmp_path: Path, mode: str) -> None:
    with pytest.raises(KlingResponseError, match=r"only http\(s\)"):
        transfer.download(hostile.mode(mode), tmp_path / "out.mp4")
    with pytest.raises(KlingResponseError, match=r"only http\(s\)"):
        transfer.fetch_bytes(hostile.mode(mode), max_bytes=100)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.mp4", "/etc/passwd"])
def test_only_http_urls_are_fetched(url: str, tmp_path: Path) -> None:
    with pytest.raises(KlingValidationError, match=r"only http\(s\)|no host"):
        transfer.download(url, tmp_path / "out.mp4")
    with pytest.raises(KlingValidationError):
        transfer.fetch_bytes(url, max_bytes=100)


def test_not_found_is_typed_and_leaves_nothing(hostile: HostileServer, tmp_path: Path) -> None:
    with pytest.raises(KlingNotFoundError):
        transfer.download(hostile.mode("missing"), tmp_path / "out.mp4")
    assert files(tmp_path) == []


def test_wrong_digest_is_refused(hostile: HostileServer, tmp_path: Path) -> None:
    with pytest.raises(KlingResponseError, match="SHA-256"):
        transfer.download(hostile.url + "/v.mp4", tmp_path / "out.mp4", expected_sha256="0" * 64)
    assert files(tmp_path) == []


def test_full_disk_leaves_no_partial_file(
    hostile: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_write = transfer.DownloadJob.open_part

    class Full:
        def __init__(self, fh: object) -> None:
            self._fh = fh

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(
        transfer.DownloadJob, "open_part", lambda self, append: Full(job_write(self, append))
    )
    with pytest.raises(OSError) as info:
        transfer.download(hostile.url + "/v.mp4", tmp_path / "out.mp4")
    assert info.value.errno == errno.ENOSPC
    assert files(tmp_path) == []


def test_destination_under_a_regular_file_is_refused_first(
    hostile: HostileServer, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(KlingValidationError, match="dest"):
        transfer.download(hostile.url + "/v.mp4", tmp_path / "notes.txt" / "out.mp4")
    assert hostile.seen == []


def test_async_twin(hostile: HostileServer, tmp_path: Path) -> None:
    async def run() -> transfer.DownloadResult:
        return await transfer.adownload(hostile.mode("break-once"), tmp_path / "a.mp4", policy=FAST)

    assert asyncio.run(run()).path.read_bytes() == PAYLOAD

    async def drip() -> None:
        await transfer.adownload(hostile.mode("drip"), tmp_path / "b.mp4", deadline=1.0)

    start = time.monotonic()
    with pytest.raises(KlingDeadlineError):
        asyncio.run(drip())
    assert time.monotonic() - start < HANG_S
    assert asyncio.run(transfer.afetch_bytes(hostile.url + "/v", max_bytes=1 << 20)) == PAYLOAD


@pytest.mark.parametrize(
    "name",
    ["../escaped", "/etc/passwd", "a\x00b", "x" * 5000, "..", "", "C:\\evil", "ok-123"],
)
def test_server_names_always_land_inside(tmp_path: Path, name: str) -> None:
    safe = transfer.safe_filename(name, suffix=".mp4")
    path = transfer.inside(tmp_path, safe)
    assert path.parent == tmp_path.resolve() and path.name.endswith(".mp4")
    assert "/" not in safe and "\x00" not in safe and len(safe) <= 120 and not safe.startswith(".")


def test_long_names_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert transfer.safe_filename(a) != transfer.safe_filename(b)


@pytest.mark.parametrize("task_id", ["../escaped", "/etc/evil", "a\x00b", "x" * 5000, ".."])
def test_client_download_names_from_the_server_stay_inside(
    hostile: HostileServer, tmp_path: Path, task_id: str
) -> None:
    from kling_widget.api.client import KlingClient
    from kling_widget.api.models import Task

    task = Task.from_json(
        {
            "task_id": task_id,
            "task_status": "succeed",
            "task_result": {"videos": [{"id": "v", "url": hostile.url + "/v.mp4"}]},
        }
    )
    inner = tmp_path / "inner"
    inner.mkdir()
    with KlingClient(api_key="k" * 32, base_url=hostile.url) as client:
        path = client.download(task, inner)
    assert path.parent == inner.resolve() and path.read_bytes() == PAYLOAD
    assert files(tmp_path) == ["inner"] and files(inner) == [path.name]


def test_a_client_with_a_default_credential_is_refused(
    hostile: HostileServer, tmp_path: Path
) -> None:
    import httpx

    with (
        httpx.Client(headers={"Authorization": "Bearer secret"}) as leaky,
        pytest.raises(KlingValidationError, match="credential"),
    ):
        transfer.download(hostile.url + "/v.mp4", tmp_path / "o.mp4", client=leaky)
    assert hostile.seen == []
