"""``kling-widget edit`` stopped at any step and run again with the same arguments: one task.

Each case runs the command in a child process that stops exactly at one step (SIGKILL
before the create's answer is journaled, while polling, mid-download; or a full disk while
downloading or copying the result), then runs the same command again. The emulator (in
this process) must end with exactly one create for the clip and the result on disk,
complete; a full disk leaves no temporary file beside the output. Nothing here waits for
time: the child stops where it is told and the test waits for processes to end.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from cli_helpers import SmallClip

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_cli_child.py")
CREATE = "/v1/videos/multi-elements"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from kling_widget.emulator import Emulator

    emu = Emulator(api_key="kw-rerun-" + secrets.token_urlsafe(18), task_delays=(0.1, 0.2))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallClip:
    return SmallClip(tmp_path_factory.mktemp("clip") / "disc.mp4")


def run(
    emu: Any, cwd: Path, *args: str, step: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["KLING_BASE_URL"] = str(emu.base_url)
    env["KLING_API_KEY"] = str(emu.api_key)
    command = (
        [sys.executable, str(CHILD), step, *args]
        if step
        else [sys.executable, "-m", "kling_widget", *args]
    )
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def creates(emu: Any, since: int) -> list[Any]:
    return [r for r in list(emu.requests)[since:] if r.method == "POST" and r.path == CREATE]


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.mark.parametrize(
    ("step", "how"),
    [
        ("create", -signal.SIGKILL),
        ("poll", -signal.SIGKILL),
        ("download", -signal.SIGKILL),
        ("enospc-download", 1),
        ("enospc-copy", 1),
    ],
)
def test_a_rerun_after_a_stop_creates_no_second_task(
    emulator: Any, small: SmallClip, tmp_path: Path, step: str, how: int
) -> None:
    x, y = small.point(0)
    out = tmp_path / "out" / "clean.mp4"
    args = ("edit", str(small.path), "--mode", "removal", "--point", f"0:{x},{y}", "-o", str(out))
    since = len(emulator.requests)

    first = run(emulator, tmp_path, *args, step=step)
    assert first.returncode == how, first.stdout + first.stderr
    assert len(creates(emulator, since)) == 1  # the create was sent once...
    if how == 1:  # a full disk is one line, no traceback, and leaves nothing half-written
        assert "No space left on device" in first.stderr and "Traceback" not in first.stderr
        assert not out.exists()
    assert not list(out.parent.glob("*.tmp")) if out.parent.exists() else True

    again = run(emulator, tmp_path, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(creates(emulator, since)) == 1  # ...and never again
    assert frames_of(out) > 0
    assert not list(out.parent.glob("*.tmp"))
    assert not list((tmp_path / "kling-projects").glob("*/results/*.part"))
    project = next((tmp_path / "kling-projects").glob("*/journal.sqlite3")).parent
    from kling_widget.journal import Journal

    with Journal(project, read_only=True) as journal:
        (task,) = journal.tasks()
        assert task.succeeded and task.result_path is not None
        assert task.downloads[-1].size == task.result_path.stat().st_size


def test_a_changed_request_is_a_new_task_and_a_failed_one_is_not_picked_up(
    emulator: Any, small: SmallClip, tmp_path: Path
) -> None:
    x, y = small.point(0)
    out = tmp_path / "a.mp4"
    since = len(emulator.requests)
    base = ("edit", str(small.path), "--mode", "removal", "--point", f"0:{x},{y}")
    assert run(emulator, tmp_path, *base, "-o", str(out)).returncode == 0
    assert run(emulator, tmp_path, *base, "-o", str(out)).returncode == 0
    assert len(creates(emulator, since)) == 1  # the same request again: picked up
    other = run(emulator, tmp_path, *base, "--prompt", "Remove the disc", "-o", str(out))
    assert other.returncode == 0, other.stderr
    assert len(creates(emulator, since)) == 2  # another request: another task
    # --read-only shows the journal and sends nothing.
    n = len(emulator.requests)
    shown = run(emulator, tmp_path, *base, "-o", str(out), "--read-only")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count(": succeed; result: ") == 2
    assert len(emulator.requests) == n
