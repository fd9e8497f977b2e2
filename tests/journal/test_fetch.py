"""Result downloads: atomic (part file, then rename), resumed with Range, length-checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from kling_widget.journal.fetch import DownloadError, download_file, part_path

FILES = "/emulator/files/"


@pytest.fixture
def served(emu: Any, tmp_path: Path) -> tuple[str, bytes]:
    data = os.urandom(300_000)
    src = tmp_path / "served.mp4"
    src.write_bytes(data)
    return emu.upload(src), data


def _gets(emu: Any) -> list[dict[str, str]]:
    return [
        {k.lower(): v for k, v in r.headers.items()}
        for r in emu.requests
        if r.method == "GET" and r.path.startswith(FILES)
    ]


def test_broken_download_keeps_its_part_and_resumes_with_range(
    emu: Any, served: tuple[str, bytes], tmp_path: Path
) -> None:
    url, data = served
    dest = tmp_path / "out" / "result.mp4"
    emu.faults.add("truncate", path=FILES, method="GET", times=1, truncate_at=100_000)
    with pytest.raises(DownloadError, match="kept and the next attempt resumes"):
        download_file(url, dest, attempts=1)
    assert not dest.exists()  # never a partial file under the final name
    assert part_path(dest).read_bytes() == data[:100_000]

    got = download_file(url, dest)
    assert dest.read_bytes() == data
    assert (got.size, got.sha256, got.resumed_from) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        100_000,
    )
    assert not part_path(dest).exists()
    last = _gets(emu)[-1]
    assert last["range"] == "bytes=100000-" and last["accept-encoding"] == "identity"


def test_retries_within_one_call_resume_too(
    emu: Any, served: tuple[str, bytes], tmp_path: Path
) -> None:
    url, data = served
    dest = tmp_path / "r.mp4"
    emu.faults.add("truncate", path=FILES, method="GET", times=2, truncate_at=50_000)
    got = download_file(url, dest, attempts=3)
    assert dest.read_bytes() == data and got.resumed_from == 0
    ranges = [g.get("range") for g in _gets(emu)]
    assert ranges == [None, "bytes=50000-", "bytes=100000-"]


def test_a_missing_result_is_a_clear_error(emu: Any, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{emu.base_url}/emulator/files/nope/result.mp4", tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
