"""Selections run ahead of the task slots, and the progress bar (tqdm: terminal and widget)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from kling_widget.api.client import KlingClient
from kling_widget.batch import BatchProgress, Job, edit_many
from kling_widget.batch.progress import BatchBar, reporter

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


def test_text_bar_shows_finished_jobs_and_the_batch_state() -> None:
    stream = io.StringIO()
    bar = BatchBar(4, "text", stream)
    for n in range(5):
        bar(snapshot(n))
    bar.close("4 job(s): 4 done")
    text = stream.getvalue()
    assert "batch" in text and "4/4" in text and "100%" in text
    assert "4/4 done, 1 in flight (limit 2)" in text
    assert text.rstrip().endswith("4 job(s): 4 done]")


def test_widget_bar_follows_the_batch() -> None:
    bar = BatchBar(4, "widget")
    _label, progress, status = bar.bar.container.children
    bar(snapshot(2))
    assert progress.value == 2 and progress.max == 4
    assert "2/4 done, 1 in flight (limit 2)" in status.value.replace("\u2007", " ")
    bar(snapshot(3, failed=1))
    assert progress.value == 4
    bar.close()


def test_no_bar_on_a_pipe_and_bad_choices_are_named() -> None:
    import pytest

    from kling_widget.errors import KlingValidationError

    assert reporter(False, 3) == (None, None)
    assert reporter("auto", 3) == (None, None)  # pytest's stderr is not a terminal
    with pytest.raises(KlingValidationError, match="progress='loud'"):
        reporter("loud", 3)
