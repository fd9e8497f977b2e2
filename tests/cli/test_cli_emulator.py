"""``kling-widget`` end to end, as a subprocess, against an emulator started by the test.

The environment carries ``KLING_BASE_URL`` and a throwaway ``KLING_API_KEY`` of that
emulator, exactly as a user pointing the command at a relay or at Kling would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import imageio.v3 as iio
import numpy as np
import pytest
from cli_helpers import SmallClip

from kling_widget.limits import CLIP_LIMITS

pytestmark = pytest.mark.slow


# --- helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from kling_widget.emulator import Emulator

    emu = Emulator(api_key="kw-cli-" + secrets.token_urlsafe(18), task_delays=(0.1, 0.2))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def emu_key(emu: Any) -> str:
    key = emu.credentials.api_key if hasattr(emu, "credentials") else emu.api_key
    assert key
    return str(key)


ROOT = Path(__file__).resolve().parents[2]


def base_env() -> dict[str, str]:
    """This environment without Kling settings; this checkout first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def cli(
    *args: str, emu: Any | None, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m kling_widget ARGS`` pointed at ``emu`` (or with no Kling settings)."""
    full = base_env()
    if emu is not None:
        full["KLING_BASE_URL"] = str(emu.base_url)
        full["KLING_API_KEY"] = emu_key(emu)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kling_widget", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=300,
    )


def write_clip(path: Path, width: int, height: int, fps: int, frames: int) -> Path:
    """A small H.264 clip: a white square moving over grey."""
    video = np.full((frames, height, width, 3), 90, np.uint8)
    side = max(8, min(width, height) // 5)
    for i in range(frames):
        x = (i * 7) % max(1, width - side)
        video[i, height // 3 : height // 3 + side, x : x + side] = 255
    iio.imwrite(path, video, plugin="pyav", codec="libx264", fps=fps)
    return path


def probe(path: Path) -> tuple[int, int, int, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, frames, stream.codec_context.name


@pytest.fixture(scope="module")
def sample() -> Any:
    from kling_widget.media.samples import make_sample

    return make_sample("static")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallClip:
    return SmallClip(tmp_path_factory.mktemp("clip") / "disc.mp4")


def no_secret(result: subprocess.CompletedProcess[str], emu: Any) -> None:
    assert emu_key(emu) not in result.stdout + result.stderr


# --- check and conform ----------------------------------------------------------


def test_check_passes_a_good_clip(tmp_path: Path, sample: Any) -> None:
    r = cli("check", str(sample.path), emu=None, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1280x720, 30 fps, 150 frames, 5.00 s" in r.stdout
    assert "OK: meets the multi-elements limits" in r.stdout


@pytest.mark.parametrize(
    ("size", "fps", "frames", "target", "fields"),
    [
        ((720, 720), 25, 60, "multi-elements", ["fps 25"]),
        ((640, 360), 30, 75, "multi-elements", ["resolution 640x360"]),
        ((720, 720), 30, 30, "multi-elements", ["duration 1"]),
        ((720, 720), 30, 75, "omni", ["duration 2.5"]),
        ((640, 360), 25, 60, "multi-elements", ["fps 25", "resolution 640x360"]),
    ],
)
def test_check_lists_each_broken_limit_and_exits_2(
    tmp_path: Path,
    size: tuple[int, int],
    fps: int,
    frames: int,
    target: str,
    fields: list[str],
) -> None:
    clip = write_clip(tmp_path / "bad.mp4", size[0], size[1], fps, frames)
    r = cli("check", str(clip), "--target", target, emu=None, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    problems = [line for line in r.stdout.splitlines() if line.startswith("  - ")]
    assert len(problems) == len(fields)
    for field, line in zip(fields, problems, strict=True):
        assert line.startswith(f"  - {field}:")
    assert f"kling-widget conform {clip} -o OUT.mp4 --target {target}" in r.stdout


def test_conform_writes_a_clip_that_passes(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "phone.mp4", 640, 360, 25, 60)
    out = tmp_path / "fixed.mp4"
    r = cli("conform", str(clip), "-o", str(out), emu=None, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # On a pipe tqdm draws no bar: the log carries the command's lines only.
    assert "\r" not in r.stderr and "%|" not in r.stderr
    limits = CLIP_LIMITS["multi-elements"]
    w, h, _frames, codec = probe(out)
    assert codec == "h264"
    assert limits.min_side <= min(w, h) and max(w, h) <= limits.max_side
    assert w * 360 == h * 640  # aspect ratio kept
    r2 = cli("check", str(out), emu=None, cwd=tmp_path)
    assert r2.returncode == 0, r2.stdout


def test_conform_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", 640, 360, 25, 30)
    r = cli("conform", str(clip), "-o", str(clip), emu=None, cwd=tmp_path)
    assert r.returncode == 2
    assert "must differ from CLIP" in r.stderr


# --- edit -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def removal(
    emulator: Any, small: SmallClip, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One removal through the command line: its process result, paths and wire requests."""
    work = tmp_path_factory.mktemp("removal")
    x, y = small.point(0)
    tasks_before = len(emulator.tasks())
    sent_before = len(emulator.requests)
    out = work / "out" / "clean.mp4"
    r = cli(
        "edit", str(small.path), "--mode", "removal", "--point", f"0:{x},{y}", "-o", str(out),
        emu=emulator, cwd=work,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    task_line = next(s for s in r.stdout.splitlines() if s.startswith("Task "))
    return {
        "run": r,
        "work": work,
        "out": out,
        "point": (x, y),
        "task_id": task_line.split()[1],
        "new_tasks": len(emulator.tasks()) - tasks_before,
        "requests": list(emulator.requests)[sent_before:],
    }


def test_edit_removal_end_to_end(emulator: Any, small: SmallClip, removal: dict[str, Any]) -> None:
    r = removal["run"]
    assert r.stdout.splitlines()[0] == f"Using the local Kling emulator at {emulator.base_url}"
    assert "result saved to" in r.stdout
    w, h, frames, codec = probe(removal["out"])
    assert (w, h, codec) == (small.width, small.height, "h264") and frames > 0
    assert removal["new_tasks"] == 1
    # The click went on the wire as Kling wants it: frame 0, [{"x": .., "y": ..}].
    sent = removal["requests"]
    body = next(q for q in sent if q.path.endswith("/add-selection")).json
    x, y = removal["point"]
    assert body["frame_index"] == 0
    assert body["points"] == [{"x": x, "y": y}]
    create = next(
        q for q in sent if q.method == "POST" and q.path == "/v1/videos/multi-elements"
    ).json
    assert create["edit_mode"] == "removal"
    assert create["prompt"] == "Delete the selected object from <<<video_1>>>"
    assert create["duration"] == "5"  # a 2 s input is in the 2-5 s bracket
    assert "\r" not in r.stderr  # no progress bar on a pipe
    # The journal and its result live under --project-dir (default ./kling-projects).
    assert list((removal["work"] / "kling-projects").glob("*/results/*.mp4"))
    no_secret(r, emulator)


def test_the_removed_disc_is_gone(small: SmallClip, removal: dict[str, Any]) -> None:
    """Where the disc was, the result no longer shows its red."""
    frame = iio.imread(removal["out"], index=0, plugin="pyav")
    cx, cy = small.centre(0)
    patch = frame[cy - 20 : cy + 20, cx - 20 : cx + 20].astype(int)
    redness = (patch[..., 0] - patch[..., 1]).mean()
    assert redness < 60, redness


def test_edit_swap_sends_the_reference_image(
    tmp_path: Path, emulator: Any, small: SmallClip
) -> None:
    from kling_widget.media.samples import sample_image

    image = tmp_path / "logo.png"
    sample_image("logo").save(image)
    x, y = small.point(10)
    out = tmp_path / "swapped.mp4"
    r = cli(
        "edit",
        str(small.path),
        "--mode",
        "swap",
        "--point",
        f"10:{x},{y}",
        "--image",
        str(image),
        "--prompt",
        "swap the ball from <<<image_1>>> for the ball from <<<video_1>>>",
        "--pro",
        "-o",
        str(out),
        emu=emulator,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert probe(out)[:2] == (small.width, small.height)
    create = [
        q for q in emulator.requests if q.method == "POST" and q.path == "/v1/videos/multi-elements"
    ][-1].json
    assert create["edit_mode"] == "swap" and create["mode"] == "pro"
    assert len(create["image_list"]) == 1
    assert not create["image_list"][0]["image"].startswith("data:")


def test_edit_without_credentials_uses_an_in_process_emulator(
    tmp_path: Path, small: SmallClip
) -> None:
    x, y = small.point(0)
    out = tmp_path / "clean.mp4"
    r = cli(
        "edit",
        str(small.path),
        "--mode",
        "removal",
        "--point",
        f"0:{x},{y}",
        "-o",
        str(out),
        emu=None,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "Using the local Kling emulator (no credentials found)"
    assert probe(out)[:2] == (small.width, small.height)


def test_failed_task_exits_1_and_has_nothing_to_download(
    tmp_path: Path, emulator: Any, small: SmallClip
) -> None:
    x, y = small.point(0)
    # The emulator fails a task whose prompt contains the word "fail" (docs/emulator.md).
    r = cli(
        "edit", str(small.path), "--mode", "removal", "--point", f"0:{x},{y}",
        "--prompt", "Delete the ball from <<<video_1>>>, or fail", "-o", "never.mp4",
        emu=emulator, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "KlingTaskFailedError" in r.stderr and "ended failed" in r.stderr
    assert not (tmp_path / "never.mp4").exists()
    task_id = re.search(r"task id: ([\w-]+)", r.stderr).group(1)  # type: ignore[union-attr]
    d = cli("tasks", "download", task_id, "-o", "x.mp4", emu=emulator, cwd=tmp_path)
    assert d.returncode == 2
    assert f"ID={task_id!r}: task status is 'failed'" in d.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_edit_refuses_a_clip_that_breaks_limits_before_sending(
    tmp_path: Path, emulator: Any
) -> None:
    clip = write_clip(tmp_path / "phone.mp4", 640, 360, 25, 60)
    sent_before = len(emulator.requests)
    r = cli(
        "edit", str(clip), "--mode", "removal", "--point", "0:0.5,0.5", "-o", "o.mp4",
        emu=emulator, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert "CLIP=" in r.stderr and "fps 25" in r.stderr and "--conform" in r.stderr
    assert len(emulator.requests) == sent_before


def test_edit_frame_beyond_the_clip_exits_2(
    tmp_path: Path, emulator: Any, small: SmallClip
) -> None:
    sent_before = len(emulator.requests)
    r = cli(
        "edit", str(small.path), "--mode", "removal", "--point",
        f"{small.frame_count}:0.5,0.5", "-o", "o.mp4", emu=emulator, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert f"FRAME must be below the clip's {small.frame_count} frames" in r.stderr
    assert len(emulator.requests) == sent_before


def test_edit_bad_reference_image_exits_2(tmp_path: Path, emulator: Any, small: SmallClip) -> None:
    from PIL import Image

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (100, 100), (255, 0, 0)).save(tiny)
    r = cli(
        "edit", str(small.path), "--mode", "swap", "--point", "0:0.5,0.5", "--image",
        str(tiny), "-o", "o.mp4", emu=emulator, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert "--image[0]" in r.stderr and "300" in r.stderr


# --- tasks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_task(removal: dict[str, Any]) -> tuple[str, Path]:
    """The task the removal made through the command line, and the file it saved."""
    return removal["task_id"], removal["out"]


def test_tasks_list_shows_the_task(tmp_path: Path, emulator: Any, finished_task: Any) -> None:
    task_id, _ = finished_task
    r = cli("tasks", "list", emu=emulator, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0].startswith("Using the local Kling emulator at")
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["TASK", "ID", "KIND"]
    row = next(line for line in r.stdout.splitlines() if line.startswith(task_id))
    assert "multi-elements" in row and "succeed" in row


def test_tasks_show_and_json(tmp_path: Path, emulator: Any, finished_task: Any) -> None:
    task_id, _ = finished_task
    r = cli("tasks", "show", task_id, emu=emulator, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"task id:        {task_id}" in r.stdout
    assert "status:         succeed" in r.stdout
    assert "video 0:" in r.stdout
    r = cli("tasks", "show", task_id, "--json", emu=emulator, cwd=tmp_path)
    data = json.loads(r.stdout)
    assert data["task_id"] == task_id and data["task_status"] == "succeed"


def test_tasks_download_writes_the_same_result(
    tmp_path: Path, emulator: Any, finished_task: Any
) -> None:
    task_id, saved = finished_task
    out = tmp_path / "again.mp4"
    r = cli("tasks", "download", task_id, "-o", str(out), emu=emulator, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == saved.read_bytes()
    assert f"({out.stat().st_size} bytes)" in r.stdout
    # Into a folder: named after the task id, inside the folder, nothing else left there.
    folder = tmp_path / "results"
    folder.mkdir()
    r = cli("tasks", "download", task_id, "-o", str(folder), emu=emulator, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in folder.iterdir()] == [f"{task_id}.mp4"]
    assert (folder / f"{task_id}.mp4").read_bytes() == saved.read_bytes()


def test_tasks_show_unknown_id_exits_1_with_code_and_request_id(
    tmp_path: Path, emulator: Any
) -> None:
    r = cli("tasks", "show", "no-such-task", emu=emulator, cwd=tmp_path)
    assert r.returncode == 1
    assert "KlingNotFoundError" in r.stderr
    assert "Kling code: 12" in r.stderr  # 1202/1203: resource not found
    assert "request id: none" not in r.stderr
    no_secret(r, emulator)


# --- failures: exit 1 with Kling's code and request id ---------------------------


def test_server_fault_exits_1_with_code_and_request_id(tmp_path: Path, emulator: Any) -> None:
    from kling_widget.emulator import FaultPlan

    saved = emulator.faults
    emulator.faults = FaultPlan(seed=1).add("error", path="/v1/videos/multi-elements", status=500)
    try:
        r = cli("tasks", "list", "--max-retries", "0", emu=emulator, cwd=tmp_path)
    finally:
        emulator.faults = saved
    assert r.returncode == 1, r.stdout + r.stderr
    assert "KlingServerError" in r.stderr
    assert "Kling code: 5000" in r.stderr and "HTTP status: 500" in r.stderr
    assert "request id: none" not in r.stderr
    no_secret(r, emulator)


def test_stopped_server_exits_1(tmp_path: Path) -> None:
    from kling_widget.emulator import Emulator

    emu = Emulator(api_key="kw-stopped-" + secrets.token_urlsafe(12))
    emu.start()
    emu.stop()  # the port is closed now: nothing answers
    r = cli("tasks", "list", "--max-retries", "0", emu=emu, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "KlingTransportError" in r.stderr
    no_secret(r, emu)


def test_wrong_key_exits_1_without_printing_it(tmp_path: Path, emulator: Any) -> None:
    wrong = "sk-wrong-" + secrets.token_urlsafe(16)
    r = cli(
        "tasks", "list", "--max-retries", "0", emu=emulator, cwd=tmp_path,
        env={"KLING_API_KEY": wrong},
    )  # fmt: skip
    assert r.returncode == 1
    assert "KlingAuthError" in r.stderr and "Kling code: 100" in r.stderr
    assert wrong not in r.stdout + r.stderr
