"""Every notebook runs top to bottom against an emulator, and is committed without outputs.

Each notebook runs in a temporary copy of ``notebooks/`` (so results land there, not in the
checkout) with the kernel's environment pointing at an emulator this test started:
``KLING_BASE_URL`` plus a throwaway ``KLING_API_KEY`` that only that emulator accepts.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import nbformat
import pytest
from nbharness import execute, serialized, text, widget_views

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from kling_widget.emulator import Emulator

    emu = Emulator(api_key="kw-test-" + secrets.token_urlsafe(18))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def kernel_env(emu: Any) -> dict[str, str]:
    """This process's environment, real credentials removed, pointed at the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["KLING_BASE_URL"] = str(emu.base_url)
    env["KLING_API_KEY"] = emu_key(emu)
    # The kernel imports this checkout, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def emu_key(emu: Any) -> str:
    key = emu.credentials.api_key if hasattr(emu, "credentials") else emu.api_key
    assert key
    return str(key)


def workdir_copy(tmp_path: Path) -> Path:
    work = tmp_path / "notebooks"
    # Never the demo's clicks: kling-projects/ stays behind.
    shutil.copytree(
        NOTEBOOKS, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "kling-projects")
    )
    return work


def probe(path: Path) -> tuple[int, int, int, str]:
    """(width, height, decoded frames, codec) of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, frames, stream.codec_context.name


# --- committed state ------------------------------------------------------------


def test_the_expected_notebooks_exist() -> None:
    names = {p.name for p in ALL_NOTEBOOKS}
    assert {"quickstart.ipynb", "real_account.ipynb", "scripting.ipynb"} <= names


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata  # no saved widget state either
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


# --- executed -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety net on a loaded machine, not a speed requirement
def test_quickstart_runs_and_shows_the_editor(tmp_path: Path, emulator: Any) -> None:
    work = workdir_copy(tmp_path)
    nb = execute(work / "quickstart.ipynb", work, kernel_env(emulator))
    views = widget_views(nb)
    assert views, "the editor widget was not displayed"
    printed = text(nb)
    assert "sample 'static'" in printed
    assert emu_key(emulator) not in serialized(nb)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety net on a loaded machine, not a speed requirement
def test_real_account_conforms_and_edits_on_the_emulator(tmp_path: Path, emulator: Any) -> None:
    work = workdir_copy(tmp_path)
    tasks_before = len(emulator.tasks())
    nb = execute(work / "real_account.ipynb", work, kernel_env(emulator))
    printed = text(nb)

    # It says where it runs, and it is the emulator this test started.
    assert f"Using the local Kling emulator at {emulator.base_url}" in printed

    # The phone-like clip broke the limits and was conformed into them.
    assert (work / "phone_clip.mp4").is_file()
    conformed = work / "phone_clip_conformed.mp4"
    from kling_widget.media.video import VideoSource

    assert VideoSource(conformed).check("multi-elements") == []
    w, h, _, codec = probe(conformed)
    assert codec == "h264"

    # One removal task was created and its result is on disk, a playable H.264 clip.
    assert len(emulator.tasks()) == tasks_before + 1
    line = next(s for s in printed.splitlines() if s.startswith("result: "))
    result = Path(line.removeprefix("result: ").split(" (")[0])
    result = result if result.is_absolute() else work / result
    assert result.is_file()
    rw, rh, rframes, rcodec = probe(result)
    assert rcodec == "h264" and (rw, rh) == (w, h) and rframes > 0

    # The key never shows up anywhere in the executed notebook.
    assert emu_key(emulator) not in serialized(nb)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a safety net on a loaded machine, not a speed requirement
def test_scripting_runs_every_edit_and_lists_results(tmp_path: Path, emulator: Any) -> None:
    work = workdir_copy(tmp_path)
    tasks_before = len(emulator.tasks())
    nb = execute(work / "scripting.ipynb", work, kernel_env(emulator))
    printed = text(nb)

    expected = ["remove-ball", "swap-ball-for-logo", "add-star"]
    assert len(emulator.tasks()) == tasks_before + len(expected)
    # A create the client had to retry carries the same external_task_id: count tasks once.
    creates: dict[str, Any] = {}
    for q in emulator.requests:
        if q.method == "POST" and q.path == "/v1/videos/multi-elements":
            creates.setdefault(q.json["external_task_id"], q.json)
    sent = list(creates.values())[-len(expected) :]
    assert [c["edit_mode"] for c in sent] == ["removal", "swap", "addition"]
    # One selection session served all three edits.
    assert len({c["session_id"] for c in sent}) == 1
    outputs = {}
    for name in expected:
        assert f"{name}: succeed" in printed
        path = work / "results" / f"{name}.mp4"
        w, h, frames, codec = probe(path)
        assert (w, h) == (1280, 720) and codec == "h264" and frames > 0
        outputs[name] = path.read_bytes()
    # Three different edits, three different videos.
    assert len(set(outputs.values())) == len(expected)
    # The results table (HTML) and the video widgets were displayed.
    assert "<table>" in printed and "swap-ball-for-logo" in printed
    assert widget_views(nb)
    assert emu_key(emulator) not in serialized(nb)
