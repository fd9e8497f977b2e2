"""Mask export: files read back by the tools people use them with (PIL, pycocotools, PyAV)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from kling_widget.media.export import (
    export_coco,
    export_masks,
    export_mattes,
    export_png_sequence,
    label_values,
)

W, H, N = 64, 48, 6

# pycocotools (2.0.x) decodes through a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def disc(cx: float, cy: float, r: float, w: int = W, h: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def two_objects() -> dict[int, dict[int, np.ndarray]]:
    """Object 1 moves right over frames 0..4; object 2 only on frames 2 and 3."""
    out: dict[int, dict[int, np.ndarray]] = {}
    for f in range(5):
        out[f] = {1: disc(10 + 5 * f, 20, 8)}
    out[2][2] = disc(50, 30, 6).astype(np.uint8)
    out[3][2] = disc(48, 30, 6).astype(np.uint8)
    return out


def test_png_sequence_holds_one_label_image_per_frame(tmp_path: Path) -> None:
    masks = two_objects()
    result = export_png_sequence(masks, tmp_path / "png", size=(W, H), frame_count=N)
    pngs = sorted((tmp_path / "png").glob("frame_*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:06d}.png" for i in range(N)]
    for f, path in enumerate(pngs):
        with Image.open(path) as im:
            assert im.mode == "L" and im.size == (W, H)
            labels = np.asarray(im)
        expected = np.zeros((H, W), np.uint8)
        for oid, m in sorted(masks.get(f, {}).items()):
            expected[np.asarray(m) != 0] = oid
        assert np.array_equal(labels, expected), f"frame {f}"
    assert not np.asarray(Image.open(pngs[5])).any()  # frame without masks: all background
    doc = json.loads((tmp_path / "png" / "labels.json").read_text())
    assert doc["labels"] == [{"value": 1, "object_id": 1}, {"value": 2, "object_id": 2}]
    assert result.frames_with_masks == [0, 1, 2, 3, 4]
    assert result.objects == [1, 2]


def test_png_ids_outside_1_to_255_are_numbered_and_listed(tmp_path: Path) -> None:
    # Kling's own example answers object_id 0, which would vanish into the background.
    masks = {0: {0: disc(20, 20, 5), 300: disc(40, 20, 5)}}
    assert label_values([0, 300]) == {0: 1, 300: 2}
    export_png_sequence(masks, tmp_path, size=(W, H), frame_count=1)
    labels = np.asarray(Image.open(tmp_path / "frame_000000.png"))
    assert set(np.unique(labels)) == {0, 1, 2}
    assert np.array_equal(labels == 1, disc(20, 20, 5))
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert {d["value"]: d["object_id"] for d in doc["labels"]} == {1: 0, 2: 300}


def test_masks_at_another_resolution_are_resized_to_the_clip(tmp_path: Path) -> None:
    small = np.zeros((H // 2, W // 2), np.uint8)
    small[5:10, 4:8] = 1
    export_png_sequence({0: {1: small}}, tmp_path, size=(W, H), frame_count=1)
    labels = np.asarray(Image.open(tmp_path / "frame_000000.png"))
    assert labels.shape == (H, W)
    ys, xs = np.nonzero(labels)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (10, 19, 8, 15)


def test_coco_json_reads_back_with_pycocotools(tmp_path: Path) -> None:
    masks = two_objects()
    result = export_coco(
        masks,
        tmp_path,
        size=(W, H),
        frame_count=N,
        fps=30,
        labels={1: "the dog"},
        note="tracked masks of every frame",
    )
    path = tmp_path / "masks.coco.json"
    assert path in result.files
    coco = COCO(str(path))
    assert sorted(coco.getImgIds()) == list(range(1, N + 1))
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        1: "the dog",
        2: "object 2",
    }
    seen = 0
    for f, objs in masks.items():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[f + 1]))
        assert sorted(a["object_id"] for a in anns) == sorted(objs)
        for ann in anns:
            got = coco.annToMask(ann)
            want = np.asarray(objs[ann["object_id"]]) != 0
            assert np.array_equal(got.astype(bool), want)
            assert ann["area"] == int(want.sum())
            assert coco_mask.toBbox(coco_mask.encode(np.asfortranarray(got))).tolist() == [
                float(v) for v in ann["bbox"]
            ]
            seen += 1
    assert seen == 7
    assert coco.getAnnIds(imgIds=[N]) == []  # frame 5 holds no masks
    doc = json.loads(path.read_text())
    assert doc["info"]["description"] == "tracked masks of every frame"
    assert doc["info"]["fps"] == 30.0


def _read_gray(path: Path) -> tuple[list[np.ndarray], Fraction, tuple[int, int], str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        rate = Fraction(stream.average_rate)
        frames = [f.to_ndarray(format="gray") for f in container.decode(stream)]
        size = (stream.width, stream.height)
    return frames, rate, size, codec


@pytest.mark.parametrize("fps", [30, Fraction(30000, 1001), 24])
def test_matte_video_per_object_matches_the_clip(tmp_path: Path, fps: float | Fraction) -> None:
    masks = two_objects()
    result = export_mattes(masks, tmp_path, size=(W, H), frame_count=N, fps=fps)
    names = sorted(p.name for p in result.files if p.suffix == ".mp4")
    assert names == ["matte_1.mp4", "matte_2.mp4"]
    for oid in (1, 2):
        frames, rate, size, codec = _read_gray(tmp_path / f"matte_{oid}.mp4")
        assert codec == "h264"
        assert rate == Fraction(fps)
        assert size == (W, H)
        assert len(frames) == N
        for f, gray in enumerate(frames):
            want = masks.get(f, {}).get(oid)
            want = np.zeros((H, W), bool) if want is None else np.asarray(want) != 0
            got = gray >= 128
            # Lossy H.264: edges may move, but by very few pixels.
            wrong = int((got != want).sum())
            assert wrong <= max(2, int(0.02 * want.sum())), (oid, f, wrong)
            assert gray[~want & ~_near(want)].max(initial=0) < 40
            if want.any():
                assert gray[want & ~_near(~want)].min() > 215


def _near(m: np.ndarray) -> np.ndarray:
    """Pixels within two of a True pixel (where compression may blur an edge)."""
    out = m.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            out |= np.roll(np.roll(m, dy, 0), dx, 1)
    return out


def test_odd_sized_clip_gets_a_444_matte(tmp_path: Path) -> None:
    masks = {0: {1: disc(10, 10, 4, w=33, h=21)}}
    export_mattes(masks, tmp_path, size=(33, 21), frame_count=2, fps=25)
    with av.open(str(tmp_path / "matte_1.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (33, 21)
        assert s.codec_context.pix_fmt == "yuv444p"
        assert len(list(c.decode(s))) == 2


def test_export_masks_dispatches_and_states_what_was_exported(tmp_path: Path) -> None:
    note = "masks of the marked frames only"
    for fmt in ("png", "coco", "matte"):
        result = export_masks(
            two_objects(), tmp_path / fmt, fmt, size=(W, H), frame_count=N, fps=30, note=note
        )
        summary = json.loads((tmp_path / fmt / "export.json").read_text())
        assert summary["note"] == note
        assert summary["frames_with_masks"] == [0, 1, 2, 3, 4]
        assert result.note == note and note in str(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "gif"}, "format='gif'"),
        ({"frame_count": 3}, "frame index=3"),
        ({"size": (W,)}, "size="),
        ({"fps": 0}, "fps=0"),
    ],
)
def test_bad_arguments_name_the_field(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"size": (W, H), "frame_count": N, "fps": 30, "format": "coco"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        export_masks({3: {1: disc(5, 5, 2)}}, tmp_path, **args)  # type: ignore[arg-type]
    assert not (tmp_path / "masks.coco.json").exists()
