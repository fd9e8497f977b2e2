"""The README's "Python API in ten lines" runs as written (against an emulator)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import av
import pytest
from cli_helpers import SmallClip

ROOT = Path(__file__).resolve().parents[2]


def readme_block(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_python_api_block_runs_against_the_emulator(tmp_path: Path) -> None:
    from kling_widget.emulator import Emulator

    SmallClip(tmp_path / "clip.mp4")
    code = readme_block("The Python API in ten lines")
    assert len(code.strip().splitlines()) <= 10
    with Emulator(api_key="kw-readme-" + secrets.token_urlsafe(12)) as emu:
        # The only change: the example's public URL becomes one the emulator serves.
        url = emu.upload(tmp_path / "clip.mp4")
        assert "https://example.com/clip.mp4" in code
        script = tmp_path / "readme_api.py"
        script.write_text(code.replace("https://example.com/clip.mp4", url), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
        env.update(KLING_BASE_URL=str(emu.base_url), KLING_API_KEY=str(emu.api_key))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        creates = [
            q.json
            for q in emu.requests
            if q.method == "POST" and q.path == "/v1/videos/multi-elements"
        ]
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "clean.mp4"
    with av.open(str(tmp_path / "clean.mp4")) as container:
        assert container.streams.video[0].width == SmallClip.width
    assert creates[-1]["prompt"] == "Delete the red car from <<<video_1>>>"
