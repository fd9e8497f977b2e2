"""``edit_many`` end to end against the emulator: results on disk, one task per job, the
concurrency limit kept (given or learned from 1303), faults survived, a SIGKILLed batch
resumed with nothing repeated and nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import av
import pytest
from batch_helpers import run_batch

from kling_widget.api.client import KlingClient
from kling_widget.batch import BatchProgress, Job, JobError, edit_many, edit_many_async
from kling_widget.batch.result import DONE, FAILED

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_batch_child.py")
PROMPT = "Make <<<video_1>>> warm"


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def served_sizes(emu: Any) -> dict[str, int]:
    """external_task_id -> size of the result file the emulator serves for it."""
    import httpx

    out = {}
    for t in emu.tasks():
        if t.status == "succeed":
            out[t.external_task_id] = len(httpx.get(t.videos[0]["url"]).content)
    return out


def assert_one_task_per_job_and_every_result(emu: Any, out_dir: Path, names: list[str]) -> None:
    tasks = emu.tasks()
    externals = [t.external_task_id for t in tasks]
    assert len(tasks) == len(names), Counter(t.status for t in tasks)
    assert len(set(externals)) == len(externals) and None not in externals
    assert all(t.status == "succeed" for t in tasks)
    files = sorted(p.name for p in out_dir.glob("*.mp4"))
    assert files == sorted(f"{n}.mp4" for n in names)
    # Every file is complete: the same size as one served result, and decodable.
    sizes = set(served_sizes(emu).values())
    for name in names:
        assert (out_dir / f"{name}.mp4").stat().st_size in sizes


def omni_jobs(clip: Path, n: int, prefix: str = "job") -> list[Job]:
    return [Job.omni(clip, PROMPT, name=f"{prefix}{i:02d}") for i in range(n)]


def test_mixed_batch_end_to_end(clip2s: Path, clip3s: Path, emu: Any, tmp_path: Path) -> None:
    jobs = [
        Job.removal(clip2s, [(0, 0.5, 0.5)], name="remove-disc"),
        *omni_jobs(clip3s, 3, "omni"),
        Job.omni(clip3s, "Make <<<video_1>>> fail please", name="doomed"),
    ]
    events: list[BatchProgress] = []
    out = tmp_path / "out"
    result = run_batch(
        emu,
        jobs,
        out,
        concurrency=2,
        on_progress=events.append,
    )
    by_name = {r.name: r for r in result}
    assert [r.name for r in result] == [j.name for j in jobs]
    assert by_name["doomed"].status == FAILED and "fail" in (by_name["doomed"].error or "")
    ok = [n for n in by_name if n != "doomed"]
    assert all(by_name[n].status == DONE for n in ok)
    for n in ok:
        path = by_name[n].result
        assert path == out / f"{n}.mp4" and frame_count(path) > 0
    assert frame_count(out / "omni00.mp4") == 72  # Omni output: 24 fps, as long as the clip
    assert not (out / "doomed.mp4").exists()

    # One task per job, each found again in its own journal by external_task_id.
    tasks = emu.tasks()
    assert len(tasks) == 5 and len({t.external_task_id for t in tasks}) == 5
    assert {t.task_id for t in tasks} == {r.task_id for r in result}
    assert {t.kind for t in tasks} == {"multi-elements", "omni-video"}
    # The removal's selection went to add-selection once, with the job's point.
    adds = [r for r in emu.requests if r.path.endswith("/add-selection")]
    assert [(a.json["frame_index"], a.json["points"]) for a in adds] == [
        (0, [{"x": 0.5, "y": 0.5}])
    ]
    # Each distinct clip uploaded once.
    assert len([r for r in emu.requests if r.path.startswith("/emulator/uploads")]) == 2
    # Never more than two of our tasks in flight.
    assert result.limiter is not None and result.limiter.peak_in_flight <= 2
    assert max(e.in_flight for e in events) <= 2
    finished = [e.finished for e in events]
    assert finished == sorted(finished) and events[-1].finished == 5
    # The table names every job with its outcome.
    table = result.to_markdown()
    for r in result:
        assert f"| {r.name} | {r.job.edit} | {r.status} |" in table
    assert "<table>" in result._repr_html_() and "doomed" in result._repr_html_()
    assert "4 done, 1 failed" in result.summary()


def test_limit_is_learned_from_1303(clip3s: Path, tmp_path: Path) -> None:
    from kling_widget.emulator import Emulator

    with Emulator(task_delays=(0.2, 0.6), concurrency_limit=2) as emu:
        names = [f"learn{i:02d}" for i in range(6)]
        result = run_batch(
            emu,
            omni_jobs(clip3s, 6, "learn"),
            tmp_path / "out",
        )
        assert result.ok, result.to_markdown()
        stats = result.limiter
        assert stats is not None and stats.given is None
        # The limit was learned (the optimistic start met 1303); what it settles on in one
        # run depends on the order of events, and its guarantees are checked on simulated
        # accounts in every order (test_limiter.py), not on one race's outcome here.
        assert stats.refusals >= 1 and stats.limit >= 1
        assert_one_task_per_job_and_every_result(emu, tmp_path / "out", names)
        refused = [
            r for r in emu.requests if r.path == "/v1/videos/omni-video" and r.method == "POST"
        ]
        # Creates sent = tasks + the 1303 answers, nothing else.
        assert len(refused) == 6 + stats.refusals


def test_small_benchmark_with_faults_no_duplicates_no_losses(clip3s: Path, tmp_path: Path) -> None:
    """20 jobs, limit 3, 10 % of Kling requests failing (5xx, 1302, dropped replies)."""
    from kling_widget.emulator import Emulator, FaultPlan

    faults = FaultPlan(seed=7)
    faults.add("error", rate=0.1 / 3, status=500, code=5000)
    faults.add("error", rate=0.1 / 3, code=1302)
    faults.add("drop", rate=0.1 / 3)
    with Emulator(task_delays=(0.1, 0.3), concurrency_limit=3, faults=faults) as emu:
        names = [f"bench{i:02d}" for i in range(20)]
        result = run_batch(
            emu,
            omni_jobs(clip3s, 20, "bench"),
            tmp_path / "out",
            concurrency=3,
        )
        assert result.ok, result.to_markdown()
        assert_one_task_per_job_and_every_result(emu, tmp_path / "out", names)
        fired = sum(rule.fired for rule in faults.rules)
        assert fired > 0 and result.retries > 0


def test_resume_after_sigkill_repeats_nothing_and_loses_nothing(
    clip3s: Path, tmp_path: Path
) -> None:
    from kling_widget.emulator import Emulator

    names = [f"kill{i:02d}" for i in range(6)]
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        "".join(
            json.dumps({"clip": str(clip3s), "edit": "omni", "prompt": PROMPT, "name": n}) + "\n"
            for n in names
        )
    )
    out = tmp_path / "out"
    with Emulator(api_key="batch-test-key", task_delays=(0.3, 1.2), concurrency_limit=2) as emu:
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO),
            KLING_BASE_URL=emu.base_url,
            KLING_API_KEY="batch-test-key",
        )
        env.pop("KLING_ACCESS_KEY", None)
        env.pop("KLING_SECRET_KEY", None)
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(jobs_file), str(out), "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        try:
            # Kill once two jobs are done and two more were created on Kling.
            running = done = 0
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                line = child.stdout.readline()
                assert line, child.stderr.read() if child.stderr else "child ended"
                running += line.rstrip().endswith(": running")
                if line.startswith("PROGRESS done="):
                    done = int(line.split()[1].split("=")[1])
                if done >= 2 and running >= 4:
                    break
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=60)
        before = emu.tasks()
        # Created but not downloaded by the child: the resume must pick these up.
        assert 4 <= len(before) <= 6
        assert len(list(out.glob("*.mp4"))) == done

        result = run_batch(
            emu,
            [Job.omni(clip3s, PROMPT, name=n) for n in names],
            out,
            concurrency=2,
        )
        assert result.ok, result.to_markdown()
        assert_one_task_per_job_and_every_result(emu, out, names)
        notes = Counter(r.note for r in result)
        assert notes["already done"] == done
        # Tasks created before the kill are picked up, not created again.
        assert {t.task_id for t in before} <= {r.task_id for r in result}
        assert notes["resumed"] >= 1


def test_sync_wrapper_works_under_a_running_event_loop(
    clip3s: Path, emu: Any, tmp_path: Path
) -> None:
    # Jupyter runs cells inside an event loop: the sync call must still work there.
    async def notebook_cell() -> Any:
        return run_batch(
            emu,
            omni_jobs(clip3s, 1, "cell"),
            tmp_path / "out",
        )

    result = asyncio.run(notebook_cell())
    assert result.ok and (tmp_path / "out" / "cell00.mp4").is_file()


def test_async_core_and_a_rerun_does_nothing(clip3s: Path, emu: Any, tmp_path: Path) -> None:
    jobs = omni_jobs(clip3s, 2, "async")
    kw: dict[str, Any] = {
        "client": KlingClient(**emu.client_options()),
        "out_dir": tmp_path / "out",
        "uploader": emu.upload,
    }
    first = asyncio.run(edit_many_async(jobs, 2, **kw))
    assert first.ok
    sent = len(emu.requests)
    again = asyncio.run(edit_many_async(jobs, 2, **kw))
    assert again.ok and [r.note for r in again] == ["already done", "already done"]
    # Nothing but the uploads check: no Kling request at all the second time.
    assert not [r for r in emu.requests[sent:] if r.path.startswith("/v1/")]
    assert len(emu.tasks()) == 2


def test_a_name_reused_for_another_job_is_refused_before_sending(
    clip3s: Path, emu: Any, tmp_path: Path
) -> None:
    kw: dict[str, Any] = {
        "client": KlingClient(**emu.client_options()),
        "out_dir": tmp_path / "out",
        "uploader": emu.upload,
        "progress": False,
    }
    assert edit_many([Job.omni(clip3s, PROMPT, name="same")], **kw).ok
    sent = len(emu.requests)
    with pytest.raises(JobError) as info:
        edit_many([Job.omni(clip3s, "Make <<<video_1>>> cold", name="same")], **kw)
    assert info.value.field == "name" and "different job" in info.value.rule
    assert len(emu.requests) == sent


def test_bad_jobs_are_refused_before_anything_is_sent(
    clip2s: Path, emu: Any, tmp_path: Path
) -> None:
    kw: dict[str, Any] = {
        "client": KlingClient(**emu.client_options()),
        "out_dir": tmp_path / "out",
        "uploader": emu.upload,
        "progress": False,
    }
    good = Job.removal(clip2s, [(0, 0.5, 0.5)], name="good")
    cases = [
        ([good, Job.omni(clip2s, PROMPT, name="short")], "job 2", "clip duration"),
        ([good, Job(clip2s, "swap", ((0, 0.5, 0.5),), name="noimg")], "job 2", "images"),
        ([good, Job.removal(clip2s, [(0, 1.5, 0.5)])], "job 2", "points[0].x"),
        ([good, Job.removal(clip2s, [(0, 0.2, 0.5)], name="good")], "job 2", "name"),
    ]
    for jobs, where, field in cases:
        with pytest.raises(JobError) as info:
            edit_many(jobs, **kw)
        assert info.value.where == where and info.value.field == field
    assert emu.requests == []


@pytest.mark.parametrize(
    ("rules", "posts"),
    [
        # The reply to the create is lost, but the task exists: found by external id.
        ([("drop", {})], 1),
        # A 5xx: no task; the lookup finds nothing and the create is sent again.
        ([("error", {"status": 500})], 2),
        # A 5xx, then the re-sent create meets 1302: no task; created anew after a backoff.
        ([("error", {"status": 500}), ("error", {"code": 1302})], 3),
        # The account is full for someone else's task: 1303, wait, create.
        ([("error", {"code": 1303})], 2),
    ],
)
def test_each_create_failure_ends_with_exactly_one_task(
    clip3s: Path, tmp_path: Path, rules: list[tuple[str, dict[str, Any]]], posts: int
) -> None:
    from kling_widget.emulator import Emulator, FaultPlan

    plan = FaultPlan(seed=3)
    for kind, kw in rules:
        plan.add(kind, path="/v1/videos/omni-video", method="POST", times=1, **kw)
    with Emulator(task_delays=(0.1, 0.2), concurrency_limit=2, faults=plan) as emu:
        result = run_batch(
            emu,
            omni_jobs(clip3s, 1, "once"),
            tmp_path / "out",
            concurrency=2,
        )
        assert result.ok, result.to_markdown()
        assert_one_task_per_job_and_every_result(emu, tmp_path / "out", ["once00"])
        sent = [r for r in emu.requests if r.method == "POST" and r.path == "/v1/videos/omni-video"]
        assert len(sent) == posts
        # Every create carried the same external_task_id unless Kling refused it outright.
        assert emu.tasks()[0].external_task_id == sent[-1].json["external_task_id"]


def test_a_job_given_up_while_others_run_frees_exactly_its_slot(
    clip3s: Path, tmp_path: Path
) -> None:
    from kling_widget.emulator import Emulator, FaultPlan

    # The first create gets a 5xx (maybe created: looked up, not found, sent again); the
    # other slot's create goes through; the re-send of the first is refused as invalid:
    # that job ends in error while the other task runs.
    plan = FaultPlan(seed=5)
    plan.add("error", path="/v1/videos/omni-video", method="POST", times=1, status=500)
    plan.add("error", path="/v1/videos/omni-video", method="POST", times=1, after=1, code=1201)
    with Emulator(task_delays=(0.5, 1.5), concurrency_limit=2, faults=plan) as emu:
        result = run_batch(
            emu,
            omni_jobs(clip3s, 4, "slot"),
            tmp_path / "out",
            concurrency=2,
        )
        errors = [r for r in result if r.status != DONE]
        assert len(errors) == 1 and "create rejected" in (errors[0].error or "")
        assert result.counts == {"done": 3, "error": 1}
        # Never a third task in flight: the emulator would have answered 1303.
        assert result.limiter is not None and result.limiter.refusals == 0
        assert len(emu.tasks()) == 3
