"""``Project.omni``: Omni-Video prompt edits of the whole clip, journaled like the others."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import CLIP_FPS, make_clip, project_on, served_sha256

from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingServerError, KlingValidationError
from kling_widget.workflow import Project

OMNI_PATH = "/v1/videos/omni-video"


@pytest.fixture(scope="module")
def omni_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s: the shortest clip Omni-Video takes as a base video."""
    return make_clip(tmp_path_factory.mktemp("omni") / "ball3s.mp4", frames=3 * CLIP_FPS)


def _omni_creates(emu: Any) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path == OMNI_PATH]


def test_omni_edit_is_journaled_waited_and_downloaded(
    emu: Any, omni_clip: Path, tmp_path: Path
) -> None:
    url = emu.upload(omni_clip)
    p = Project(omni_clip, KlingClient(**emu.client_options()), video_url=url, root=tmp_path / "kp")
    task = p.omni("make it black and white", keep_original_sound=False)
    body = _omni_creates(emu)[-1].json
    assert body["video_list"] == [
        {"video_url": url, "refer_type": "base", "keep_original_sound": "no"}
    ]
    # The documented default model (kling_widget.rules.DEFAULT_OMNI_MODEL).
    assert body["model_name"] == "kling-video-o1" and body["mode"] == "pro"
    assert body["sound"] == "off"
    assert body["external_task_id"] == task.external_task_id
    final = p.wait(task, timeout=600)
    assert final.succeeded and final.kind == "omni-video"
    rec = p.history()[-1]
    assert rec.kind == "omni-video" and rec.params["video_url"] == url
    assert rec.params["keep_original_sound"] is False
    path = rec.result_path
    assert path is not None and path.name == f"omni-video-{rec.external_task_id}.mp4"
    digest, size = served_sha256(final.videos[0].url or "")
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size) == (digest, size)
    p.close()


def test_omni_refuses_a_clip_outside_its_limits_before_sending(
    emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    p = project_on(emu, sample_clip, tmp_path)
    sent = len(emu.requests)
    with pytest.raises(KlingValidationError, match="duration"):
        p.omni("make it warm")  # the 2 s clip is below Omni's 3 s minimum
    assert len(emu.requests) == sent and p.history() == []
    p.close()


def test_unanswered_omni_create_is_found_or_resent_with_the_same_id(
    emu: Any, omni_clip: Path, tmp_path: Path
) -> None:
    url = emu.upload(omni_clip)
    client = KlingClient(**emu.client_options(), max_retries=0)
    p = Project(omni_clip, client, video_url=url, root=tmp_path / "kp")
    emu.faults.add("error", path=OMNI_PATH, method="POST", code=5000)
    with pytest.raises(KlingServerError):
        p.omni("make it sepia")
    rec = p.history()[-1]
    assert rec.status == "creating" and rec.warning is not None
    assert emu.tasks() == []
    emu.faults.clear()
    p.close()

    q = Project(omni_clip, KlingClient(**emu.client_options()), root=tmp_path / "kp")
    [task] = q.resume(wait=True, timeout=600)
    assert task.succeeded
    assert [t.external_task_id for t in emu.tasks()] == [rec.external_task_id]
    assert {r.json["external_task_id"] for r in _omni_creates(emu)} == {rec.external_task_id}
    assert q.history()[-1].result_path is not None
    q.close()
