"""Selections run ahead of the task slots, and the progress displays (text and widget)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from kling_widget.api.client import KlingClient
from kling_widget.batch import BatchProgress, Job, edit_many
from kling_widget.batch.progress import TextProgress, WidgetProgress

ADD = "/v1/videos/multi-elements/add-selection"
CREATE = "/v1/videos/multi-elements"


def test_selections_of_waiting_jobs_are_not_held_behind_the_slot(
    clip2s: Path, tmp_path: Path
) -> None:
    from kling_widget.emulator import Emulator, ManualClock

    clock = ManualClock()
    jobs = [
        Job.removal(clip2s, [(0, 0.5, 0.5)], name="first"),
        Job.removal(clip2s, [(0, 0.3, 0.3), (4, 0.5, 0.5)], name="second"),
    ]
    with Emulator(clock=clock, task_delays=(1.0, 1.0), concurrency_limit=1) as emu:
        box: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: box.setdefault(
                "result",
                edit_many(
                    jobs,
                    concurrency=1,
                    client=KlingClient(**emu.client_options()),
                    out_dir=tmp_path / "out",
                    uploader=emu.upload,
                    progress=False,
                ),
            )
        )
        runner.start()
        try:
            # The business clock stands still: the first task cannot end. Both jobs'
            # selections must still be sent (3 add-selection calls) while it runs.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                adds = [r for r in emu.requests if r.path == ADD]
                creates = [r for r in emu.requests if r.method == "POST" and r.path == CREATE]
                if len(adds) == 3 and creates:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # room for a wrong second create to show up (it must not)
            creates = [r for r in emu.requests if r.method == "POST" and r.path == CREATE]
            assert len(adds) == 3 and len(creates) == 1
            assert not emu.tasks()[0].is_final
            # Let the tasks end.
            while runner.is_alive() and time.monotonic() < deadline:
                clock.advance(1.0)
                runner.join(0.2)
        finally:
            while runner.is_alive():
                clock.advance(5.0)
                runner.join(0.5)
        result = box["result"]
        assert result.ok, result.to_markdown()
        tasks = emu.tasks()
        assert len(tasks) == 2
        # One slot: the second task was created after the first one ended.
        assert tasks[1].created >= tasks[0].updated


def snapshot(done: int, failed: int = 0, total: int = 4) -> BatchProgress:
    return BatchProgress(total=total, done=done, failed=failed, in_flight=1, limit=2)


def test_text_progress_on_a_log_prints_lines() -> None:
    stream = io.StringIO()
    bar = TextProgress(stream, tty=False)
    for n in range(5):
        bar(snapshot(n))
    bar.close("4 job(s): 4 done")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("batch [") and "0/4 done" in lines[0]
    assert "100%" in lines[-2] and "4/4 done, 1 in flight (limit 2)" in lines[-2]
    assert lines[-1].endswith("4 job(s): 4 done")
    assert "\r" not in stream.getvalue()


def test_widget_progress_follows_the_batch() -> None:
    bar = WidgetProgress(total=4)
    assert bar.bar.max == 4 and bar.bar.value == 0
    bar(snapshot(2))
    assert bar.bar.value == 2 and bar.label.value == "2/4 done, 1 in flight (limit 2)"
    bar(snapshot(3, failed=1))
    assert bar.bar.value == 4 and bar.bar.bar_style == "warning"
    assert "1 not done" in bar.label.value
