"""``serve()``: the emulator in the foreground of another process (``kling-widget emulator``)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx


def test_serve_prints_its_url_and_takes_the_environment_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["KLING_API_KEY"] = "serve-test-key-0123456789"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kling_widget.emulator import serve; serve(0)"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("KLING_BASE_URL=http://127.0.0.1:")
        base = line.split("=", 1)[1]
        ok = httpx.get(
            base + "/v1/videos/multi-elements",
            headers={"Authorization": "Bearer serve-test-key-0123456789"},
        )
        assert ok.status_code == 200 and ok.json()["data"] == []
        refused = httpx.get(
            base + "/v1/videos/multi-elements", headers={"Authorization": "Bearer other"}
        )
        assert refused.status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "serve-test-key-0123456789" not in out + err + line
