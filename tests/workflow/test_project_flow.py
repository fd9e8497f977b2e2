"""``Project`` end to end on the emulator: journaled selection, tasks, downloads, reopening."""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from workflow_helpers import ACCESS_KEY, SECRET_KEY, ball_centre, project_on, served_sha256

from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingValidationError
from kling_widget.journal import Journal
from kling_widget.workflow import Project

CREATE_PATH = "/v1/videos/multi-elements"


def _creates(emu: Any) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path == CREATE_PATH]


def test_full_flow_is_journaled_and_reopens_without_api_calls(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    statuses: list[str] = []
    root = tmp_path / "kling-projects"
    p = project_on(emu, sample_clip, root, on_status=statuses.append)
    selection = p.select(0, [ball])
    assert selection.masks, "the emulator recognised no object under the ball's centre"
    assert p.points == {0: [ball]}
    journaled = p.masks(0)
    assert [m.counts for m in journaled] == [m.counts for m in selection.masks]
    assert np.array_equal(journaled[0].to_array(), selection.masks[0].to_array())

    task = p.create("removal")
    ext = task.external_task_id
    assert ext is not None and ext.startswith("kw-")
    # The create carried the journaled external id, exactly once.
    assert [r.json["external_task_id"] for r in _creates(emu)] == [ext]
    final = p.wait(task, timeout=600)
    assert final.succeeded

    rec = p.history()[-1]
    assert rec.external_task_id == ext and rec.task_id == final.task_id
    assert next(s.status for s in rec.status_history) == "creating"
    assert [s.status for s in rec.status_history][-1] == "succeed"
    assert rec.warning is None
    # Downloaded as soon as it succeeded: complete, and the journal has its checksum.
    path = rec.result_path
    assert path is not None and path.parent == p.folder / "results"
    digest, size = served_sha256(final.videos[0].url or "")
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size) == (digest, size)
    assert (rec.downloads[0].sha256, rec.downloads[0].size) == (digest, size)
    assert not list(p.folder.glob("results/*.part"))
    # download(dest=...) copies the verified file.
    copy = p.download(final, dest=tmp_path / "out" / "edited.mp4")
    assert copy.read_bytes() == path.read_bytes()
    p.close()

    # Reopen: the same clip finds its journal; nothing is asked of the server.
    seen = len(emu.requests)
    again = Project(sample_clip, KlingClient(**emu.client_options()), root=root)
    assert again.folder == p.folder
    assert again.points == {0: [ball]}
    assert [m.counts for m in again.masks(0)] == [m.counts for m in selection.masks]
    assert again.session is not None and again.session.session_id == selection.session_id
    assert again.resume() == []
    assert again.history()[-1].result_path == path
    assert len(emu.requests) == seen
    again.close()

    # The same, explicitly by journal path.
    opened = Project.open(p.journal.path, KlingClient(**emu.client_options()))
    assert opened.points == {0: [ball]}
    assert opened.clip_path == sample_clip.resolve()
    opened.close()
    assert len(emu.requests) == seen


def test_unselect_exact_points_and_clear(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    p = project_on(emu, sample_clip, tmp_path / "kp")
    other = (round(ball[0] + 0.01, 6), ball[1])
    p.select(0, [ball])
    p.select(0, [other])
    assert p.points == {0: [ball, other]}
    sent = len(emu.requests)
    with pytest.raises(KlingValidationError, match=r"points.*must equal points added on frame 0"):
        p.unselect(0, [(0.123, 0.456)])
    assert len(emu.requests) == sent  # refused before anything was sent
    p.unselect(0, [other])
    body = emu.requests[-1].json
    assert emu.requests[-1].path.endswith("/delete-selection")
    assert body["points"] == [{"x": other[0], "y": other[1]}]
    assert p.points == {0: [ball]}
    p.clear()
    assert emu.requests[-1].path.endswith("/clear-selection")
    assert p.points == {} and p.masks(0) == []
    p.close()


def test_bad_input_is_refused_before_anything_is_journaled_or_sent(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.select(0, [ball])
    sent = len(emu.requests)
    cases: list[tuple[Any, str]] = [
        (lambda: p.create("swap"), r"image_list=.*'swap' takes exactly 1"),
        (lambda: p.create("erase"), r"edit_mode='erase'"),
        (lambda: p.create("removal", mode="ultra"), r"mode='ultra'"),
        (lambda: p.create("removal", duration=7), r"duration='7'"),
        # The clip is 2 s long: Kling makes a 5 s result of it, never 10.
        (lambda: p.create("removal", duration="10"), r"duration='10'.*must be '5'"),
        (lambda: p.create("removal", prompt="x" * 2501), r"prompt=.*at most 2500"),
        (lambda: p.select(0, [(1.5, 0.2)]), r"points\[0\]\.x=1\.5"),
        (lambda: p.select(-1, [(0.5, 0.5)]), r"frame_index=-1"),
        (lambda: p.select(0, [(0.1 * i, 0.5) for i in range(10)]), r"at most 10 points"),
        (lambda: p.omni(""), r"prompt"),
        (lambda: p.omni("snow", elements=["1", "2", "3", "4", "5"]), r"<= 4 with a video"),
    ]
    for call, message in cases:
        with pytest.raises(KlingValidationError, match=message):
            call()
    assert len(emu.requests) == sent
    assert p.history() == []
    p.close()


def test_eleventh_marked_frame_is_refused(emu: Any, sample_clip: Path, tmp_path: Path) -> None:
    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.select(0, [ball_centre(0)])
    sid = p.session.session_id if p.session else ""
    for f in range(5, 46, 5):  # nine more marked frames, as an earlier run journaled them
        p.journal.add_op(sid, "add", f, [ball_centre(f)], [])
    assert len(p.points) == 10
    sent = len(emu.requests)
    with pytest.raises(KlingValidationError, match=r"at most 10 marked frames"):
        p.select(47, [ball_centre(47)])
    assert len(emu.requests) == sent
    p.close()


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_reference_images_are_files_referenced_by_sha256(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    png = _png(400, 320)
    image = tmp_path / "sticker.png"
    image.write_bytes(png)
    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.select(0, [ball])
    task = p.create("swap", images=[image])
    digest = hashlib.sha256(png).hexdigest()
    rec = p.history()[-1]
    assert rec.params["images"] == [{"sha256": digest, "file": f"images/{digest}.png"}]
    assert (p.folder / "images" / f"{digest}.png").read_bytes() == png
    # What was sent is exactly the stored file, as raw base64.
    body = _creates(emu)[-1].json
    b64 = base64.b64encode(png).decode()
    (sent,) = body["image_list"]
    # The emulator's request log shortens long strings to their length and first bytes.
    assert sent["image"] in (b64, f"<{len(b64)} characters, starting {b64[:32]!r}>")
    assert body["external_task_id"] == task.external_task_id
    p.close()
    # The database holds no image bytes.
    con = sqlite3.connect(p.journal.path)
    dump = "\n".join(con.iterdump())
    con.close()
    assert base64.b64encode(png).decode()[:64] not in dump


def test_failed_create_is_recorded_as_rejected(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    from kling_widget.errors import KlingAPIError

    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.select(0, [ball])
    emu.faults.add("error", path=CREATE_PATH, method="POST", code=1301, times=1)
    with pytest.raises(KlingAPIError):
        p.create("removal")
    rec = p.history()[-1]
    assert rec.status == "rejected" and "1301" in (rec.error or "")
    assert p.resume() == []  # a refused create is final: never re-sent
    assert len(_creates(emu)) == 1
    p.close()


def test_results_near_expiry_are_flagged(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    root = tmp_path / "kp"
    p = project_on(emu, sample_clip, root)
    p.select(0, [ball])
    final = p.wait(p.create("removal"), timeout=600)
    rec = p.history()[-1]
    assert rec.result_path is not None
    path = rec.result_path
    p.close()
    path.unlink()  # the result is no longer on disk

    def expire_in(seconds: float) -> list[str]:
        j = Journal(root / path.parents[1].name)
        j.update_task(rec.external_task_id, expires_at=time.time() + seconds)
        j.close()
        messages: list[str] = []
        q = Project(
            sample_clip, KlingClient(**emu.client_options()), root=root, on_status=messages.append
        )
        warning = q.history()[-1].warning
        q.close()
        assert warning is not None and warning in messages  # also on the status line
        return [warning]

    assert "deleted by Kling in 2 days" in expire_in(2.5 * 86400)[0]
    assert "expired" in expire_in(-3600)[0]
    j = Journal(root / path.parents[1].name)
    j.update_task(rec.external_task_id, expires_at=time.time() + 20 * 86400)
    j.close()
    q = Project(sample_clip, KlingClient(**emu.client_options()), root=root)
    assert q.history()[-1].warning is None  # far from expiry: no flag
    # resume() downloads the missing result again (verified against what is served).
    q.resume()
    again = q.history()[-1].result_path
    assert again is not None
    assert (
        served_sha256(final.videos[0].url or "")[0]
        == hashlib.sha256(again.read_bytes()).hexdigest()
    )
    q.close()


def test_no_secret_is_written_anywhere(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    root = tmp_path / "kling-projects"
    client = KlingClient(**emu.client_options())
    token = client.credentials.bearer_token()
    p = Project(sample_clip, client, video_url=emu.upload(sample_clip), root=root)
    p.select(0, [ball])
    p.wait(p.create("removal"), timeout=600)
    p.preview()
    texts = [repr(p), *(repr(r) for r in p.history()), repr(p.journal)]
    p.close()
    secrets = [ACCESS_KEY, SECRET_KEY, token]
    files = [f for f in root.rglob("*") if f.is_file()]
    assert any(f.name == "journal.sqlite3" for f in files)
    for f in files:
        data = f.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"{s[:6]}... found in {f}"
            assert base64.b64encode(s.encode()) not in data
    for text in texts:
        for s in secrets:
            assert s not in text
