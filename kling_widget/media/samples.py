"""Deterministic sample clips with exact ground truth, and a sample reference image.

The samples are the demo material and the yardstick for segmentation and
removal quality: every object is drawn with hard edges from an analytic shape,
so ``Sample.mask(f, id)`` is exactly the set of pixels painted with that
object's colour in frame ``f`` (before H.264 compression), and
``Sample.background(f)`` is exactly what those pixels would show without it.

``make_sample("static")``: fixed camera, textured background, a red ball moving across.
``make_sample("pan")``: a slow pan over a wider textured background, a blue box behind
an orange ball that passes in front of it (partial occlusion for most of the clip).
``write_test_clip`` encodes generated frames (these samples and ``media.textured``'s).

Imports only NumPy, Pillow and PyAV (``media.video`` for type hints only).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from kling_widget.media.video import VideoSource

__all__ = [
    "SAMPLE_IMAGE_KINDS",
    "SAMPLE_NAMES",
    "Sample",
    "default_samples_dir",
    "make_sample",
    "sample_image",
    "write_test_clip",
]

# Bump when the drawing changes: it is part of the cached file's name.
SAMPLES_VERSION = 1
SAMPLE_NAMES = ("static", "pan")
SAMPLE_IMAGE_KINDS = ("sticker", "logo")

_WIDTH, _HEIGHT, _FPS, _FRAMES = 1280, 720, 30, 150
_PAN_PX_PER_FRAME = 2
# Shading across an object, in levels either side of its colour: enough to look
# solid, small enough that the colour stays unmistakable for a region-growing segmenter.
_SHADE = 10


@dataclass(frozen=True)
class _Shape:
    """An object: a disc (``half_h == 0``) or a rounded box, moving on a straight line."""

    object_id: int
    name: str
    colour: tuple[int, int, int]
    # World coordinates of the centre at frame 0 and its motion per frame (px).
    start: tuple[float, float]
    velocity: tuple[float, float]
    half_w: float
    half_h: float = 0.0
    corner: float = 0.0
    # Vertical bobbing amplitude (px) over the whole clip, one period.
    bob: float = 0.0

    def centre(self, f: int) -> tuple[float, float]:
        x = self.start[0] + self.velocity[0] * f
        y = self.start[1] + self.velocity[1] * f + self.bob * math.sin(2 * math.pi * f / _FRAMES)
        return x, y

    def extent(self) -> tuple[float, float]:
        return (self.half_w, self.half_w) if self.half_h == 0 else (self.half_w, self.half_h)

    def inside(self, xs: np.ndarray, ys: np.ndarray, cx: float, cy: float) -> np.ndarray:
        """Pixel-centre test on the grids ``xs`` (1, w) and ``ys`` (h, 1)."""
        dx = np.abs(xs + 0.5 - cx)
        dy = np.abs(ys + 0.5 - cy)
        if self.half_h == 0:
            return np.asarray(dx * dx + dy * dy <= self.half_w * self.half_w)
        ex = np.maximum(dx - (self.half_w - self.corner), 0.0)
        ey = np.maximum(dy - (self.half_h - self.corner), 0.0)
        box = (dx <= self.half_w) & (dy <= self.half_h)
        return np.asarray(box & (ex * ex + ey * ey <= self.corner * self.corner))


@dataclass(frozen=True)
class _Spec:
    name: str
    seed: int
    world_width: int
    pan: int  # camera motion in px per frame
    shapes: tuple[_Shape, ...]  # back to front
    palette: tuple[tuple[int, int, int], tuple[int, int, int]]  # texture dark/light


_SPECS = {
    "static": _Spec(
        name="static",
        seed=20240601,
        world_width=_WIDTH,
        pan=0,
        shapes=(_Shape(1, "red ball", (214, 38, 46), (250.0, 380.0), (5.2, 0.0), 72.0, bob=70.0),),
        palette=((78, 96, 74), (150, 160, 128)),
    ),
    "pan": _Spec(
        name="pan",
        seed=20240602,
        world_width=_WIDTH + _PAN_PX_PER_FRAME * _FRAMES,
        pan=_PAN_PX_PER_FRAME,
        shapes=(
            _Shape(1, "blue box", (38, 84, 212), (700.0, 370.0), (1.0, 0.0), 130.0, 105.0, 36.0),
            _Shape(2, "orange ball", (246, 160, 28), (420.0, 500.0), (5.0, 0.0), 80.0),
        ),
        palette=((92, 84, 70), (168, 156, 132)),
    ),
}


def default_samples_dir() -> Path:
    """Where generated samples are cached: ``$XDG_CACHE_HOME/kling-widget/samples``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kling-widget" / "samples"


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a small 2-D grid to (height, width), in float32."""
    gh, gw = grid.shape
    ys = np.linspace(0, gh - 1, height, dtype=np.float32)
    xs = np.linspace(0, gw - 1, width, dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int32), gh - 2)
    x0 = np.minimum(xs.astype(np.int32), gw - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy, dtype=np.float32)


def _texture(spec: _Spec) -> np.ndarray:
    """The world background: multi-scale value noise in the spec's palette, plus grain."""
    rng = np.random.default_rng(spec.seed)
    h, w = _HEIGHT, spec.world_width
    value = np.zeros((h, w), np.float32)
    for cells, weight in ((6, 0.5), (18, 0.3), (60, 0.2)):
        grid = rng.random((cells + 1, round(cells * w / h) + 2), dtype=np.float32)
        value += weight * _upsample(grid, h, w)
    dark = np.array(spec.palette[0], np.float32)
    light = np.array(spec.palette[1], np.float32)
    img = dark + (light - dark) * value[..., None]
    img += rng.normal(0.0, 4.0, (h, w, 1)).astype(np.float32)
    return np.asarray(np.clip(np.rint(img), 0, 255), dtype=np.uint8)


@dataclass
class Sample:
    """A generated clip and its exact ground truth.

    ``mask(f, id)`` is the visible pixels of object ``id`` in frame ``f`` (hidden
    parts of an occluded object excluded), ``background(f)`` the clean plate,
    ``frame(f)`` the uncompressed rendered frame, ``centre(f, id)`` the
    normalized (x, y) centre of the visible object.
    """

    name: str
    path: Path
    fps: float
    width: int
    height: int
    frame_count: int
    object_ids: tuple[int, ...]
    object_names: dict[int, str]
    object_colours: dict[int, tuple[int, int, int]]
    _spec: _Spec = field(repr=False)
    _world: np.ndarray = field(repr=False)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frame_count / self.fps

    def _check_frame(self, frame_index: int) -> int:
        if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
            raise TypeError(f"frame_index must be an int, got {type(frame_index).__name__}")
        if not 0 <= frame_index < self.frame_count:
            raise IndexError(
                f"frame_index={frame_index}: must be 0–{self.frame_count - 1} "
                f"(sample {self.name!r} has {self.frame_count} frames)"
            )
        return int(frame_index)

    def _shape(self, object_id: int) -> _Shape:
        for shape in self._spec.shapes:
            if shape.object_id == object_id:
                return shape
        raise KeyError(
            f"object_id={object_id!r}: sample {self.name!r} has objects {self.object_ids}"
        )

    def _camera(self, f: int) -> int:
        return self._spec.pan * f

    def _full_mask(self, f: int, shape: _Shape) -> np.ndarray:
        """Every pixel inside ``shape`` in frame ``f``, hidden or not."""
        out = np.zeros((self.height, self.width), bool)
        wx, cy = shape.centre(f)
        cx = wx - self._camera(f)
        ex, ey = shape.extent()
        x0, x1 = max(0, math.floor(cx - ex) - 1), min(self.width, math.ceil(cx + ex) + 1)
        y0, y1 = max(0, math.floor(cy - ey) - 1), min(self.height, math.ceil(cy + ey) + 1)
        if x0 >= x1 or y0 >= y1:
            return out
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        out[y0:y1, x0:x1] = shape.inside(xs, ys, cx, cy)
        return out

    def mask(self, frame_index: int, object_id: int) -> np.ndarray:
        """Visible pixels of ``object_id`` in frame ``frame_index``: bool (h, w)."""
        f = self._check_frame(frame_index)
        shape = self._shape(object_id)
        visible = self._full_mask(f, shape)
        shapes = self._spec.shapes
        for front in shapes[shapes.index(shape) + 1 :]:
            visible &= ~self._full_mask(f, front)
        return visible

    def background(self, frame_index: int) -> np.ndarray:
        """The clean background of frame ``frame_index``: (h, w, 3) uint8, a new array."""
        f = self._check_frame(frame_index)
        x = self._camera(f)
        return np.array(self._world[:, x : x + self.width])

    def frame(self, frame_index: int) -> np.ndarray:
        """The rendered frame (before compression): (h, w, 3) uint8."""
        f = self._check_frame(frame_index)
        img = self.background(f)
        shade = np.linspace(_SHADE, -_SHADE, self.height, dtype=np.float32)[:, None]
        for shape in self._spec.shapes:
            m = self._full_mask(f, shape)
            # A top-lit look: each row a little lighter above, darker below.
            rows = np.clip(np.rint(np.array(shape.colour, np.float32) + shade), 0, 255)
            paint = np.broadcast_to(rows.astype(np.uint8)[:, None, :], img.shape)
            img[m] = paint[m]
        return img

    def centre(self, frame_index: int, object_id: int) -> tuple[float, float]:
        """Normalized (x, y) in [0, 1] of the visible object's centroid (pixel centres)."""
        m = self.mask(frame_index, object_id)
        ys, xs = np.nonzero(m)
        if xs.size == 0:
            raise ValueError(f"object_id={object_id} is not visible in frame {frame_index}")
        return float((xs.mean() + 0.5) / self.width), float((ys.mean() + 0.5) / self.height)

    def occluded_frames(self, object_id: int) -> list[int]:
        """Frames where part of ``object_id`` is hidden by an object in front of it."""
        shape = self._shape(object_id)
        return [
            f
            for f in range(self.frame_count)
            if self.mask(f, object_id).sum() < self._full_mask(f, shape).sum()
        ]

    def source(self) -> VideoSource:
        """The clip as a ``VideoSource``."""
        from kling_widget.media.video import VideoSource

        return VideoSource(self.path)

    def describe(self) -> str:
        """A few lines on what the clip shows and where its file is."""
        spec = self._spec
        camera = (
            f"camera pans right {spec.pan} px/frame over a {spec.world_width} px wide background"
            if spec.pan
            else "static camera"
        )
        lines = [
            f"sample {self.name!r}: {self.width}x{self.height}, {self.fps:g} fps, "
            f"{self.frame_count} frames ({self.duration:g} s), H.264 yuv420p; {camera}",
        ]
        for i, shape in enumerate(spec.shapes):
            where = "in front" if i == len(spec.shapes) - 1 and i > 0 else ""
            if i < len(spec.shapes) - 1:
                where = "behind " + ", ".join(s.name for s in spec.shapes[i + 1 :])
            x, y = self.centre(0, shape.object_id)
            lines.append(
                f"  object {shape.object_id}: {shape.name} rgb{shape.colour}"
                f"{' (' + where + ')' if where else ''}, at ({x:.2f}, {y:.2f}) in frame 0"
            )
        lines.append(f"  file: {self.path}")
        return "\n".join(lines)


def _fingerprint(spec: _Spec, world: np.ndarray) -> str:
    """Hash of everything the video depends on: version, spec and the rendered texture."""
    h = hashlib.sha256()
    h.update(json.dumps([SAMPLES_VERSION, repr(spec), _WIDTH, _HEIGHT, _FPS, _FRAMES]).encode())
    h.update(world.tobytes())
    return h.hexdigest()[:12]


def write_test_clip(
    frames: Iterable[np.ndarray], width: int, height: int, fps: int, dest: Path
) -> None:
    """Encode RGB ``frames`` as an H.264 mp4 at ``dest`` (near-lossless, a key frame every
    second, moov first), atomically: a partly written file never takes ``dest``'s name."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".mp4")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream(
                "libx264", rate=Fraction(fps), options={"crf": "18", "preset": "veryfast"}
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.gop_size = fps
            for rgb in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            out.mux(stream.encode(None))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def make_sample(name: str, dest_dir: str | os.PathLike[str] | None = None) -> Sample:
    """The sample clip ``name`` (``"static"`` or ``"pan"``), generated once and cached.

    The file lives in ``dest_dir`` (default ``default_samples_dir()``) under a
    name holding a hash of its content, so a changed generator never reuses a
    stale file; a missing file is regenerated.
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"name={name!r}: must be one of {', '.join(SAMPLE_NAMES)}")
    folder = Path(dest_dir).expanduser() if dest_dir is not None else default_samples_dir()
    world = _texture(spec)
    sample = Sample(
        name=name,
        path=folder / f"{name}-{_fingerprint(spec, world)}.mp4",
        fps=float(_FPS),
        width=_WIDTH,
        height=_HEIGHT,
        frame_count=_FRAMES,
        object_ids=tuple(s.object_id for s in spec.shapes),
        object_names={s.object_id: s.name for s in spec.shapes},
        object_colours={s.object_id: s.colour for s in spec.shapes},
        _spec=spec,
        _world=world,
    )
    if not sample.path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        frames = (sample.frame(f) for f in range(sample.frame_count))
        write_test_clip(frames, sample.width, sample.height, _FPS, sample.path)
    return sample


def _star(
    cx: float, cy: float, outer: float, inner: float, points: int = 5
) -> list[tuple[float, float]]:
    out = []
    for k in range(points * 2):
        r = outer if k % 2 == 0 else inner
        a = -math.pi / 2 + k * math.pi / points
        out.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return out


def sample_image(kind: str = "sticker") -> Image.Image:
    """A 512x512 PNG reference image that passes Kling's image rules.

    ``"sticker"``: a yellow star with an orange rim on white (for addition);
    ``"logo"``: a purple hexagon badge with a white ring (for swap).
    The image is returned as decoded from its PNG bytes, so ``img.format == "PNG"``.
    """
    if kind not in SAMPLE_IMAGE_KINDS:
        raise ValueError(f"kind={kind!r}: must be one of {', '.join(SAMPLE_IMAGE_KINDS)}")
    size, ss = 512, 2  # drawn at twice the size, then downsampled for smooth edges
    big = Image.new("RGB", (size * ss, size * ss), (255, 255, 255))
    draw = ImageDraw.Draw(big)
    c = size * ss / 2
    if kind == "sticker":
        draw.polygon(_star(c, c * 1.04, c * 0.92, c * 0.40), fill=(236, 120, 20))
        draw.polygon(_star(c, c * 1.04, c * 0.78, c * 0.34), fill=(255, 212, 40))
    else:
        hexagon = [
            (
                c + c * 0.9 * math.cos(math.pi / 6 + k * math.pi / 3),
                c + c * 0.9 * math.sin(math.pi / 6 + k * math.pi / 3),
            )
            for k in range(6)
        ]
        draw.polygon(hexagon, fill=(112, 48, 160))
        r = c * 0.45
        draw.ellipse((c - r, c - r, c + r, c + r), outline=(255, 255, 255), width=round(c * 0.12))
    img = big.resize((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out
