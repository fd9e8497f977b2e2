"""Playback frame rate reached in the browser: a 1080p clip played in the editor's canvas.

Run: ``python benchmarks/bench_playback_browser.py [--width 1920 --height 1080 --fps 30
--frames 150] [--no-masks]`` (a few minutes: JupyterLab, Chromium, the emulator). The clip
writes its frame index into its pixels; the page reads the index shown on the frame
layer on every animation frame, so the figure is what a person sees, not what the kernel
sent. The object is clicked and previewed first, so every frame is drawn with its tracked
mask. Space (with the pointer on the frame) starts playback from frame 0.

Prints: distinct frames shown, the span of clip time they cover, the wall time taken,
the frame rate reached (shown frames / wall time) against the clip's own rate (the
reference), the playback speed (clip time / wall time: 1.0 = real time), frames skipped,
the kernel player's own count, and the longest draw in the kernel.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

import experience_lab as lab
from jupyter_pages import open_browser, poll

from kling_widget.emulator import Emulator

KERNEL_SETUP = """
import json, threading, time
from kling_widget.editor.editor import Editor
ed = Editor("clip.mp4", root="kp")
ed
"""

KERNEL_READY = """
ed.screen.frames.wait_ready(600)
if {masks}:
    ed.select(0, [{point}])
    ed.preview()
    ed.seek(0)

def _write_stats():
    p = ed.workbench.player
    while not p.playing:
        time.sleep(0.02)
    while p.playing:
        time.sleep(0.02)
    s = p.stats
    with open("stats.json", "w") as fh:
        json.dump({{"shown": s.shown, "dropped": s.dropped, "elapsed": s.elapsed,
                   "fps": s.fps, "frame_time_max": s.frame_time_max}}, fh)

threading.Thread(target=_write_stats, daemon=True).start()
print("READY", len(ed.state.tracked_frames()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--no-masks", action="store_true")
    # The second play-through shows whether frames are re-sent (the first sends each once).
    parser.add_argument("--plays", type=int, default=2)
    args = parser.parse_args()
    print(f"loadavg before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "nb"
        root.mkdir()
        lab.write_clip(root / "clip.mp4", args.width, args.height, args.fps, args.frames)
        point = lab.ball_centre(0, args.frames)
        lab.write_notebook(
            root / "play.ipynb",
            [
                KERNEL_SETUP,
                KERNEL_READY.format(masks=not args.no_masks, point=point),
            ],
        )
        with Emulator(api_key=lab.API_KEY) as emu:
            env = {"KLING_BASE_URL": emu.base_url, "KLING_API_KEY": lab.API_KEY}
            with lab.lab_server(root, work, env) as base:
                measure(base, root, args)
    print(f"loadavg after: {os.getloadavg()}")


def measure(base: str, root: Path, args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            lab.open_and_run(page, base, "play.ipynb")
            canvas = lab.frame_layer(page)
            poll(lambda: "READY " in lab.outputs_text(page), 900, "the kernel")
            ready = [ln for ln in lab.outputs_text(page).splitlines() if "READY" in ln]
            print(
                f"clip: {args.width}x{args.height}, {args.fps} fps, {args.frames} frames; {ready}"
            )
            canvas.scroll_into_view_if_needed()
            poll(lambda: canvas.evaluate(lab.READ_CODE_JS) == 0, 60, "frame 0 on screen")
            last = args.frames - 1
            for play in range(1, args.plays + 1):
                canvas.evaluate(lab.WATCH_FRAMES_JS)
                lab.hover(page, ".kling-frame-canvas")
                started = time.monotonic()
                page.keyboard.press(" ")
                poll(
                    lambda: page.evaluate(
                        f"() => window.__klingFrames.slice(1).some(f => f[1] === {last})"
                    ),
                    120,
                    "the last frame on screen",
                )
                page.wait_for_timeout(300)
                page.evaluate("() => { window.__klingWatch = false; }")
                seen = page.evaluate("() => window.__klingFrames")
                wall = time.monotonic() - started
                print(f"play {play}: wall time to the last frame (Python side): {wall:.2f} s")
                report(seen, args)
                print(f"load average: {os.getloadavg()}")
            stats_path = root / "stats.json"
            poll(stats_path.exists, 60, "the kernel player's stats")
            stats = json.loads(stats_path.read_text())
            print(
                f"kernel player: {stats['shown']} drawn, {stats['dropped']} skipped, "
                f"{stats['fps']:.1f} fps, longest draw {stats['frame_time_max'] * 1000:.0f} ms"
            )
        finally:
            browser.close()


def report(seen: list[list[float]], args: argparse.Namespace) -> None:
    # The first entry is the frame standing still before Space; playback starts after it.
    frames = [(t / 1000.0, int(i)) for t, i in seen]
    playing = frames[1:] if len(frames) > 1 else frames
    if len(playing) < 2:
        print("not enough frames seen to measure")
        return
    t0, i0 = playing[0]
    t1, i1 = playing[-1]
    wall = t1 - t0
    shown = len(playing)
    clip_time = (i1 - i0) / args.fps
    monotonic = all(b[1] > a[1] for a, b in itertools.pairwise(playing))
    print(
        f"browser: {shown} distinct frames shown (frames {i0}..{i1}, in order: {monotonic}), "
        f"{wall:.2f} s wall for {clip_time:.2f} s of clip"
    )
    rate = (shown - 1) / wall if wall > 0 else 0.0
    print(
        f"frame rate reached: {rate:.1f} fps against the clip's {args.fps} fps "
        f"({rate / args.fps:.2f}x); playback speed {clip_time / wall:.2f}x real time; "
        f"{(i1 - i0 + 1) - shown} frames skipped"
    )


if __name__ == "__main__":
    main()
