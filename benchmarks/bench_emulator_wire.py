"""The emulator's wire guards: what refusing costs, against accepting, in the same run.

Run: ``python benchmarks/bench_emulator_wire.py [--mb 300]`` (under a minute).

Prints, with ``os.getloadavg()``:

- an **unauthenticated** upload of ``MB`` megabytes: seconds until the 401 arrives and the
  bytes written to the emulator's disk (expected 0), against an **authenticated** upload of
  the same size (seconds, bytes written): the ratio is the figure;
- the JSON depth scan on the largest documented body (seven 10 MB reference images,
  base64) against ``json.loads`` of the same body (the scan's cost as a ratio), and the
  whole guarded parse (``parse_json``: bracket count, scan only when needed, parse)
  against ``json.loads``;
- seconds to answer a body nested 100 000 levels deep (400/1200).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from kling_widget.emulator import Emulator
from kling_widget.emulator.wire import json_depth, parse_json
from kling_widget.limits import IMAGE_MAX_BYTES, OMNI_MAX_REFS_WITHOUT_VIDEO

BLOCK = b"\0" * (1 << 20)


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def upload(emu: Emulator, megabytes: int, token: str | None) -> tuple[float, int, int]:
    """(seconds, HTTP status, bytes the emulator wrote) for one upload."""

    def blocks() -> Iterator[bytes]:
        for _ in range(megabytes):
            yield BLOCK

    headers = {"Content-Length": str(megabytes * len(BLOCK))}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    before = disk_bytes(emu.files.root)
    start = time.perf_counter()
    resp = httpx.post(
        emu.base_url + "/emulator/uploads?filename=big.bin",
        content=blocks(),
        headers=headers,
        timeout=600.0,
    )
    seconds = time.perf_counter() - start
    return seconds, resp.status_code, disk_bytes(emu.files.root) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=300)
    args = parser.parse_args()
    print(f"loadavg {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, Emulator(data_dir=tmp) as emu:
        refused = upload(emu, args.mb, None)
        accepted = upload(emu, args.mb, emu.bearer_token())
        print(
            f"{args.mb} MB upload: unauthenticated {refused[0]:.2f} s -> HTTP {refused[1]}, "
            f"{refused[2]} bytes written; authenticated {accepted[0]:.2f} s -> HTTP "
            f"{accepted[1]}, {accepted[2]} bytes written; time ratio "
            f"{refused[0] / accepted[0]:.2f}"
        )

        image = base64.b64encode(os.urandom(IMAGE_MAX_BYTES)).decode("ascii")
        body = {"image_list": [{"image_url": image} for _ in range(OMNI_MAX_REFS_WITHOUT_VIDEO)]}
        raw = json.dumps(body).encode()
        start = time.perf_counter()
        depth = json_depth(raw)
        scan = time.perf_counter() - start
        start = time.perf_counter()
        json.loads(raw)
        parse = time.perf_counter() - start
        start = time.perf_counter()
        parse_json(raw)
        guarded = time.perf_counter() - start
        print(
            f"largest body {len(raw) / 1e6:.1f} MB: depth scan {scan:.3f} s (depth {depth}), "
            f"json.loads {parse:.3f} s, scan/parse {scan / parse:.2f}; parse_json "
            f"{guarded:.3f} s, parse_json/json.loads {guarded / parse:.2f}"
        )

        deep = b"[" * 100_000 + b"]" * 100_000
        start = time.perf_counter()
        resp = httpx.post(
            emu.base_url + "/v1/videos/omni-video",
            content=deep,
            headers={"Authorization": f"Bearer {emu.bearer_token()}"},
            timeout=60.0,
        )
        print(
            f"100000-deep body: HTTP {resp.status_code} code {resp.json()['code']} in "
            f"{time.perf_counter() - start:.3f} s"
        )


if __name__ == "__main__":
    main()
