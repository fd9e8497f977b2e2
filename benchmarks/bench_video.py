"""Frame access and frame-cache memory, measured against references in the same run.

Run: ``python benchmarks/bench_video.py`` (``--seconds 2`` for a quicker 4K part).

1. Random frame access after the ``FrameCache`` is built (the sample "static"
   clip, 1280x720 30 fps, shown at 960 px): median time of ``get_jpeg`` (what
   the editor draws) and ``get_array`` (JPEG decoded to RGB), against a plain
   imageio ``read(index=i)`` seek on the same clip. Target: median <= 5 ms.
2. Cache memory for a synthetic 3840x2160 60 fps clip (10 s by default) at
   960 px display width: total MB and bytes per cached frame. Target: <= 150 MB.

Figures depend on the machine and its load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np

from kling_widget.media.frames import FrameCache
from kling_widget.media.samples import make_sample
from kling_widget.media.video import VideoSource

TARGET_ACCESS_MS = 5.0
TARGET_CACHE_MB = 150.0


def median_ms(fn: Callable[[int], object], indices: list[int]) -> tuple[float, float]:
    """Median wall-clock and CPU (this process) milliseconds per call.

    The CPU figure is reported too because the machines this runs on are often
    shared: wall time then measures the neighbours as much as the code.
    """
    wall, cpu = [], []
    for i in indices:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(i)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def random_access(samples_dir: Path, reads: int, seed: int) -> list[tuple[str, str, str, str]]:
    sample = make_sample("static", samples_dir)
    source = VideoSource(sample.path)
    t0 = time.perf_counter()
    cache = FrameCache(source, display_width=960)
    cache.wait_ready(600)
    build_s = time.perf_counter() - t0
    rng = random.Random(seed)
    indices = [rng.randrange(source.frame_count) for _ in range(reads)]

    # Reference: imageio's PyAV plugin, one open reader, seeking to each index.
    with iio.imopen(sample.path, "r", plugin="pyav") as reader:
        ref = median_ms(lambda i: reader.read(index=i), indices[: max(10, reads // 5)])
    jpeg = median_ms(cache.get_jpeg, indices)
    array = median_ms(cache.get_array, indices)
    cache.close()
    n = source.frame_count
    print(
        f"cache built in {build_s:.2f} s for {n} frames "
        f"({build_s / n * 1000:.1f} ms/frame, in the background)"
    )
    rows = []
    for label, k in (("wall", 0), ("cpu", 1)):
        ok = "yes" if array[k] <= TARGET_ACCESS_MS else "NO"
        rows += [
            (f"imageio read(index=i) seek, {label} (reference)", f"{ref[k]:.2f} ms", "1.00", ""),
            (
                f"FrameCache.get_jpeg(i), {label}",
                f"{jpeg[k]:.3f} ms",
                f"{jpeg[k] / ref[k]:.4f}",
                "",
            ),
            (
                f"FrameCache.get_array(i), {label}",
                f"{array[k]:.2f} ms",
                f"{array[k] / ref[k]:.3f}",
                ok,
            ),
        ]
    return rows


def write_4k_clip(path: Path, seconds: float, fps: int = 60) -> None:
    """A textured 3840x2160 clip with a moving disc: camera-like content, not flat colour."""
    w, h = 3840, 2160
    rng = np.random.default_rng(7)
    # Smooth texture (bilinear-upsampled noise) wider than the frame, panned across.
    grid = rng.random((28, 60)).astype(np.float32)
    ys = np.linspace(0, grid.shape[0] - 1, h, dtype=np.float32)
    xs = np.linspace(0, grid.shape[1] - 1, w + 2 * int(seconds * fps), dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int32), grid.shape[0] - 2)
    x0 = np.minimum(xs.astype(np.int32), grid.shape[1] - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    value = top * (1 - fy) + bottom * fy
    grain = rng.normal(0, 6, value.shape).astype(np.float32)
    luma = np.clip(60 + 120 * value + grain, 0, 255).astype(np.uint8)
    world = np.stack([luma, luma, luma // 2], axis=-1)
    r = 300
    yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
    disc = xx * xx + yy * yy <= r * r
    frames = int(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for f in range(frames):
            frame = world[:, 2 * f : 2 * f + w].copy()
            cx = 600 + (w - 1200) * f // max(1, frames - 1)
            patch = frame[1080 - r : 1080 + r + 1, cx - r : cx + r + 1]
            patch[disc] = (214, 38, 46)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


def cache_memory(folder: Path, seconds: float) -> list[tuple[str, str, str, str]]:
    path = folder / "synthetic4k.mp4"
    t0 = time.perf_counter()
    write_4k_clip(path, seconds)
    print(f"wrote {seconds:g} s of 3840x2160 60 fps in {time.perf_counter() - t0:.1f} s")
    source = VideoSource(path)
    raw_mb = source.frame_count * 960 * 540 * 3 / 2**20
    t0 = time.perf_counter()
    with FrameCache(source, display_width=960) as cache:
        cache.wait_ready(3600)
        build_s = time.perf_counter() - t0
        total = cache.nbytes
        n = cache.cached_count
        size = cache.display_size
    print(
        f"4K cache: {n} frames at {size[0]}x{size[1]} built in {build_s:.1f} s "
        f"({build_s / n * 1000:.0f} ms/frame)"
    )
    mb = total / 2**20
    # At 10 s the target applies as written; a shorter run is scaled to 10 s.
    projected = mb * 10 / seconds
    ok = "yes" if projected <= TARGET_CACHE_MB else "NO"
    return [
        (f"raw RGB at 960x540, {n} frames (reference)", f"{raw_mb:.1f} MB", "1.00", ""),
        (f"FrameCache JPEG, {n} frames", f"{mb:.1f} MB", f"{mb / raw_mb:.3f}", ok),
        ("  bytes per cached frame", f"{total // max(1, n)} B", "", ""),
        ("  projected for 10 s (600 frames)", f"{projected:.1f} MB", "", ok),
    ]


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':48} {'value':>12} {'ratio':>8} {'target met':>10}")
    for name, value, ratio, ok in rows:
        print(f"{name:48} {value:>12} {ratio:>8} {ok:>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 4K clip")
    parser.add_argument("--reads", type=int, default=300, help="random reads from the cache")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-4k", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        access = random_access(folder, args.reads, args.seed)
        print_table(f"Random frame access, median of {args.reads} reads", access)
        if not args.skip_4k:
            memory = cache_memory(folder, args.seconds)
            print_table("Frame cache memory, 3840x2160 60 fps at 960 px display width", memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
