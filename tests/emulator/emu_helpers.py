"""Helpers for the emulator tests: small generated clips and raw HTTP calls."""

from __future__ import annotations

import base64
import io
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from PIL import Image

from kling_widget.api.client import KlingClient

ME = "/v1/videos/multi-elements"
OMNI = "/v1/videos/omni-video"

DISC_COLOUR = (220, 40, 50)


def disc_mask(width: int, height: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Pixel-centre disc test: bool (h, w)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r


def disc_centre(frame: int, width: int, height: int) -> tuple[float, float]:
    """Where the test clip's disc is on ``frame`` (pixels)."""
    return width * 0.3 + 6.0 * frame, height * 0.5


def write_clip(
    path: Path,
    width: int = 720,
    height: int = 720,
    fps: int = 24,
    seconds: float = 2.0,
    disc: bool = True,
) -> Path:
    """A small H.264 clip: a red disc moving right over a green checker texture."""
    rng = np.random.default_rng(7)
    tiles = rng.integers(60, 170, size=(height // 24 + 1, width // 24 + 1, 3)).astype(np.uint8)
    tiles[..., 0] //= 2  # keep the background away from the disc's red
    background = np.repeat(np.repeat(tiles, 24, axis=0), 24, axis=1)[:height, :width]
    frames = round(seconds * fps)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for f in range(frames):
            img = background.copy()
            if disc:
                cx, cy = disc_centre(f, width, height)
                img[disc_mask(width, height, cx, cy, min(width, height) * 0.12)] = DISC_COLOUR
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def png_b64(
    width: int = 400, height: int = 400, colour: tuple[int, int, int] = (30, 90, 230)
) -> str:
    """Raw base64 of a solid PNG (no data: prefix)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def client_of(emu: Any, **kwargs: Any) -> KlingClient:
    """A ``KlingClient`` with the emulator's credentials (the key pair when it has one)."""
    return KlingClient(**emu.client_options(), **kwargs)


def call(
    emu: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """A raw request to the emulator with a valid token unless one is given."""
    hdrs = {"Authorization": f"Bearer {token if token is not None else emu.bearer_token()}"}
    hdrs.update(headers or {})
    return httpx.request(
        method,
        emu.base_url + path,
        json=body,
        headers=hdrs,
        params=params,
        timeout=120.0,
    )


def assert_envelope(resp: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """The reply is an envelope with this HTTP status and code and a UUID request_id."""
    body = resp.json()
    assert resp.status_code == status, (resp.status_code, body)
    assert set(body) == {"code", "message", "request_id", "data"}, body
    assert body["code"] == code, body
    uuid.UUID(body["request_id"])
    assert resp.headers["X-Request-Id"] == body["request_id"]
    return body
