"""Batch throughput: 200 jobs under an account limit of 5, against the ideal.

Run: ``python benchmarks/bench_batch.py [--jobs 200] [--limit 5] [--task-time 1.0]
[--runs given,faults,learned]`` (a few minutes). The emulator runs in a child process (so
this process's CPU is the batch's own) with ``concurrency_limit=LIMIT`` and task delays
making every task take ``TASK_TIME`` seconds from create to ``succeed``. Jobs are Omni
prompt edits of one small clip (720x720, 3 s, 24 fps) with one prompt: the emulator renders
that edit once and copies it after (renders are memoized), so the task time is the delays,
not the emulator's encoder.

For each run it prints: wall time against the ideal ``ceil(JOBS/LIMIT) x TASK_TIME`` (the
ratio is the figure; target <= 1.15), tasks in flight (peak and time-weighted mean, from
the batch's own progress), CPU seconds of this process and CPU/wall, 1303 answers, retries,
requests made and faults fired, and checks: one task per job on the emulator (external ids
unique, count == JOBS) and every result on disk, complete (size and SHA-256 equal to the
file the emulator serves). Runs:

- ``given``: ``concurrency=LIMIT``, no faults;
- ``faults``: ``concurrency=LIMIT``, 10 % of Kling requests fail (5xx, 1302, dropped reply,
  a third each, seeded);
- ``learned``: ``concurrency=None`` (learned from 1303), same faults.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "Make <<<video_1>>> warm"
API_KEY = "bench-batch-key"
FAULT_RATE = 0.10


def make_clip(path: Path, seconds: float = 3.0, side: int = 720, fps: int = 24) -> Path:
    """A red disc drifting over grey: inside the Omni limits, as small as they allow."""
    import av
    import numpy as np

    yy, xx = np.mgrid[0:side, 0:side]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for i in range(round(seconds * fps)):
            img = np.full((side, side, 3), 96, np.uint8)
            img[(xx - side / 2 - 2 * i) ** 2 + (yy - side / 2) ** 2 <= (0.12 * side) ** 2] = (
                220,
                30,
                30,
            )
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --- the emulator, in a child process ------------------------------------------------------
def serve(limit: int, task_time: float, faults: bool, clip: str) -> None:
    """Child: warm the render memo, start the emulator, print its URL, answer 'stats'
    and stop at 'quit'."""
    from kling_widget.emulator import Emulator, FaultPlan
    from kling_widget.emulator.omni import render_edit

    with tempfile.TemporaryDirectory() as tmp:
        render_edit(Path(clip), PROMPT, Path(tmp) / "warm.mp4")
    plan = FaultPlan(seed=2024)
    if faults:
        # A third each of 5xx, 1302 and dropped replies, FAULT_RATE of Kling requests in all:
        # a rule only sees the requests the rules before it let through.
        third = FAULT_RATE / 3
        plan.add("error", rate=third, status=500, code=5000)
        plan.add("error", rate=third / (1 - third), code=1302)
        plan.add("drop", rate=third / (1 - 2 * third))
    delays = (0.3 * task_time, 0.7 * task_time)
    with Emulator(api_key=API_KEY, task_delays=delays, concurrency_limit=limit, faults=plan) as emu:
        print(emu.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                tasks = [
                    {
                        "ext": t.external_task_id,
                        "status": t.status,
                        "url": t.videos[0]["url"] if t.videos else None,
                        "created": t.created,
                        "updated": t.updated,
                    }
                    for t in emu.tasks()
                ]
                kling = [r for r in emu.requests if r.path.startswith("/v1/")]
                print(
                    json.dumps(
                        {
                            "tasks": tasks,
                            "requests": len(kling),
                            "fired": sum(r.fired for r in plan.rules),
                        }
                    ),
                    flush=True,
                )
            elif line.strip() == "quit":
                return


class Child:
    def __init__(self, limit: int, task_time: float, faults: bool, clip: Path) -> None:
        args = [sys.executable, __file__, "--serve", str(limit), str(task_time), str(int(faults))]
        self.proc = subprocess.Popen(
            [*args, str(clip)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])),
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        data: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return data

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


# --- one run -------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(
    name: str, jobs_n: int, limit: int, task_time: float, faults: bool, learned: bool, clip: Path
) -> dict[str, Any]:
    import httpx

    from kling_widget.api.client import KlingClient
    from kling_widget.batch import BatchProgress, Job, edit_many
    from kling_widget.workflow.connect import uploader_for

    child = Child(limit, task_time, faults, clip)
    client = KlingClient(api_key=API_KEY, base_url=child.base_url)
    out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{name}-"))
    jobs = [Job.omni(clip, PROMPT, name=f"job{i:03d}") for i in range(jobs_n)]
    samples: list[tuple[float, int]] = []

    def progress(p: BatchProgress) -> None:
        samples.append((time.monotonic(), p.in_flight))

    cpu0, t0, wall0 = time.process_time(), time.monotonic(), time.time()
    result = edit_many(
        jobs,
        concurrency=None if learned else limit,
        on_progress=progress,
        client=client,
        out_dir=out,
        uploader=uploader_for(client),
        progress=False,
    )
    wall, cpu, wall1 = time.monotonic() - t0, time.process_time() - cpu0, time.time()
    for row in result:
        if not row.ok:
            print(f"  not done: {row.name}: {row.status}: {row.error}", flush=True)
    stats = child.stats()

    tasks = stats["tasks"]
    exts = [t["ext"] for t in tasks]
    served = {t["url"] for t in tasks if t["url"]}
    served_hashes = {hashlib.sha256(httpx.get(u).content).hexdigest() for u in served}
    child.close()
    files = sorted(out.glob("*.mp4"))
    complete = [f for f in files if sha256(f) in served_hashes]
    weighted = 0.0
    for (ta, n), (tb, _) in itertools.pairwise(samples):
        weighted += n * (tb - ta)
    span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 1.0
    # Server side: how long each task took on the emulator (create -> final), and how
    # many of the account's slots were busy on average between the first create and the
    # last task's end.
    lifetimes = [t["updated"] - t["created"] for t in tasks if t["status"] == "succeed"]
    server_span = max(t["updated"] for t in tasks) - min(t["created"] for t in tasks)
    ideal = math.ceil(jobs_n / limit) * task_time
    assert result.limiter is not None
    return {
        "run": name,
        "wall_s": round(wall, 2),
        "ideal_s": ideal,
        "ratio": round(wall / ideal, 3),
        "done": result.counts.get("done", 0),
        "peak_in_flight": result.limiter.peak_in_flight,
        "mean_in_flight": round(weighted / span, 2),
        "final_limit": result.limiter.limit,
        "refusals_1303": result.limiter.refusals,
        "retries": result.retries,
        "server_task_s_mean": round(sum(lifetimes) / max(1, len(lifetimes)), 3),
        "server_task_s_max": round(max(lifetimes, default=0.0), 3),
        "server_span_s": round(server_span, 2),
        "server_slots_busy_mean": round(sum(lifetimes) / max(1e-9, server_span), 2),
        # Batch start -> first task on the emulator; last task's end -> batch returned.
        "startup_s": round(min(t["created"] for t in tasks) - wall0, 2),
        "tail_s": round(wall1 - max(t["updated"] for t in tasks), 2),
        "cpu_s": round(cpu, 2),
        "cpu_per_wall": round(cpu / wall, 3),
        "kling_requests": stats["requests"],
        "faults_fired": stats["fired"],
        "fault_share": round(stats["fired"] / max(1, stats["requests"]), 3),
        "tasks_on_emulator": len(tasks),
        "duplicate_tasks": len(exts) - len(set(exts)),
        "files_on_disk": len(files),
        "files_complete": len(complete),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        limit, task_time, faults, clip = sys.argv[2:6]
        serve(int(limit), float(task_time), faults == "1", clip)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--task-time", type=float, default=1.0)
    parser.add_argument("--runs", default="given,faults,learned")
    args = parser.parse_args()
    clip = make_clip(Path(tempfile.mkdtemp(prefix="bench-batch-clip-")) / "disc3s.mp4")
    plans = {
        "given": (False, False),
        "faults": (True, False),
        "learned": (True, True),
    }
    print(
        f"{args.jobs} jobs, account limit {args.limit}, task time {args.task_time} s, "
        f"ideal {math.ceil(args.jobs / args.limit) * args.task_time:.1f} s; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for name in args.runs.split(","):
        faults, learned = plans[name]
        figures = run(name, args.jobs, args.limit, args.task_time, faults, learned, clip)
        print(json.dumps(figures), flush=True)
        ok = (
            figures["duplicate_tasks"] == 0
            and figures["tasks_on_emulator"] == args.jobs
            and figures["files_complete"] == args.jobs
        )
        verdict = "meets" if figures["ratio"] <= 1.15 else "misses"
        print(
            f"  {name}: {figures['wall_s']} s vs ideal {figures['ideal_s']} s = "
            f"{figures['ratio']}x ({verdict} the 1.15x target); "
            f"{'no duplicates, nothing lost' if ok else 'CHECK FAILED'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
