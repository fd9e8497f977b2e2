"""A process killed (SIGKILL) at each step; the next one finishes the job, billing once.

The emulator runs in this test process (it outlives the child); the child gets its address
and credentials through the environment, like a second notebook would. After the kill, a
new ``Project`` on the same clip (in this process) must end with exactly one task on the
emulator and the result on disk, complete (size and SHA-256 of the served file).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import ACCESS_KEY, SECRET_KEY, served_sha256

from kling_widget.api.client import KlingClient
from kling_widget.journal import Journal, JournalLockedError, JournalReadOnlyError
from kling_widget.workflow import Project

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_crash_child.py")
CREATE_PATH = "/v1/videos/multi-elements"


class Child:
    """The child process and its marker lines."""

    def __init__(self, emu: Any, clip: Path, root: Path, ball: tuple[float, float]) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO),
            KLING_BASE_URL=emu.base_url,
            KLING_ACCESS_KEY=ACCESS_KEY,
            KLING_SECRET_KEY=SECRET_KEY,
        )
        env.pop("KLING_API_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(clip), str(root), emu.upload(clip), *map(str, ball)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []

    def expect(self, marker: str, timeout: float = 120) -> str:
        """Read lines until one starts with ``marker`` (the child's own pace, no timing)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"child ended before {marker!r}: {self.lines}\n{err}")
            self.lines.append(line.strip())
            if line.startswith(marker):
                return line.strip()
        raise AssertionError(f"no {marker!r} from the child: {self.lines}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL


def _wait_for(
    check: Callable[[], bool], what: str, timeout: float = 120, child: Child | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if child is not None and child.proc.poll() is not None:
            out = child.proc.stdout.read() if child.proc.stdout else ""
            err = child.proc.stderr.read() if child.proc.stderr else ""
            raise AssertionError(f"child ended before {what}: {child.lines} {out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} ({child.lines if child else ''})")
        time.sleep(0.05)


def _journal_rows(folder: Path) -> list[Any]:
    j = Journal(folder / "journal.sqlite3", read_only=True)
    try:
        return j.tasks()
    finally:
        j.close()


def _folder(root: Path) -> Path:
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1
    return folders[0]


def _journaled_creating(root: Path) -> Path:
    """The project folder under ``root``, once its journal holds a ``creating`` row."""
    folder = _folder(root)
    _wait_for(lambda: any(t.status == "creating" for t in _journal_rows(folder)), "the row")
    return folder


def _create_sent(emu: Any, what: str) -> None:
    _wait_for(lambda: any(r.method == "POST" and r.path == CREATE_PATH for r in emu.requests), what)


def _killed_while_polling(emu: Any, child: Child) -> list[str]:
    """Run the child until its task is created and polled, then kill it; the CREATED line.

    The emulator's clock stands still, so the task is still running when the child dies.
    """
    try:
        child.expect("SELECTED")
        child.go()
        created = child.expect("CREATED").split()
        n = len(emu.requests)
        _wait_for(lambda: any(r.method == "GET" for r in emu.requests[n:]), "a poll", child=child)
        child.kill()
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
    return created


@pytest.fixture
def child_factory(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> Iterator[Callable[[], Child]]:
    children: list[Child] = []

    def make() -> Child:
        c = Child(emu, sample_clip, tmp_path / "kp", ball)
        children.append(c)
        return c

    yield make
    for c in children:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def _recover_and_check(
    emu: Any, sample_clip: Path, root: Path, report: list[str]
) -> tuple[Project, Any]:
    """The next process: reopen the clip, resume, and check one task and a complete file."""
    p = Project(
        sample_clip, KlingClient(**emu.client_options()), root=root, on_status=report.append
    )
    tasks = p.resume(wait=True, timeout=600)
    assert len(tasks) == 1 and tasks[0].succeeded
    assert len(emu.tasks()) == 1, f"{len(emu.tasks())} tasks on the emulator"
    rec = p.history()[-1]
    assert rec.status == "succeed" and rec.warning is None
    path = rec.result_path
    assert path is not None
    digest, size = served_sha256(tasks[0].videos[0].url or "")
    assert path.stat().st_size == size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert (rec.downloads[-1].size, rec.downloads[-1].sha256) == (size, digest)
    assert not list(p.folder.glob("results/*.part"))
    return p, rec


def test_killed_after_create_sent_before_reply(
    emu: Any, child_factory: Callable[[], Child], sample_clip: Path, tmp_path: Path
) -> None:
    """The server creates the task, but the reply never reaches the (dead) child."""
    child = child_factory()
    child.expect("SELECTED")
    emu.faults.add("slow", path=CREATE_PATH, method="POST", delay=1.5, times=1)
    emu.faults.add("drop", path=CREATE_PATH, method="POST", times=1)
    child.go()
    # The row is journaled (status "creating") before the request goes out...
    _journaled_creating(tmp_path / "kp")
    # ...and the request reached the server, which is still holding the reply.
    _create_sent(emu, "the create request")
    child.kill()
    _wait_for(lambda: len(emu.tasks()) == 1, "the server to finish the create")
    report: list[str] = []
    p, rec = _recover_and_check(emu, sample_clip, tmp_path / "kp", report)
    assert any("found task" in m for m in report)  # adopted by its external id
    creates = [r for r in emu.requests if r.method == "POST" and r.path == CREATE_PATH]
    assert len(creates) == 1
    assert emu.tasks()[0].external_task_id == rec.external_task_id
    p.close()


def test_killed_during_a_slow_create_recovered_before_the_server_answers(
    emu: Any, child_factory: Callable[[], Child], sample_clip: Path, tmp_path: Path
) -> None:
    """The create sits in the server when the child dies; the next process looks it up
    while it is still held there (no such task yet) and re-sends it with the same
    external id; the held original, released afterwards, then meets "external_task_id
    already used". One task either way."""
    gate = threading.Event()
    held: list[threading.Thread] = []
    decide = emu.fault_for

    def hold_the_first_create(method: str, path: str) -> Any:
        if method == "POST" and path == CREATE_PATH and not held:
            held.append(threading.current_thread())
            gate.wait(300)
        return decide(method, path)

    emu.fault_for = hold_the_first_create
    child = child_factory()
    child.expect("SELECTED")
    child.go()
    _journaled_creating(tmp_path / "kp")
    _wait_for(lambda: bool(held), "the create to reach the server")
    child.kill()
    report: list[str] = []
    p, rec = _recover_and_check(emu, sample_clip, tmp_path / "kp", report)
    # Now let the held original go, and wait until the server has dealt with it.
    gate.set()
    held[0].join(120)
    assert not held[0].is_alive()
    assert [t.external_task_id for t in emu.tasks()] == [rec.external_task_id]
    p.close()


def test_killed_before_the_create_reached_the_server(
    emu: Any, child_factory: Callable[[], Child], sample_clip: Path, tmp_path: Path
) -> None:
    """The create keeps failing with 5000 (never processed); the child dies retrying."""
    child = child_factory()
    child.expect("SELECTED")
    emu.faults.add("error", path=CREATE_PATH, method="POST", code=5000)
    child.go()
    folder = _journaled_creating(tmp_path / "kp")
    _create_sent(emu, "the first create attempt")
    child.kill()
    ext = _journal_rows(folder)[0].external_task_id
    assert emu.tasks() == []
    emu.faults.clear()
    report: list[str] = []
    p, rec = _recover_and_check(emu, sample_clip, tmp_path / "kp", report)
    assert any("never reached Kling" in m for m in report)
    # Re-sent once more with the same external id.
    assert rec.external_task_id == ext == emu.tasks()[0].external_task_id
    p.close()


def test_killed_while_polling(
    clocked_emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    emu = clocked_emu
    child = Child(emu, sample_clip, tmp_path / "kp", ball)
    created = _killed_while_polling(emu, child)
    folder = _folder(tmp_path / "kp")
    row = _journal_rows(folder)[0]
    assert row.status in ("submitted", "processing") and row.task_id == created[2]
    assert row.downloads == []
    box: dict[str, Any] = {}
    recover = threading.Thread(
        target=lambda: box.setdefault(
            "done", _recover_and_check(emu, sample_clip, tmp_path / "kp", [])
        )
    )
    recover.start()
    while recover.is_alive():  # move the emulator's clock until the task has ended
        emu.clock.advance(5.0)
        recover.join(0.2)
    p, rec = box["done"]
    assert rec.task_id == created[2]
    p.close()


def test_killed_while_downloading_resumes_with_range(
    emu: Any, child_factory: Callable[[], Child], sample_clip: Path, tmp_path: Path
) -> None:
    files = "/emulator/files/"
    child = child_factory()
    child.expect("SELECTED")
    # Armed before the create (the emulator itself fetched the uploaded clip from files/ at
    # init, so the next GET of files/ is the result's): its first download gets half the
    # body, then the connection closes; the retry is held in the server until the child
    # is dead. Arming before the create means no race with a fast render.
    n_files = sum(1 for r in emu.requests if r.path.startswith(files))
    emu.faults.add("truncate", path=files, method="GET", times=1)
    gate = threading.Event()
    seen: list[str] = []
    decide = emu.fault_for

    def hold_the_retry(method: str, path: str) -> Any:
        if method == "GET" and path.startswith(files):
            seen.append(path)
            if len(seen) == 2:  # the retry after the truncated first answer: held
                gate.wait(300)
        return decide(method, path)

    emu.fault_for = hold_the_retry
    child.go()
    child.expect("CREATED")
    folder = _folder(tmp_path / "kp")
    parts = lambda: list(folder.glob("results/*.part"))  # noqa: E731
    _wait_for(
        lambda: bool(parts()) and parts()[0].stat().st_size > 0, "a partial download", child=child
    )
    _wait_for(
        lambda: sum(1 for r in emu.requests if r.path.startswith(files)) >= n_files + 2,
        "the retry",
        child=child,
    )
    child.kill()
    gate.set()
    part = parts()[0]
    have = part.stat().st_size
    assert have > 0
    assert _journal_rows(folder)[0].downloads == []  # nothing recorded for a partial file
    n = len(emu.requests)
    p, _rec = _recover_and_check(emu, sample_clip, tmp_path / "kp", [])
    gets = [r for r in emu.requests[n:] if r.path.startswith(files)]
    sent = {k.lower(): v for k, v in gets[0].headers.items()} if gets else {}
    assert sent.get("range") == f"bytes={have}-"  # resumed, not restarted
    p.close()


def test_a_second_writer_process_is_refused_while_the_first_runs(
    emu: Any, child_factory: Callable[[], Child], sample_clip: Path, tmp_path: Path
) -> None:
    child = child_factory()
    child.expect("SELECTED")  # the child holds the journal open, waiting on stdin
    held = f"open in another process \\(pid {child.proc.pid}"
    with pytest.raises(JournalLockedError, match=held) as info:
        Project(sample_clip, KlingClient(**emu.client_options()), root=tmp_path / "kp")
    assert info.value.pid == child.proc.pid
    # Reading is always allowed: the journal, and a read-only project with what it restored.
    rows = Journal(_folder(tmp_path / "kp"), read_only=True)
    assert rows.current_points()
    rows.close()
    sent = len(emu.requests)
    view = Project(sample_clip, KlingClient(**emu.client_options()), root=tmp_path / "kp",
                   read_only=True)  # fmt: skip
    assert view.read_only and view.points and str(view.restored).startswith("Restored 1 point")
    with pytest.raises(JournalReadOnlyError, match="read-only: cannot select"):
        view.select(3, [(0.5, 0.5)])
    assert len(emu.requests) == sent  # nothing was sent
    view.close()
    child.kill()
    Project(
        sample_clip, KlingClient(**emu.client_options()), root=tmp_path / "kp"
    ).close()  # free after the kill


def test_a_new_process_waits_for_the_task_a_killed_one_left_rendering(
    clocked_emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    """SIGKILL while the task renders; the next process's Project says what it restored,
    and ``wait()`` with no argument waits for that task and gives the result's path."""
    emu = clocked_emu
    child = Child(emu, sample_clip, tmp_path / "kp", ball)
    created = _killed_while_polling(emu, child)
    messages: list[str] = []
    p = Project(sample_clip, KlingClient(**emu.client_options()), root=tmp_path / "kp",
                on_status=messages.append)  # fmt: skip
    assert str(p.restored) == "Restored 1 point on 1 frame and 1 running task from the journal"
    assert str(p.restored) in messages  # on the status line too
    assert p.running is not None and p.running.task_id == created[2]
    box: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: box.setdefault("path", p.wait_result(timeout=600)))
    waiter.start()
    while waiter.is_alive():  # move the emulator's clock until the task has ended
        emu.clock.advance(5.0)
        waiter.join(0.2)
    path = box["path"]
    rec = p.history()[-1]
    assert rec.task_id == created[2] and rec.succeeded and rec.result_path == path
    digest, size = served_sha256(rec.result_urls[0])
    assert path.stat().st_size == size and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert len(emu.tasks()) == 1
    assert p.wait().succeeded  # again: the same task, already on disk
    p.close()
