"""The RLE codec against pycocotools (the reference), on edge cases, thousands of random
masks, fuzzed strings, and every class of malformed input."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kling_widget.rle import decode_rle, encode_rle, fit_rle_size, rle_counts

coco = pytest.importorskip("pycocotools.mask")
# pycocotools' own NumPy 2 deprecation notice, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def coco_encode(mask: np.ndarray) -> dict[str, Any]:
    return coco.encode(np.asfortranarray(mask.astype(np.uint8)))


def assert_matches_coco(mask: np.ndarray) -> None:
    """encode == pycocotools' counts; decode of either == the mask, as uint8 (h, w)."""
    mask = mask.astype(np.uint8)
    ref = coco_encode(mask)
    ours = encode_rle(mask)
    assert ours["size"] == [mask.shape[0], mask.shape[1]] == list(ref["size"])
    assert isinstance(ours["counts"], str)
    assert ours["counts"].encode("ascii") == ref["counts"]
    for rle in (ours, ref):
        back = decode_rle(rle)
        assert back.dtype == np.uint8
        assert back.shape == mask.shape
        np.testing.assert_array_equal(back, mask)
    np.testing.assert_array_equal(decode_rle(ref), coco.decode(ref))


def blob(h: int, w: int, frac: float = 0.12) -> np.ndarray:
    """An ellipse covering about ``frac`` of the frame: a typical object mask."""
    yy, xx = np.ogrid[:h, :w]
    a = w * 0.3
    b = frac * h * w / (np.pi * a)
    return ((((xx - w * 0.5) / a) ** 2 + ((yy - h * 0.45) / b) ** 2) <= 1).astype(np.uint8)


def _corner(h: int, w: int, y: int, x: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y, x] = 1
    return m


rng = np.random.default_rng(20240601)
EDGE_CASES: dict[str, np.ndarray] = {
    "empty": np.zeros((7, 5), np.uint8),
    "full": np.ones((7, 5), np.uint8),
    "zero-height": np.zeros((0, 5), np.uint8),
    "zero-width": np.zeros((4, 0), np.uint8),
    "1x1-off": np.zeros((1, 1), np.uint8),
    "1x1-on": np.ones((1, 1), np.uint8),
    "1xN": (rng.random((1, 37)) < 0.5).astype(np.uint8),
    "Nx1": (rng.random((41, 1)) < 0.5).astype(np.uint8),
    "top-left": _corner(6, 9, 0, 0),
    "top-right": _corner(6, 9, 0, 8),
    "bottom-left": _corner(6, 9, 5, 0),
    "bottom-right": _corner(6, 9, 5, 8),
    "stripes-h": np.tile(np.array([[0], [1]], np.uint8), (16, 23)),
    "stripes-v": np.tile(np.array([[0, 1]], np.uint8), (31, 12)),
    "checker": np.indices((33, 17)).sum(axis=0).astype(np.uint8) % 2,
    "last-column": np.pad(np.ones((10, 1), np.uint8), ((0, 0), (12, 0))),
    "noise": (rng.random((120, 160)) < 0.5).astype(np.uint8),
    "sparse": (rng.random((200, 150)) < 0.003).astype(np.uint8),
    "blob-1080p": blob(1080, 1920),
    "blob-4k": blob(2160, 3840),
    "noise-1080p": (rng.random((1080, 1920)) < 0.5).astype(np.uint8),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_match_pycocotools(name: str) -> None:
    assert_matches_coco(EDGE_CASES[name])


def test_big_blob_is_a_typical_object_mask() -> None:
    m = EDGE_CASES["blob-4k"]
    assert 0.11 < m.mean() < 0.13


def test_thousands_of_random_masks_match_pycocotools() -> None:
    gen = np.random.default_rng(7)
    for i in range(2500):
        h, w = (int(v) for v in gen.integers(1, 48, size=2))
        kind = i % 5
        if kind == 0:  # noise of any density
            m = gen.random((h, w)) < gen.random()
        elif kind == 1:  # a rectangle
            m = np.zeros((h, w), bool)
            y0, y1 = sorted(gen.integers(0, h, 2))
            x0, x1 = sorted(gen.integers(0, w, 2))
            m[y0 : y1 + 1, x0 : x1 + 1] = True
        elif kind == 2:  # a blob with long runs, so values need several 5-bit groups
            m = blob(h * 20, w * 20, frac=float(gen.uniform(0.01, 0.6)))
        elif kind == 3:  # a few long runs in column-major order
            flat = np.zeros(h * w, bool)
            cuts = np.sort(gen.integers(0, h * w + 1, size=int(gen.integers(0, 6))))
            for a, b in zip(cuts[::2], cuts[1::2], strict=False):
                flat[a:b] = True
            m = flat.reshape(w, h).T
        else:  # rows/columns patterns
            m = (np.add.outer(np.arange(h) // gen.integers(1, 4), np.arange(w)) % 3) == 0
        assert_matches_coco(m)


def test_large_masks_of_rectangles_match_pycocotools() -> None:
    # Big C-ordered masks with few changes are encoded without a transpose (changes
    # found between rows, then sorted): cover the column seams and the first pixel.
    gen = np.random.default_rng(11)
    for i in range(60):
        h, w = (int(v) for v in gen.integers(200, 420, size=2))
        m = np.zeros((h, w), bool)
        for _ in range(int(gen.integers(0, 6))):
            y0, y1 = sorted(gen.integers(0, h + 1, size=2))
            x0, x1 = sorted(gen.integers(0, w + 1, size=2))
            m[y0:y1, x0:x1] ^= True
        if i % 3 == 0:
            m[0, 0] = True
        if i % 4 == 0:
            m[-1, :] = True  # bottom row: every column seam changes
        if i % 5 == 0:
            m[:, -1] = True
        if i == 7:
            m[:] = True
        assert_matches_coco(m)
        assert encode_rle(np.asfortranarray(m))["counts"] == encode_rle(m)["counts"]


def test_counts_str_and_bytes_decode_alike() -> None:
    m = EDGE_CASES["noise"]
    ref = coco_encode(m)
    as_str = {"size": ref["size"], "counts": ref["counts"].decode()}
    np.testing.assert_array_equal(decode_rle(as_str), decode_rle(ref))
    np.testing.assert_array_equal(
        decode_rle({"size": ref["size"], "counts": bytearray(ref["counts"])}), m
    )


def test_decode_is_fortran_ordered_like_pycocotools() -> None:
    m = blob(60, 90)
    out = decode_rle(encode_rle(m))
    assert out.flags.f_contiguous
    assert coco.decode(coco_encode(m)).flags.f_contiguous


def test_encode_accepts_any_layout_and_dtype() -> None:
    m = blob(50, 70)
    expected = coco_encode(m)["counts"].decode()
    for variant in (
        m,
        np.asfortranarray(m),
        m.astype(bool),
        m * 255,  # non-zero means object
        m.astype(np.float32),
        m[:, :, None],
        np.ascontiguousarray(m.T).T,
        m.tolist(),
    ):
        assert encode_rle(variant)["counts"] == expected


def test_encode_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match=r"must be 2-D"):
        encode_rle(np.zeros((2, 3, 4)))


# --- uncompressed counts (as pycocotools' frPyObjects takes them) ------------------------


@pytest.mark.parametrize(
    "counts",
    [[6], [0, 6], [1, 2, 3], [2, 0, 1, 0, 3], [0, 0, 0, 6], [3, 3], np.array([1, 1, 1, 1, 2])],
)
def test_uncompressed_counts_match_frpyobjects(counts: Any) -> None:
    size = [3, 2]
    ref = coco.frPyObjects({"size": size, "counts": list(map(int, counts))}, *size)
    ours = decode_rle({"size": size, "counts": counts})
    np.testing.assert_array_equal(ours, coco.decode(ref))
    assert encode_rle(ours)["counts"] == coco_encode(ours)["counts"].decode()


def test_interior_empty_runs_decode_like_pycocotools() -> None:
    # Many short runs with empty ones inside: two value flips land on one pixel.
    gen = np.random.default_rng(3)
    runs = gen.integers(0, 3, size=400)
    assert (runs[1:-1] == 0).any()
    runs[-1] += -int(runs.sum()) % 30
    h, w = 30, int(runs.sum()) // 30
    ref = coco.frPyObjects({"size": [h, w], "counts": runs.tolist()}, h, w)
    np.testing.assert_array_equal(
        decode_rle({"size": [h, w], "counts": runs.tolist()}), coco.decode(ref)
    )
    np.testing.assert_array_equal(decode_rle(ref), coco.decode(ref))


# --- fit_rle_size ---------------------------------------------------------------------


def test_fit_rle_size_accepts_swapped_size_on_a_non_square_frame() -> None:
    m = np.zeros((3, 5), np.uint8)
    m[0, 4] = m[2, 0] = m[1, 1:4] = 1
    rle = encode_rle(m)
    swapped = {"size": [5, 3], "counts": rle["counts"]}
    fitted = fit_rle_size(swapped, (3, 5))
    assert fitted == {"size": [3, 5], "counts": rle["counts"]}
    np.testing.assert_array_equal(decode_rle(fitted), m)
    np.testing.assert_array_equal(decode_rle(swapped, shape=(3, 5)), m)
    # Without the frame shape the swapped size is taken at its word.
    assert decode_rle(swapped).shape == (5, 3)


def test_fit_rle_size_keeps_a_correct_size() -> None:
    rle = encode_rle(blob(40, 64))
    assert fit_rle_size(rle, (40, 64)) == rle


@pytest.mark.parametrize(
    ("size", "message"),
    [([4, 4], r"h\*w = 16 != 15 pixels"), ([1, 15], r"must be \[h, w\] = \[3, 5\]")],
)
def test_fit_rle_size_rejects_sizes_that_do_not_fit(size: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_rle_size({"size": size, "counts": "0"}, (3, 5))
    with pytest.raises(ValueError, match=message):
        decode_rle({"size": size, "counts": "0"}, shape=(3, 5))


# --- malformed input --------------------------------------------------------------------

MALFORMED: list[tuple[Any, str]] = [
    ({"size": [2, 2], "counts": "1~"}, r"character '~' \(126\) at offset 1 is outside"),
    ({"size": [2, 2], "counts": "1/"}, r"character '/' \(47\) at offset 1"),
    ({"size": [2, 2], "counts": "1é"}, r"character 'é' at offset 1 is outside"),
    ({"size": [2, 2], "counts": b"1\x00"}, r"outside the RLE alphabet"),
    ({"size": [4, 4], "counts": "1P"}, r"truncated.*'P' \(offset 1\)"),
    ({"size": [4, 4], "counts": "123B"}, r"run 3 is negative \(-12\) after delta"),
    ({"size": [4, 4], "counts": "O"}, r"run 0 is negative \(-1\)"),
    ({"size": [4, 4], "counts": "0::"}, r"runs sum to 20 pixels, past h\*w = 4\*4 = 16"),
    ({"size": [4, 4], "counts": "0a0"}, r"run value 17 .* out of range"),
    ({"size": [4, 4], "counts": "0P1"}, r"run value 32 .* out of range"),
    ({"size": [4, 4], "counts": "52"}, r"runs sum to 7 pixels, short of h\*w = 4\*4 = 16"),
    ({"size": [4, 4], "counts": ""}, r"runs sum to 0 pixels, short"),
    ({"size": [4, 4], "counts": "0" + "o" * 13 + "0"}, r"has 14 characters; at most 12"),
    ({"size": [4, 4], "counts": "0" + "o" * 6 + "O"}, r"negative run token 1 .* at most 6"),
    ({"size": [4, 4], "counts": [2**70]}, r"not a list of integers|must be a flat list|exceeds"),
    ({"size": [4, 4], "counts": [3, -1, 14]}, r"run 1 is negative \(-1\)"),
    ({"size": [4, 4], "counts": [3, 20]}, r"run 1 = 20 exceeds h\*w = 16"),
    ({"size": [4, 4], "counts": [1.5, 14.5]}, r"must be a flat list of non-negative integers"),
    ({"size": [4, 4], "counts": [[1, 15]]}, r"must be a flat list"),
    ({"size": [4, 4], "counts": [2**64 - 1]}, r"exceeds h\*w = 16"),
    ({"size": [4, 4], "counts": 16}, r"must be a str/bytes"),
    ({"size": [4, 4]}, r"'counts' is missing"),
    ({"counts": "0"}, r"'size' \[h, w\] is missing"),
    ({"size": [4], "counts": "0"}, r"size=\[4\]: must be two non-negative integers"),
    ({"size": [4, -4], "counts": "0"}, r"size=\[4, -4\].*negative"),
    ({"size": [4.0, 4], "counts": "0"}, r"size=\[4.0, 4\]: must be two non-negative"),
    ({"size": "44", "counts": "0"}, r"size='44': must be two"),
    ({"size": [True, 4], "counts": "0"}, r"must be two non-negative integers"),
    ({"size": [2**30, 2**30], "counts": "0"}, r"too large"),
    ("not a dict", r"must be a mapping"),
]


@pytest.mark.parametrize(("rle", "message"), MALFORMED)
def test_malformed_input_raises_value_error_naming_the_problem(rle: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_rle(rle)


def test_decode_rejects_bad_shape_argument() -> None:
    with pytest.raises(ValueError, match=r"shape=\(3,\): must be two non-negative"):
        decode_rle({"size": [3, 1], "counts": "3"}, shape=(3,))


def test_overflowing_values_are_refused_not_wrapped() -> None:
    # 2**32 + 3 would wrap to 3 in pycocotools' uint counts; it is out of range here.
    value = 2**32 + 3
    groups = []
    while True:
        g = value & 0x1F
        value >>= 5
        more = value != 0 or g & 0x10
        groups.append(chr(48 + (g | (0x20 if more else 0))))
        if not more:
            break
    with pytest.raises(ValueError, match=r"out of range"):
        decode_rle({"size": [1, 3], "counts": "".join(groups)})


def test_delta_decoding_uses_the_value_two_places_back() -> None:
    # Runs 3,2,4,3,1: stored as 3, 2, 4, 3-2=1, 1-4=-3 ('M' is 48 + 29, and 29 is -3 in
    # 5-bit two's complement, sign bit 0x10 set).
    assert rle_counts({"size": [13, 1], "counts": "3241M"}).tolist() == [3, 2, 4, 3, 1]
    m = decode_rle({"size": [13, 1], "counts": "3241M"})[:, 0]
    assert m.tolist() == [0] * 3 + [1] * 2 + [0] * 4 + [1] * 3 + [0]


def test_non_canonical_long_tokens_decode_like_pycocotools() -> None:
    # "P0" is 0 written with two groups: runs 0, 4, 2 (the mask starts with ones).
    rle = {"size": [2, 3], "counts": b"P042"}
    expected = np.array([1, 1, 1, 1, 0, 0], np.uint8).reshape(3, 2).T
    np.testing.assert_array_equal(decode_rle(rle), expected)
    np.testing.assert_array_equal(coco.decode(rle), expected)


# --- fuzzing ----------------------------------------------------------------------------

masks = hnp.arrays(
    dtype=np.uint8,
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    elements=st.integers(0, 1),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks)
def test_fuzz_random_masks_round_trip_and_match_pycocotools(mask: np.ndarray) -> None:
    assert_matches_coco(mask)


@st.composite
def rle_like(draw: st.DrawFn) -> dict[str, Any]:
    """A valid RLE of a random mask, then mangled: characters replaced, inserted, dropped,
    or the string cut; sometimes left alone."""
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    flat = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    mask = np.array(flat, np.uint8).reshape(h, w)
    chars = list(coco_encode(mask)["counts"].decode())
    alphabet = st.characters(min_codepoint=32, max_codepoint=130)
    in_alpha = st.characters(min_codepoint=48, max_codepoint=111)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["replace", "insert", "drop", "cut"]))
        if not chars and op != "insert":
            continue
        pos = draw(st.integers(0, max(0, len(chars) - 1)))
        ch = draw(st.one_of(in_alpha, in_alpha, alphabet))
        if op == "replace":
            chars[pos] = ch
        elif op == "insert":
            chars.insert(pos, ch)
        elif op == "drop":
            del chars[pos]
        else:
            del chars[pos:]
    return {"size": [h, w], "counts": "".join(chars)}


@settings(max_examples=1000, deadline=None)
@given(rle_like())
def test_fuzz_strings_decode_like_pycocotools_or_raise_value_error(rle: dict[str, Any]) -> None:
    try:
        ours = decode_rle(rle)
    except ValueError as exc:
        assert str(exc)
        return
    # Accepted: then it is valid, and pycocotools must agree pixel for pixel.
    ref = coco.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    np.testing.assert_array_equal(ours, ref)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.text(max_size=30), st.binary(max_size=30)),
    st.lists(st.integers(-3, 40), min_size=0, max_size=3),
)
def test_fuzz_garbage_never_raises_anything_but_value_error(counts: Any, size: list[int]) -> None:
    try:
        out = decode_rle({"size": size, "counts": counts})
    except ValueError:
        return
    assert out.shape == tuple(size)
    assert set(np.unique(out).tolist()) <= {0, 1}


def test_error_messages_name_the_field() -> None:
    with pytest.raises(ValueError) as info:
        decode_rle({"size": [2, 2], "counts": "1~"})
    assert re.match(r"^rle counts: ", str(info.value))
