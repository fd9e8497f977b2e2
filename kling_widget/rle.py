"""COCO compressed RLE (Kling's ``rle_mask``), encoded and decoded with NumPy only.

The format (``shared/kling-api.md``, "Masks"): ``size = [h, w]``; ``counts`` lists run
lengths that alternate 0, 1, 0, ... starting with zeros and walk the image column by
column (Fortran order). Each run length is written in 5-bit groups, low group first, as
characters ``48 + group``; bit 0x20 says another group follows and the last group's bit
0x10 is the sign. From the fourth value on each value is stored as the difference to the
value two places earlier. ``pycocotools.mask`` is the reference; this module is bit-exact
with it on every valid input and is a test-only oracle, never a runtime dependency.

Everything is vectorized: no Python loop over characters, tokens or runs.

Where pycocotools is undefined we are strict instead:

* ``counts`` whose runs sum to *less* than ``h * w`` raise ``ValueError``. pycocotools
  (2.0.11) accepts them and leaves the rest of its ``malloc``-ed buffer uninitialised, so
  the tail is garbage; a truncated mask is more likely an error than a short-hand.
* A run token may hold at most 12 groups (6 when negative: pycocotools sign-extends with a
  32-bit shift), and every value must lie within ``[0, h*w]`` (``[-h*w, h*w]`` for a
  delta), so nothing overflows or wraps the way pycocotools' ``uint`` counts do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kling_widget.errors import short_repr

__all__ = ["decode_rle", "encode_rle", "fit_rle_size", "rle_counts", "rle_size"]

_ALPHABET_LO = 48  # '0'
_ALPHABET_HI = 111  # 'o'
_MORE = 0x20
_SIGN = 0x10
_GROUP = 0x1F
_MAX_GROUPS = 12  # 60 bits: exact in int64
_MAX_SIGNED_GROUPS = 6  # pycocotools' ``-1 << 5*k`` is an int shift: defined up to k = 6
_ONES64 = np.uint64(0x0101010101010101)
# Below this many pixels per run, writing bytes one run at a time (np.repeat) beats the
# word-wise fill; measured with benchmarks/bench_masks.py (noise vs blob masks).
_WORD_FILL_MIN_PIXELS_PER_RUN = 24
# Encoding a C-ordered mask: below one change per this many pixels, sorting the changes
# beats transposing the whole mask (object masks); above it (noise) transpose.
_SPARSE_ENCODE_RATIO = 32
_SPARSE_ENCODE_MIN_PIXELS = 1 << 16

RLE = Mapping[str, Any]


def rle_size(rle: RLE) -> tuple[int, int]:
    """The ``(h, w)`` an RLE declares, validated (two non-negative integers)."""
    if not isinstance(rle, Mapping):
        raise ValueError(
            f"rle={short_repr(rle)}: must be a mapping with 'size' [h, w] and 'counts'"
        )
    if "size" not in rle:
        raise ValueError(f"rle keys={sorted(map(str, rle))}: 'size' [h, w] is missing")
    size = rle["size"]
    return _check_size(size)


def _check_size(size: Any) -> tuple[int, int]:
    rule = "must be two non-negative integers [h, w]"
    if isinstance(size, (str, bytes)) or not isinstance(size, (Sequence, np.ndarray)):
        raise ValueError(f"rle size={short_repr(size)}: {rule}")
    if len(size) != 2:
        raise ValueError(f"rle size={short_repr(size)}: {rule} (got {len(size)} values)")
    out = []
    for v in size:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"rle size={short_repr(size)}: {rule}")
        if v < 0:
            raise ValueError(f"rle size={short_repr(size)}: {rule} (negative)")
        out.append(int(v))
    h, w = out
    if h * w >= 1 << 40:
        raise ValueError(f"rle size={short_repr(size)}: h*w={h * w} is too large for a mask")
    return h, w


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        return _check_size(tuple(shape) if isinstance(shape, (list, tuple)) else shape)
    except ValueError:
        raise ValueError(
            f"shape={short_repr(shape)}: must be two non-negative integers (h, w)"
        ) from None


def fit_rle_size(rle: RLE, shape: Sequence[int]) -> dict[str, Any]:
    """Return ``rle`` with ``size`` made to fit a frame of ``shape`` = (h, w).

    Kling's docs write ``size`` as ``[h, w]`` but their examples put width first. When
    ``size`` is ``[w, h]`` (same pixel count, order swapped) the counts are taken as they
    are, i.e. column-major runs over the true ``(h, w)`` frame (what pycocotools' encoder
    produces for that frame), and only ``size`` is corrected. The mask is *not* transposed.
    A ``size`` whose ``h * w`` differs from the frame, or that is neither ``[h, w]`` nor
    ``[w, h]``, raises ``ValueError``.
    """
    h, w = _check_shape(shape)
    rh, rw = rle_size(rle)
    if "counts" not in rle:
        raise ValueError("rle: 'counts' is missing")
    if (rh, rw) == (h, w) or (rh, rw) == (w, h):
        return {"size": [h, w], "counts": rle["counts"]}
    rule = f"must be [h, w] = [{h}, {w}] (or [w, h] = [{w}, {h}]) to fit the frame"
    if rh * rw != h * w:
        rule += f"; h*w = {rh * rw} != {h * w} pixels"
    raise ValueError(f"rle size=[{rh}, {rw}]: {rule}")


def rle_counts(rle: RLE) -> npt.NDArray[np.int64]:
    """The run lengths of ``rle`` as int64 (delta coding undone), fully validated.

    Accepts compressed counts (``str`` / ``bytes``) and uncompressed ones (a list of
    non-negative integers, as ``pycocotools.mask.frPyObjects`` does). The runs always sum
    to exactly ``h * w``.
    """
    return _runs_and_ends(rle)[0]


def _runs_and_ends(rle: RLE) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Validated runs, their running sum (where each run ends) and ``h * w``."""
    h, w = rle_size(rle)
    if "counts" not in rle:
        raise ValueError("rle: 'counts' is missing")
    counts = rle["counts"]
    hw = h * w
    if isinstance(counts, str):
        try:
            data = counts.encode("ascii")
        except UnicodeEncodeError:
            bad = next(i for i, ch in enumerate(counts) if ord(ch) > 127)
            raise ValueError(
                f"rle counts: character {counts[bad]!r} at offset {bad} is outside the "
                f"RLE alphabet '0'..'o' (48..111)"
            ) from None
        runs = _parse_compressed(data, hw)
    elif isinstance(counts, (bytes, bytearray, memoryview)):
        runs = _parse_compressed(bytes(counts), hw)
    elif isinstance(counts, (list, tuple, np.ndarray)):
        runs = _parse_uncompressed(counts, hw)
    else:
        raise ValueError(
            f"rle counts={short_repr(counts)}: must be a str/bytes (compressed RLE) or a list "
            "of run lengths (uncompressed RLE)"
        )
    ends = np.cumsum(runs)
    _check_total(int(ends[-1]) if ends.size else 0, hw, h, w)
    return runs, ends, hw


def decode_rle(rle: RLE, shape: Sequence[int] | None = None) -> npt.NDArray[np.uint8]:
    """Decode a COCO RLE into an ``(h, w)`` uint8 mask of 0 and 1.

    ``rle`` is ``{"size": [h, w], "counts": str | bytes | list[int]}``. When ``shape``
    (h, w) of the frame is given the RLE must fit it; a ``size`` written as ``[w, h]`` is
    accepted (see :func:`fit_rle_size`). Like ``pycocotools.mask.decode`` the result is a
    Fortran-ordered array (the runs are column-major, so this is the layout that costs no
    copy); use ``np.ascontiguousarray`` if C order matters. Malformed input raises
    ``ValueError`` naming the problem.
    """
    if shape is not None:
        rle = fit_rle_size(rle, shape)
    h, w = rle_size(rle)
    runs, ends, hw = _runs_and_ends(rle)
    flat = _expand(runs, ends, hw)
    mask: npt.NDArray[np.uint8] = flat.reshape(w, h).T
    return mask


def encode_rle(mask: npt.ArrayLike) -> dict[str, Any]:
    """Encode a 2-D mask (non-zero = object) into ``{"size": [h, w], "counts": str}``.

    The counts equal ``pycocotools.mask.encode(np.asfortranarray(mask))["counts"]``
    (bytes there, ``str`` here) for every 0/1 mask, in any memory layout.
    """
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"mask shape={m.shape}: must be 2-D (h, w)")
    h, w = (int(s) for s in m.shape)
    runs = _runs_of(m)
    return {"size": [h, w], "counts": _to_string(runs)}


# --- parsing ------------------------------------------------------------------------


def _parse_compressed(data: bytes, hw: int) -> npt.NDArray[np.int64]:
    chars = np.frombuffer(data, dtype=np.uint8)
    n = chars.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(chars.min()), int(chars.max())
    if lo < _ALPHABET_LO or hi > _ALPHABET_HI:
        i = int(np.flatnonzero((chars < _ALPHABET_LO) | (chars > _ALPHABET_HI))[0])
        raise ValueError(
            f"rle counts: character {chr(chars[i])!r} ({int(chars[i])}) at offset {i} is "
            "outside the RLE alphabet '0'..'o' (48..111)"
        )
    c = chars - np.uint8(_ALPHABET_LO)
    more = c >= _MORE  # c < 64, so bit 0x20 is set exactly when c >= 32
    if more[-1]:
        raise ValueError(
            f"rle counts: truncated: the last character {chr(chars[-1])!r} (offset {n - 1}) "
            "says another 5-bit group follows"
        )
    cont = np.flatnonzero(more)
    # One value per token, from its last character; sign-extend 5 bits on 0x10 (16..31
    # -> -16..-1) in int8 before widening. Tokens of several groups are redone below.
    last = c if cont.size == 0 else c[~more]
    x8 = last ^ np.uint8(_SIGN)
    x = x8.view(np.int8).astype(np.int64)
    x -= _SIGN
    multi = None
    if cont.size:
        multi = _fold_multi_group_tokens(x, c, cont)
    return _undelta(x, hw, multi)


def _fold_multi_group_tokens(
    x: npt.NDArray[np.int64], c: npt.NDArray[np.uint8], cont: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Set ``x`` (in place) for the tokens written with more than one character and
    return their token indices.

    Only the characters with the continuation bit are looked at, so the cost follows
    the (usually few) long tokens rather than the whole string.
    """
    # The token of continuation character j: its position minus the continuation
    # characters before it.
    tok = cont - np.arange(cont.size)
    # ``tok`` is sorted: each token's continuation characters sit together.
    first = np.flatnonzero(np.diff(tok, prepend=-1))
    multi = tok[first]
    extra = np.diff(first, append=tok.size)
    lengths = extra + 1
    starts = cont[first]
    longest = int(lengths.max())
    if longest > _MAX_GROUPS:
        j = int(np.argmax(lengths))
        raise ValueError(
            f"rle counts: run token {int(multi[j])} at offset {int(starts[j])} has {longest} "
            f"characters; at most {_MAX_GROUPS} are supported (value overflows)"
        )
    last = c[starts + extra]
    signed = (last & _SIGN) != 0
    too_long = signed & (lengths > _MAX_SIGNED_GROUPS)
    if too_long.any():
        j = int(np.flatnonzero(too_long)[0])
        raise ValueError(
            f"rle counts: negative run token {int(multi[j])} at offset {int(starts[j])} has "
            f"{int(lengths[j])} characters; at most {_MAX_SIGNED_GROUPS} are allowed"
        )
    # The last group sits 5 * (length - 1) bits up, the sign just above it, and the
    # leading groups below it.
    value = (last & _GROUP).astype(np.int64) << (5 * extra)
    value -= np.where(signed, np.int64(1) << (5 * lengths), np.int64(0))
    pos = np.repeat(np.arange(multi.size), extra)
    k = np.arange(cont.size) - first[pos]
    lead = (c[cont] & _GROUP).astype(np.int64) << (5 * k)
    np.add.at(value, pos, lead)
    x[multi] = value
    return multi


def _undelta(
    x: npt.NDArray[np.int64], hw: int, multi: npt.NDArray[np.intp] | None
) -> npt.NDArray[np.int64]:
    m = x.size
    head = x[:3]
    if (head < 0).any():
        i = int(np.flatnonzero(head < 0)[0])
        raise ValueError(f"rle counts: run {i} is negative ({int(head[i])})")
    # One-character values lie in -16..15; only longer tokens (or a tiny mask) can be
    # out of range, and bounding them keeps the running sums below from overflowing.
    suspect = x if hw < 16 or multi is None else x[multi]
    if suspect.size and (int(suspect.max()) > hw or int(suspect.min()) < -hw):
        i = int(np.flatnonzero(np.abs(x) > hw)[0])
        raise ValueError(
            f"rle counts: run value {int(x[i])} (token {i}) is out of range for a mask "
            f"of h*w = {hw} pixels"
        )
    if m <= 3:
        return x
    # value[i] = stored[i] + value[i - 2] for i > 2: two interleaved running sums, in
    # place (``x`` is ours; each output only depends on inputs at or before it).
    runs = x
    np.cumsum(runs[1::2], out=runs[1::2])
    np.cumsum(runs[2::2], out=runs[2::2])
    if int(runs.min()) < 0:
        i = int(np.argmax(runs < 0))
        raise ValueError(f"rle counts: run {i} is negative ({int(runs[i])}) after delta decoding")
    return runs


def _parse_uncompressed(counts: Any, hw: int) -> npt.NDArray[np.int64]:
    try:
        arr = np.asarray(counts)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"rle counts={short_repr(counts)}: not a list of integers ({exc})"
        ) from None
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(
            f"rle counts={short_repr(counts)}: uncompressed counts must be a flat list of "
            "non-negative integers"
        )
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and int(arr.max()) > hw:
        raise ValueError(f"rle counts: run value {int(arr.max())} exceeds h*w = {hw}")
    runs = arr.astype(np.int64)
    if (runs < 0).any():
        i = int(np.argmax(runs < 0))
        raise ValueError(f"rle counts: run {i} is negative ({int(runs[i])})")
    if (runs > hw).any():
        i = int(np.argmax(runs > hw))
        raise ValueError(f"rle counts: run {i} = {int(runs[i])} exceeds h*w = {hw}")
    return runs


def _check_total(total: int, hw: int, h: int, w: int) -> None:
    if total > hw:
        raise ValueError(f"rle counts: runs sum to {total} pixels, past h*w = {h}*{w} = {hw}")
    if total < hw:
        raise ValueError(
            f"rle counts: runs sum to {total} pixels, short of h*w = {h}*{w} = {hw} "
            "(a truncated mask; pycocotools would leave the rest undefined)"
        )


# --- expanding runs into pixels -------------------------------------------------------


def _expand(
    runs: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], hw: int
) -> npt.NDArray[np.uint8]:
    """Column-major flat uint8 buffer of ``hw`` pixels from validated ``runs``
    (``ends`` is their running sum)."""
    m = runs.size
    if m < 2 or hw == 0:
        return np.zeros(hw, dtype=np.uint8)
    if hw < _WORD_FILL_MIN_PIXELS_PER_RUN * m:
        if m > 2 and not runs[1:-1].all():
            # Empty interior runs put two toggles on one pixel: write runs one by one.
            values = np.zeros(m, dtype=np.uint8)
            values[1::2] = 1
            return np.repeat(values, runs)
        # Many short runs: mark where the value flips, then a running XOR fills pixels.
        toggles = np.zeros(hw + 1, dtype=np.bool_)
        toggles[ends[:-1]] = True
        return np.logical_xor.accumulate(toggles[:-1]).view(np.uint8)
    starts = ends - runs
    # Each 8-pixel word takes the value of the run holding its first pixel, written as
    # one uint64 (8x fewer writes than pixel by pixel); then the pixels of every run that
    # starts inside a word (fewer than 8 per run) are written byte by byte.
    first_word = (starts + 7) >> 3
    word_count = ((ends + 7) >> 3) - first_word
    pattern = np.zeros(m, dtype=np.uint64)
    pattern[1::2] = _ONES64
    flat = np.repeat(pattern, word_count).view(np.uint8)
    head_len = np.minimum(ends, first_word << 3) - starts
    values = np.zeros(m, dtype=np.uint8)
    values[1::2] = 1
    _fill_ranges(flat, starts, head_len, values)
    return flat[:hw]


def _fill_ranges(
    buf: npt.NDArray[Any],
    starts: npt.NDArray[np.int64],
    lens: npt.NDArray[np.int64],
    values: npt.NDArray[Any],
) -> None:
    """``buf[s:s+n] = v`` for every (s, n, v), with one scatter and no Python loop.
    Empty ranges (n = 0) are fine: np.repeat drops them."""
    offsets = np.cumsum(lens)
    total = int(offsets[-1]) if offsets.size else 0
    if total == 0:
        return
    offsets -= lens
    idx = np.repeat(starts - offsets, lens)
    idx += np.arange(total, dtype=np.int64)
    buf[idx] = np.repeat(values, lens)


# --- encoding ---------------------------------------------------------------------------


def _runs_of(m: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    h, w = m.shape
    hw = h * w
    if hw == 0:
        return np.zeros(1, dtype=np.int64)
    b = m if m.dtype == np.bool_ else m != 0
    change = None
    if not b.flags.f_contiguous and hw >= _SPARSE_ENCODE_MIN_PIXELS:
        change = _sparse_changes(b)
    if change is None:
        # asfortranarray + a view is a faster transposing copy than ravel(order="F").
        flat = np.asfortranarray(b).reshape(-1, order="F").view(np.uint8)
        # Positions where a pixel differs from the one before it in column-major order.
        change = np.flatnonzero(flat[1:] != flat[:-1])
        change += 1
    # The pixel before pixel 0 is an implicit 0, so a mask starting with 1 opens with an
    # empty run of zeros.
    first = int(b[0, 0])
    bounds = np.empty(change.size + 2 + first, dtype=np.int64)
    bounds[: 1 + first] = 0
    bounds[1 + first : -1] = change
    bounds[-1] = hw
    return np.diff(bounds)


def _sparse_changes(b: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64] | None:
    """Column-major positions where the value changes, found without transposing a
    C-ordered mask: vertical neighbours compared in place, then the (few) hits sorted.
    ``None`` when there are too many changes for sorting to pay (noisy masks)."""
    h, w = b.shape
    vertical = b[1:] != b[:-1]  # change between rows r and r + 1 of a column
    count = int(np.count_nonzero(vertical))
    if count * _SPARSE_ENCODE_RATIO > h * w:
        return None
    rows, cols = np.divmod(np.flatnonzero(vertical), w)  # 2-D np.nonzero is far slower
    # Column c starts right after column c - 1 ends: compare its top with that bottom.
    wrap = np.flatnonzero(b[0, 1:] != b[-1, :-1]) + 1
    change = np.concatenate((cols.astype(np.int64) * h + rows + 1, wrap.astype(np.int64) * h))
    change.sort()
    return change


def _to_string(runs: npt.NDArray[np.int64]) -> str:
    x = runs.copy()
    if x.size > 3:
        x[3:] -= runs[1:-2]
    # Values in -16..15 take one character (most do); one unsigned compare finds the rest.
    over = (x + 16).view(np.uint64) >= 32
    first = x.astype(np.uint8)  # low byte; two's complement keeps the low 5 bits right
    first &= _GROUP
    first |= over.view(np.uint8) << 5
    first += np.uint8(_ALPHABET_LO)
    idx = np.flatnonzero(over)
    if idx.size == 0:
        return str(first.tobytes().decode("ascii"))
    # Groups per long value: the smallest k with -2**(5k-1) <= x < 2**(5k-1).
    v = x[idx]
    ngroups = np.full(idx.size, 2, dtype=np.int64)
    for k in range(2, _MAX_GROUPS + 1):  # a fixed number of levels, not a loop over runs
        lim = np.int64(1) << (5 * k - 1)
        wider = (v >= lim) | (v < -lim)
        if not wider.any():
            break
        ngroups += wider
    # The characters after each long value's first one, inserted right after it.
    extra = ngroups - 1
    owner = np.repeat(np.arange(idx.size), extra)
    group = np.arange(owner.size) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    groups = ((v[owner] >> (5 * group)) & _GROUP).astype(np.uint8)
    groups |= (group < ngroups[owner] - 1).view(np.uint8) << 5
    groups += np.uint8(_ALPHABET_LO)
    out = np.insert(first, idx[owner] + 1, groups)
    return str(out.tobytes().decode("ascii"))
