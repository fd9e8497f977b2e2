"""Mask export read back by the tools that consume it: pycocotools, PIL and PyAV.

Run: ``python benchmarks/bench_export.py [--sample pan] [--frames 150]``. The masks are the
sample clip's exact ground truth (every object on every frame, at the clip's 1280x720),
so what is read back can be compared pixel for pixel. For each format it prints the export
time, the bytes written and what reading the files back gives:

- ``coco``: ``COCO(path)`` loads it; ``annToMask`` of every annotation against the mask
  exported (pixels that differ; must be 0), and annotations per frame;
- ``png``: every label image against the masks (pixels that differ; must be 0);
- ``matte``: every frame of every matte decoded by PyAV, thresholded at 128, against the
  mask (pixels that differ, as a fraction of the object's pixels: H.264 is lossy at
  edges), codec, frame rate and size against the clip's.

The reference in the same run is the time to encode every mask as RLE alone (what the
COCO file must do anyway).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
from PIL import Image

from kling_widget.media.export import export_masks
from kling_widget.media.samples import make_sample
from kling_widget.rle import encode_rle


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="pan", choices=("static", "pan"))
    parser.add_argument("--frames", type=int, default=0, help="first N frames (0: all)")
    args = parser.parse_args()
    print(f"loadavg before: {os.getloadavg()}")
    sample = make_sample(args.sample)
    src = sample.source()
    n = args.frames or src.frame_count
    w, h, fps = src.width, src.height, src.fps_fraction
    masks = {
        f: {oid: sample.mask(f, oid) for oid in sample.object_ids if sample.mask(f, oid).any()}
        for f in range(n)
    }
    pixels = sum(int(m.sum()) for objs in masks.values() for m in objs.values())
    print(
        f"clip: {sample.name} {w}x{h} {float(fps):g} fps, {n} frames, "
        f"{len(sample.object_ids)} objects, {pixels} object pixels"
    )
    t = time.perf_counter()
    for objs in masks.values():
        for m in objs.values():
            encode_rle(m)
    rle_s = time.perf_counter() - t
    print(f"reference: RLE-encode every mask {rle_s * 1000:.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for fmt in ("coco", "png", "matte"):
            t = time.perf_counter()
            result = export_masks(
                masks, root / fmt, fmt, size=(w, h), frame_count=n, fps=fps, note="ground truth"
            )
            spent = time.perf_counter() - t
            size = _size(result.files)
            line = (
                f"{fmt:6s} export {spent:6.2f} s ({spent / rle_s:5.1f}x RLE), {size / 1e6:7.2f} MB"
            )
            if fmt == "coco":
                line += "; " + _check_coco(root / fmt / "masks.coco.json", masks)
            elif fmt == "png":
                line += "; " + _check_png(root / fmt, masks, n)
            else:
                line += "; " + _check_mattes(root / fmt, masks, sample.object_ids, n, (w, h), fps)
            print(line)
    print(f"loadavg after: {os.getloadavg()}")


def _check_coco(path: Path, masks: dict[int, dict[int, np.ndarray]]) -> str:
    from pycocotools.coco import COCO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
        wrong = anns = 0
        for f, objs in masks.items():
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[f + 1])):
                anns += 1
                got = coco.annToMask(ann).astype(bool)
                wrong += int((got != objs[ann["object_id"]]).sum())
    want = sum(len(o) for o in masks.values())
    return f"pycocotools: {anns}/{want} annotations, {wrong} pixels differ"


def _check_png(folder: Path, masks: dict[int, dict[int, np.ndarray]], n: int) -> str:
    wrong = 0
    for f in range(n):
        labels = np.asarray(Image.open(folder / f"frame_{f:06d}.png"))
        want = np.zeros_like(labels)
        for oid, m in sorted(masks.get(f, {}).items()):
            want[m] = oid
        wrong += int((labels != want).sum())
    return f"PIL: {n} label images, {wrong} pixels differ"


def _check_mattes(
    folder: Path,
    masks: dict[int, dict[int, np.ndarray]],
    ids: tuple[int, ...],
    n: int,
    size: tuple[int, int],
    fps: Fraction,
) -> str:
    parts = []
    for oid in ids:
        path = folder / f"matte_{oid}.mp4"
        if not path.exists():
            continue
        wrong = total = frames = 0
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            ok = (
                s.codec_context.name == "h264"
                and (s.width, s.height) == size
                and Fraction(s.average_rate) == fps
            )
            for f, frame in enumerate(c.decode(s)):
                got = frame.to_ndarray(format="gray") >= 128
                want = masks.get(f, {}).get(oid)
                want = np.zeros(got.shape, bool) if want is None else want
                wrong += int((got != want).sum())
                total += int(want.sum())
                frames += 1
        parts.append(
            f"object {oid}: {frames}/{n} frames, h264/size/fps {'ok' if ok else 'WRONG'}, "
            f"{wrong} px differ ({100 * wrong / max(1, total):.3f} % of object px)"
        )
    return "PyAV: " + "; ".join(parts)


if __name__ == "__main__":
    main()
