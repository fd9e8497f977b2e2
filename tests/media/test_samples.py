"""Sample clips: deterministic files, exact ground-truth masks and clean backgrounds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

import kling_widget as public_samples
from kling_widget.media import samples as samples_module
from kling_widget.media.images import ReferenceImage
from kling_widget.media.samples import Sample, make_sample, sample_image
from kling_widget.media.video import VideoSource

CHECKED_FRAMES = (0, 37, 75, 112, 149)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="module")
def static(sample_dir: Path) -> Sample:
    return make_sample("static", sample_dir)


@pytest.fixture(scope="module")
def pan(sample_dir: Path) -> Sample:
    return make_sample("pan", sample_dir)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def colour_match(frame: np.ndarray, colour: tuple[int, int, int], tol: int) -> np.ndarray:
    """Pixels within ``tol`` of ``colour`` on every channel."""
    diff = np.abs(frame.astype(np.int16) - np.array(colour, np.int16))
    return np.asarray((diff <= tol).all(axis=-1))


# --- files -----------------------------------------------------------------------------------
def test_same_sample_same_bytes_and_regenerated_when_missing(
    static: Sample, tmp_path: Path
) -> None:
    again = make_sample("static", tmp_path)
    assert again.path.name == static.path.name  # the name carries the content hash
    assert sha256(again.path) == sha256(static.path)
    stamp = again.path.stat().st_mtime_ns
    assert make_sample("static", tmp_path).path.stat().st_mtime_ns == stamp  # reused
    again.path.unlink()
    assert sha256(make_sample("static", tmp_path).path) == sha256(static.path)
    assert [p.name for p in tmp_path.iterdir()] == [static.path.name]  # no temp files left


def test_samples_pass_kling_clip_limits(static: Sample, pan: Sample) -> None:
    for sample in (static, pan):
        src = VideoSource(sample.path)
        assert src.check("multi-elements") == [] and src.check("omni") == []
        assert (src.width, src.height, src.fps, src.frame_count) == (1280, 720, 30.0, 150)
        assert (sample.width, sample.height, sample.fps, sample.frame_count) == (
            1280,
            720,
            30.0,
            150,
        )
        with av.open(str(sample.path)) as c:
            ctx = c.streams.video[0].codec_context
            assert (ctx.name, ctx.pix_fmt) == ("h264", "yuv420p")


def test_samples_are_distinct_and_named(static: Sample, pan: Sample) -> None:
    assert static.object_ids == (1,) and pan.object_ids == (1, 2)
    assert static.path != pan.path
    assert "static" in static.path.name and "pan" in pan.path.name
    assert not np.array_equal(static.frame(0), pan.frame(0))


def test_unknown_names_and_indices_are_refused(static: Sample) -> None:
    with pytest.raises(ValueError, match="name='zoom'"):
        make_sample("zoom")
    with pytest.raises(IndexError, match="frame_index=150"):
        static.mask(150, 1)
    with pytest.raises(KeyError, match="object_id=7"):
        static.mask(0, 7)


def test_samples_are_exported_from_the_package() -> None:
    assert public_samples.make_sample is samples_module.make_sample
    assert public_samples.sample_image is samples_module.sample_image


# --- ground truth ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["static", "pan"])
def test_masks_are_exactly_the_pixels_of_each_object_colour(
    name: str, static: Sample, pan: Sample
) -> None:
    sample = static if name == "static" else pan
    for f in CHECKED_FRAMES:
        frame = sample.frame(f)
        union = np.zeros((sample.height, sample.width), bool)
        for oid in sample.object_ids:
            mask = sample.mask(f, oid)
            assert mask.dtype == bool and mask.shape == (720, 1280)
            assert mask.sum() > 5000
            # Objects are shaded by at most 10 levels: colour classes give back the mask.
            coloured = colour_match(frame, sample.object_colours[oid], 10)
            assert np.array_equal(coloured, mask), (name, f, oid)
            union |= mask
        # Everything else is the clean background, bit for bit.
        background = sample.background(f)
        assert np.array_equal(frame[~union], background[~union])
        assert (frame[union] != background[union]).any(axis=-1).all()


def test_occluded_object_mask_excludes_the_hidden_part(pan: Sample) -> None:
    hidden_frames = pan.occluded_frames(1)
    assert len(hidden_frames) > 50
    front = pan.object_colours[2]
    hidden_areas = []
    for f in hidden_frames[:: max(1, len(hidden_frames) // 8)]:
        box, ball = pan.mask(f, 1), pan.mask(f, 2)
        assert not (box & ball).any()
        # The box's whole outline (filled) contains ball pixels: those are hidden, not in it.
        rows = np.nonzero(box.any(axis=1))[0]
        cols = np.nonzero(box.any(axis=0))[0]
        inside_box_bounds = np.zeros_like(box)
        inside_box_bounds[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
        hidden = inside_box_bounds & ball
        assert hidden.any()
        hidden_areas.append(int(hidden.sum()))
        assert colour_match(pan.frame(f)[hidden], front, 10).all()
    assert max(hidden_areas) > 3000  # a real overlap, not a touch at the edge
    # Where nothing overlaps, the box is whole: the ball passes and the box is not cut.
    visible_area = [pan.mask(f, 1).sum() for f in range(pan.frame_count)]
    assert max(visible_area) > min(visible_area) + 500


def test_compressed_frames_match_the_rendered_ones(static: Sample, pan: Sample) -> None:
    for sample in (static, pan):
        src = VideoSource(sample.path)
        for f in (0, 75, 149):
            decoded = src.read_frame(f).astype(np.int16)
            rendered = sample.frame(f).astype(np.int16)
            assert np.abs(decoded - rendered).mean() < 4, (sample.name, f)
            for oid in sample.object_ids:
                inside = decoded[sample.mask(f, oid)].mean(axis=0)
                assert np.abs(inside - np.array(sample.object_colours[oid])).max() < 12
        src.close()


def test_backgrounds_are_textured_and_far_from_object_colours(static: Sample, pan: Sample) -> None:
    for sample in (static, pan):
        bg = sample.background(0).astype(np.int16)
        assert bg.std(axis=(0, 1)).min() > 6  # not flat
        assert len(np.unique(bg[..., 1])) > 60  # many levels, not a few flat patches
        assert np.abs(np.diff(bg, axis=1)).mean() > 1  # fine grain, not only gradients
        for colour in sample.object_colours.values():
            distance = np.abs(bg - np.array(colour, np.int16)).max(axis=-1)
            assert distance.min() > 40  # a region-growing segmenter can tell them apart


def test_static_background_holds_still_and_pan_background_moves(
    static: Sample, pan: Sample
) -> None:
    assert np.array_equal(static.background(0), static.background(149))
    for f in (0, 80):
        a, b = pan.background(f), pan.background(f + 1)
        assert np.array_equal(b[:, :-2], a[:, 2:])  # 2 px per frame to the right
        assert not np.array_equal(a, b)


def test_centre_is_the_normalized_centroid_of_the_visible_mask(static: Sample, pan: Sample) -> None:
    for sample in (static, pan):
        for oid in sample.object_ids:
            for f in (0, 100):
                ys, xs = np.nonzero(sample.mask(f, oid))
                x, y = sample.centre(f, oid)
                assert x == pytest.approx((xs.mean() + 0.5) / 1280)
                assert y == pytest.approx((ys.mean() + 0.5) / 720)
                # A click there lands on the object.
                assert sample.mask(f, oid)[int(y * 720), int(x * 1280)]
    assert static.centre(149, 1)[0] > static.centre(0, 1)[0] + 0.4  # moves across


def test_describe_says_what_is_in_the_clip(static: Sample, pan: Sample) -> None:
    text = static.describe()
    assert "static camera" in text and "red ball" in text and str(static.path) in text
    text = pan.describe()
    assert "pans" in text and "blue box" in text and "orange ball" in text
    assert "behind orange ball" in text


# --- reference image -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sticker", "logo"])
def test_sample_image_passes_the_image_rules(kind: str) -> None:
    img = sample_image(kind)
    assert img.format == "PNG" and img.size == (512, 512)
    assert ReferenceImage.load(img).check() == []
    pixels = np.asarray(img.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 3  # a drawing, not a flat square
    assert np.array_equal(np.asarray(sample_image(kind)), np.asarray(img))  # deterministic


def test_sample_image_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind='photo'"):
        sample_image("photo")
