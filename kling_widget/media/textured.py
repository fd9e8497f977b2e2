"""Test clips built from real photographs, with exact ground truth.

Each clip composites a textured object (a patch of one photograph, cut by an analytic
shape) over a textured background (another photograph) seen through a moving camera
(pan and zoom); one clip also has an opaque textured bar passing in front of the object.
Objects are painted with hard edges, so ``mask(f, id)`` is exactly the set of pixels that
show the object in frame ``f`` (before H.264 compression) and ``background(f)`` is what
those pixels would show without it.

The photographs are those scikit-image ships (``skimage.data``), imported only when a
clip is built; nothing at runtime depends on this module.

Imports only NumPy, OpenCV and the samples' clip writer (plus scikit-image when building).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from kling_widget.media.samples import write_test_clip

__all__ = ["TEXTURED_NAMES", "TexturedClip", "make_textured"]

Image = NDArray[np.uint8]
TEXTURED_VERSION = 1


@dataclass(frozen=True)
class _Spec:
    background: str  # skimage.data name
    tint: tuple[float, float, float]  # applied to grey photographs
    texture: str  # the object's photograph
    texture_box: tuple[float, float, float, float]  # (x0, y0, x1, y1) fraction of the photo
    start: tuple[float, float]  # object's world centre at frame 0 (fraction of frame size)
    velocity: tuple[float, float]  # world motion over the whole clip (fraction of frame)
    radius: float  # fraction of the frame's shorter side
    aspect: float
    wobble: float  # amplitude of the outline's three-lobed wobble
    pan: tuple[float, float]  # camera motion over the whole clip (fraction of frame)
    zoom: float  # scale at the last frame (>1: zooming in)
    occluder: str | None = None


_SPECS: dict[str, _Spec] = {
    "fur_on_gravel": _Spec(
        "gravel",
        (0.92, 0.95, 1.0),
        "chelsea",
        (0.3, 0.0, 0.7, 0.35),
        (0.38, 0.5),
        (0.25, 0.02),
        0.2,
        1.25,
        0.12,
        (0.18, 0.0),
        1.0,
    ),
    "straw_on_brick": _Spec(
        "brick",
        (1.0, 0.86, 0.74),
        "grass",
        (0.1, 0.1, 0.6, 0.6),
        (0.45, 0.52),
        (0.12, -0.1),
        0.22,
        1.1,
        0.08,
        (0.06, 0.04),
        1.25,
    ),
    "stone_on_grass": _Spec(
        "grass",
        (0.8, 1.0, 0.7),
        "gravel",
        (0.2, 0.2, 0.8, 0.8),
        (0.6, 0.45),
        (-0.2, 0.06),
        0.18,
        0.85,
        0.1,
        (-0.1, 0.05),
        1.12,
    ),
    "fur_behind_bar": _Spec(
        "camera",
        (1.0, 0.97, 0.9),
        "chelsea",
        (0.0, 0.25, 0.3, 0.75),
        (0.3, 0.5),
        (0.35, 0.0),
        0.2,
        1.3,
        0.06,
        (0.1, 0.0),
        1.0,
        occluder="brick",
    ),
}
# Colours given to grey object photographs.
_TINTS = {"straw_on_brick": (1.0, 0.85, 0.45), "stone_on_grass": (1.0, 0.88, 0.75)}
TEXTURED_NAMES = tuple(_SPECS)


def _photo(name: str) -> Image:
    from skimage import data  # only when building a clip

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _tinted(img: Image, tint: tuple[float, float, float]) -> Image:
    out = img.astype(np.float32) * np.array(tint, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


class TexturedClip:
    """A composited clip: ``path``, size, frame count and exact per-frame truth."""

    def __init__(
        self, name: str, path: Path, width: int, height: int, frames: int, fps: int
    ) -> None:
        spec = _SPECS[name]
        self.name, self.path, self.fps = name, path, float(fps)
        self.width, self.height, self.frame_count = width, height, frames
        self._spec = spec
        self.object_ids: tuple[int, ...] = (1,)
        # The world: the background photo stretched to twice the frame's size, so the
        # camera never looks past its edge while panning and zooming.
        world = _tinted(_photo(spec.background), spec.tint)
        self._world = cv2.resize(world, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
        tex = _tinted(_photo(spec.texture), _TINTS.get(name, (1.0, 1.0, 1.0)))
        th, tw = tex.shape[:2]
        x0, y0, x1, y1 = spec.texture_box
        self._texture = np.ascontiguousarray(
            tex[int(y0 * th) : int(y1 * th), int(x0 * tw) : int(x1 * tw)]
        )
        self._clear: list[NDArray[np.uint8]] | None = None
        self._bar = _tinted(_photo(spec.occluder), (0.75, 0.8, 0.95)) if spec.occluder else None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frame_count / self.fps

    def _t(self, f: int) -> float:
        return f / max(1, self.frame_count - 1)

    def _camera(self, f: int) -> NDArray[np.float64]:
        """2x3 matrix mapping frame pixel centres to world coordinates."""
        t, s = self._t(f), self._spec
        scale = 1.0 / (1.0 + (s.zoom - 1.0) * t)
        cx = self.width + s.pan[0] * t * self.width
        cy = self.height + s.pan[1] * t * self.height
        return np.array(
            [
                [scale, 0.0, cx - scale * self.width / 2],
                [0.0, scale, cy - scale * self.height / 2],
            ]
        )

    def _world_grid(self, f: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        m = self._camera(f)
        xs = np.arange(self.width, dtype=np.float32)[None, :]
        ys = np.arange(self.height, dtype=np.float32)[:, None]
        wx = (m[0, 0] * xs + m[0, 2]).astype(np.float32) + 0 * ys
        wy = (m[1, 1] * ys + m[1, 2]).astype(np.float32) + 0 * xs
        return wx, wy

    def _object_local(
        self, f: int, wx: NDArray[np.float32], wy: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]:
        s, t = self._spec, self._t(f)
        short = min(self.width, self.height)
        ox = self.width / 2 + (s.start[0] + s.velocity[0] * t) * self.width
        oy = self.height / 2 + (s.start[1] + s.velocity[1] * t) * self.height
        lx, ly = (wx - ox) / (s.radius * short * s.aspect), (wy - oy) / (s.radius * short)
        theta = np.arctan2(ly, lx)
        reach = 1.0 + s.wobble * np.cos(3 * theta + 0.7)
        inside = np.hypot(lx, ly) <= reach
        return lx, ly, inside

    def _bar_inside(
        self, f: int, wx: NDArray[np.float32], wy: NDArray[np.float32]
    ) -> NDArray[np.bool_]:
        # A vertical bar moving left across the middle third of the clip's world.
        t = self._t(f)
        centre = self.width * (1.0 + 0.9 - 0.9 * t)
        half = 0.07 * self.width
        return np.asarray((np.abs(wx - centre) <= half) & (wy > 0.55 * self.height))

    def background(self, f: int) -> Image:
        """The clean background of frame ``f``."""
        m = self._camera(f)
        out = cv2.warpAffine(
            self._world,
            m,
            (self.width, self.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
        return np.asarray(out, dtype=np.uint8)

    def _layers(self, f: int) -> tuple[Image, NDArray[np.bool_], NDArray[np.bool_] | None]:
        wx, wy = self._world_grid(f)
        lx, ly, inside = self._object_local(f, wx, wy)
        th, tw = self._texture.shape[:2]
        mx = ((lx * 0.5 + 0.5) * (tw - 1)).astype(np.float32)
        my = ((ly * 0.5 + 0.5) * (th - 1)).astype(np.float32)
        obj = cv2.remap(self._texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        bar = self._bar_inside(f, wx, wy) if self._bar is not None else None
        return np.asarray(obj, np.uint8), inside, bar

    def mask(self, f: int, object_id: int = 1) -> NDArray[np.bool_]:
        """Visible pixels of the object in frame ``f``."""
        if object_id not in self.object_ids:
            raise KeyError(f"object_id={object_id!r}: clip {self.name!r} has {self.object_ids}")
        _, inside, bar = self._layers(f)
        return inside & ~bar if bar is not None else inside

    def frame(self, f: int) -> Image:
        """The rendered frame (before compression)."""
        img = self.background(f)
        obj, inside, bar = self._layers(f)
        img[inside] = obj[inside]
        if bar is not None and self._bar is not None:
            m = self._camera(f)
            tex = cv2.warpAffine(
                self._bar,
                m,
                (self.width, self.height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
            img[bar] = tex[bar]
        return img

    def centre(self, f: int, object_id: int = 1) -> tuple[float, float]:
        """Normalized (x, y) of a point well inside the visible object."""
        m = self.mask(f, object_id).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        return float((x + 0.5) / self.width), float((y + 0.5) / self.height)

    def revealed(self, f: int) -> NDArray[np.bool_]:
        """Pixels of the object in frame ``f`` whose background some other frame shows
        (neither the object nor the bar covers that spot of the world there)."""
        if self._clear is None:
            clear = []
            for g in range(self.frame_count):
                _, inside, bar = self._layers(g)
                hidden = inside | bar if bar is not None else inside
                clear.append(np.packbits(~hidden, axis=None))
            self._clear = clear
        region = self.mask(f)
        out = np.zeros_like(region)
        here = np.vstack([self._camera(f), [0.0, 0.0, 1.0]])
        size = (self.width, self.height)
        for g in range(self.frame_count):
            if g == f:
                continue
            there = np.vstack([self._camera(g), [0.0, 0.0, 1.0]])
            # Frame f pixel -> world -> frame g pixel.
            to_g = (np.linalg.inv(there) @ here)[:2]
            clear_g = np.unpackbits(self._clear[g])[: self.width * self.height]
            clear_g = clear_g.reshape(self.height, self.width)
            seen = cv2.warpAffine(
                clear_g, to_g, size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0
            )
            out |= region & (seen > 0)
        return out

    def occluded_frames(self, object_id: int = 1) -> list[int]:
        """Frames where part of the object is hidden by the bar."""
        out = []
        for f in range(self.frame_count):
            _, inside, bar = self._layers(f)
            if bar is not None and (inside & bar).any():
                out.append(f)
        return out


def make_textured(
    name: str,
    dest_dir: str | os.PathLike[str],
    width: int = 1280,
    height: int = 720,
    frames: int = 150,
    fps: int = 30,
) -> TexturedClip:
    """Build (once; cached by content) the textured clip ``name`` in ``dest_dir``."""
    if name not in _SPECS:
        raise ValueError(f"name={name!r}: must be one of {', '.join(TEXTURED_NAMES)}")
    if width % 2 or height % 2 or width < 64 or height < 64:
        raise ValueError(f"size={width}x{height}: sides must be even and at least 64")
    key = repr((TEXTURED_VERSION, _SPECS[name], width, height, frames, fps))
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = Path(dest_dir)
    folder.mkdir(parents=True, exist_ok=True)
    clip = TexturedClip(name, folder / f"{name}-{digest}.mp4", width, height, frames, fps)
    if not clip.path.exists():
        frames_rgb = (clip.frame(f) for f in range(clip.frame_count))
        write_test_clip(frames_rgb, width, height, fps, clip.path)
    return clip
