"""Reference images: every way in, every documented rule, and fixes that pass them."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kling_widget.errors import KlingValidationError
from kling_widget.limits import IMAGE_MAX_BYTES, IMAGE_MIN_SIDE
from kling_widget.media import images as images_mod
from kling_widget.media.images import ReferenceImage, reference_image
from kling_widget.media.violations import Violation, raise_for


def encoded(arr: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(h: int, w: int, channels: int = 3) -> np.ndarray:
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    base = np.stack(
        [np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)), np.full((h, w), 90, np.float32)],
        axis=-1,
    )
    if channels == 4:
        base = np.concatenate([base, np.full((h, w, 1), 255, np.float32)], axis=-1)
    return base.astype(np.uint8)


def fields(img: ReferenceImage) -> list[str]:
    return [v.field for v in img.check()]


# --- loading ----------------------------------------------------------------------------


def test_load_from_path_str_and_pathlike(tmp_path: Path) -> None:
    arr = gradient(400, 500)
    path = tmp_path / "ref.png"
    path.write_bytes(encoded(arr, "PNG"))
    for src in (path, str(path)):
        img = ReferenceImage.load(src)
        assert (img.format, img.width, img.height) == ("png", 500, 400)
        assert img.data == path.read_bytes()
        assert img.nbytes == path.stat().st_size
        np.testing.assert_array_equal(np.asarray(img.to_pil()), arr)


def test_load_from_bytes_keeps_the_file_as_is() -> None:
    data = encoded(gradient(320, 320), "JPEG", quality=80)
    img = ReferenceImage.load(data)
    assert img.format == "jpeg" and img.data == data and img.mime == "image/jpeg"


def test_load_from_array_rgb_rgba_gray() -> None:
    for arr in (gradient(300, 310), gradient(300, 310, 4)):
        img = ReferenceImage.load(arr)
        assert img.format == "png"
        np.testing.assert_array_equal(np.asarray(img.to_pil()), arr)  # PNG: lossless
    gray = gradient(300, 310)[..., 0]
    back = np.asarray(ReferenceImage.load(gray).to_pil())
    np.testing.assert_array_equal(back, np.stack([gray] * 3, axis=-1))  # stored as RGB


def test_load_from_pil_image() -> None:
    pil = Image.fromarray(gradient(330, 340))
    img = ReferenceImage.load(pil)
    assert (img.width, img.height, img.format) == (340, 330, "png")


def test_load_from_base64_and_data_uri() -> None:
    data = encoded(gradient(300, 300), "PNG")
    b64 = base64.b64encode(data).decode()
    assert ReferenceImage.load(b64).data == data
    assert ReferenceImage.load("data:image/png;base64," + b64).data == data
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    assert ReferenceImage.load(wrapped).data == data


@pytest.fixture()
def http_server() -> Iterator[str]:
    files = {"/ok.png": encoded(gradient(300, 400), "PNG")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_from_url(http_server: str) -> None:
    img = ReferenceImage.load(f"{http_server}/ok.png?X-Signature=secret123")
    assert (img.format, img.width, img.height) == ("png", 400, 300)
    assert "secret123" not in repr(img)  # query strings often carry signatures


def test_load_from_url_errors_are_clear_and_redacted(http_server: str) -> None:
    with pytest.raises(KlingValidationError, match=r"HTTP 404") as info:
        ReferenceImage.load(f"{http_server}/missing.png?token=secret123")
    assert info.value.field == "image"
    assert "secret123" not in str(info.value)
    with pytest.raises(KlingValidationError, match=r"could not be downloaded: .*ConnectError"):
        ReferenceImage.load("http://127.0.0.1:9/none.png?token=secret123", timeout=2)


@pytest.mark.parametrize(
    ("src", "message"),
    [
        (b"not an image at all", r"is not a readable image"),
        ("/no/such/file.png", r"is not an existing file, an http\(s\) URL"),
        ("photos/cat", r"image='photos/cat': is not an existing file"),  # valid base64 too
        ("QUJD" * 100, r"base64 \(400 chars\).*is not a readable image"),
        ("data:image/png,abc", r"data URI must look like"),
        ("data:image/png;base64,@@@@", r"base64 part is invalid"),
        (np.zeros((10, 10, 3), np.float32), r"must be uint8"),
        (np.zeros((10, 10, 2), np.uint8), r"must be uint8 \(h, w\)"),
        (12345, r"must be a path, bytes, URL"),
    ],
)
def test_load_errors(src: object, message: str) -> None:
    with pytest.raises(KlingValidationError, match=message) as info:
        ReferenceImage.load(src)
    assert isinstance(info.value, ValueError)


# --- rules ------------------------------------------------------------------------------


def test_a_good_image_has_no_violations_and_fix_returns_it() -> None:
    img = ReferenceImage.load(encoded(gradient(600, 800), "JPEG"))
    assert img.check() == []
    assert img.fix() is img
    assert reference_image(img.data).data == img.data


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "BMP", "TIFF"])
def test_other_formats_violate_and_are_converted(fmt: str) -> None:
    arr = gradient(400, 500)
    img = ReferenceImage.load(encoded(arr, fmt))
    assert img.format == fmt.lower()
    [v] = img.check()
    assert v.field == "format" and "jpg/jpeg or png" in v.rule
    fixed = img.fix()
    assert fixed.check() == []
    assert fixed.format == ("jpeg" if fmt == "WEBP" else "png")
    assert (fixed.width, fixed.height) == (500, 400)
    assert fixed.notes[0] == f"converted {fmt.lower()} -> {fixed.format}"


def test_transparent_png_stays_png_with_alpha() -> None:
    arr = gradient(300, 300, 4)
    arr[:50, :, 3] = 0
    img = ReferenceImage.load(encoded(arr, "WEBP", lossless=True))
    fixed = img.fix()
    assert fixed.format == "png"
    back = np.asarray(fixed.to_pil())
    assert back.shape == (300, 300, 4) and (back[:50, :, 3] == 0).all()


def test_too_small_is_upscaled_to_the_minimum_side() -> None:
    img = ReferenceImage.load(encoded(gradient(150, 200), "PNG"))
    [v] = img.check()
    assert v.field == "size" and v.value == "200x150"
    assert str(v) == (
        "size 200x150: each side must be at least 300 px — fix() will upscale to 400x300"
    )
    fixed = img.fix()
    assert (fixed.width, fixed.height) == (400, IMAGE_MIN_SIDE)
    assert fixed.check() == []


@pytest.mark.parametrize(("h", "w"), [(400, 1100), (1100, 400), (310, 3000), (3000, 310)])
def test_bad_aspect_is_padded_with_the_edge_colour(h: int, w: int) -> None:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:] = (200, 40, 10)
    arr[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = (0, 0, 255)  # content in the middle
    img = ReferenceImage.load(encoded(arr, "PNG"))
    assert "aspect ratio" in fields(img)
    fixed = img.fix()
    assert fixed.check() == []
    fw, fh = fixed.width, fixed.height
    assert 1 / 2.5 <= fw / fh <= 2.5
    out = np.asarray(fixed.to_pil())
    # Nothing cropped: the original sits in the middle, pixel for pixel (PNG).
    oy, ox = (fh - h) // 2, (fw - w) // 2
    np.testing.assert_array_equal(out[oy : oy + h, ox : ox + w], arr)
    # The padding is the edge colour.
    assert (out[0, 0] == (200, 40, 10)).all() and (out[-1, -1] == (200, 40, 10)).all()
    # The smallest canvas: one pixel less would break the rule.
    if fh > h:
        assert fw / (fh - 1) > 2.5
    else:
        assert (fw - 1) / fh < 1 / 2.5


def test_tiny_and_extreme_needs_pad_then_upscale() -> None:
    img = ReferenceImage.load(encoded(gradient(20, 200), "PNG"))
    assert fields(img) == ["size", "aspect ratio"]
    fixed = img.fix()
    assert fixed.check() == []
    assert min(fixed.width, fixed.height) == IMAGE_MIN_SIDE
    assert len(fixed.notes) == 3  # padded, upscaled, encoded


def test_oversized_file_is_recompressed_under_10_mb() -> None:
    # A small JPEG followed by 11 MB of trailing bytes (as bloated metadata would be).
    data = encoded(gradient(600, 800), "JPEG") + b"\0" * (IMAGE_MAX_BYTES + 1024)
    img = ReferenceImage.load(data)
    [v] = img.check()
    assert v.field == "file size" and v.value == "10.0 MB"
    fixed = img.fix()
    assert fixed.check() == [] and fixed.nbytes < IMAGE_MAX_BYTES
    assert fixed.format == "jpeg" and (fixed.width, fixed.height) == (800, 600)


def test_quality_steps_down_then_scales_until_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink the limit so noise needs several steps; the code reads the module's name.
    monkeypatch.setattr(images_mod, "IMAGE_MAX_BYTES", 60_000)
    noise = np.random.default_rng(0).integers(0, 256, (400, 520, 3), dtype=np.uint8)
    img = ReferenceImage.load(noise)
    assert "file size" in fields(img)
    fixed = img.fix()
    assert fixed.nbytes <= 60_000 and fixed.format == "jpeg"
    assert min(fixed.width, fixed.height) >= IMAGE_MIN_SIDE
    assert fixed.width < 520  # quality alone was not enough for noise
    assert fixed.notes[-1].startswith("encoded as jpeg quality ")
    assert f"{fixed.width}x{fixed.height}" in fixed.notes[-1]


def test_to_base64_is_raw_and_round_trips() -> None:
    data = encoded(gradient(300, 300), "PNG")
    b64 = ReferenceImage.load(data).to_base64()
    assert not b64.startswith("data:") and "\n" not in b64
    assert base64.b64decode(b64) == data
    assert ReferenceImage.load(data).to_data_uri().startswith("data:image/png;base64,")


def test_thumbnail_is_a_small_png_keeping_aspect() -> None:
    thumb = ReferenceImage.load(encoded(gradient(300, 900), "JPEG")).thumbnail(96)
    with Image.open(io.BytesIO(thumb)) as t:
        assert t.format == "PNG" and t.size == (96, 32)
    with pytest.raises(ValueError, match=r"size=0"):
        ReferenceImage.load(encoded(gradient(300, 300), "PNG")).thumbnail(0)


def test_save_writes_the_bytes(tmp_path: Path) -> None:
    img = ReferenceImage.load(encoded(gradient(300, 300), "PNG"))
    assert img.save(tmp_path / "x.png").read_bytes() == img.data


def test_reference_image_raises_or_fixes() -> None:
    small = encoded(gradient(100, 100), "WEBP")
    with pytest.raises(KlingValidationError) as info:
        reference_image(small)
    err = info.value
    assert err.field == "format" and err.value == "webp"
    assert "must be jpg/jpeg or png — fix() will convert to jpeg" in err.rule
    assert "(and 1 more problem: size)" in err.rule
    fixed = reference_image(small, fix=True)
    assert fixed.check() == [] and fixed.format == "jpeg"


def test_violation_str_and_raise_for() -> None:
    v = Violation("fps", 25.0, "must be 24, 30 or 60", "conform() will resample to 30")
    assert str(v) == "fps 25: must be 24, 30 or 60 — conform() will resample to 30"
    raise_for([])  # nothing to raise
    with pytest.raises(KlingValidationError) as info:
        raise_for([v, Violation("width", 640, "must be >= 720"), Violation("x", 1, "r")])
    assert info.value.field == "fps" and info.value.value == 25.0
    assert str(info.value).endswith("(and 2 more problems: width, x)")


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` (the pixel data does not follow)."""
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


def test_truncated_png_is_refused_locally() -> None:
    buf = io.BytesIO()
    Image.effect_noise((400, 400), 64).convert("RGB").save(buf, format="PNG")
    whole = buf.getvalue()
    with pytest.raises(KlingValidationError, match="truncated"):
        ReferenceImage.load(whole[: len(whole) // 2])


def test_huge_declared_canvas_is_a_validation_error() -> None:
    # 20000 x 20000 = 400 Mpx: refused before decoding, not a DecompressionBombError.
    with pytest.raises(KlingValidationError, match="megapixels") as info:
        ReferenceImage.load(_png_declaring(20000, 20000))
    assert info.value.field == "image"


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(KlingValidationError, match=r"only http\(s\) URLs") as info:
        ReferenceImage.load(url)
    assert "not an existing file" not in str(info.value)
