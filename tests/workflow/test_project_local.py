"""``Project`` behaviour that needs no server: clip identity and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_widget.errors import KlingValidationError
from kling_widget.workflow import Project


def test_missing_clip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KlingValidationError, match=r"clip=.*must be an existing video file"):
        Project(tmp_path / "nope.mp4", object(), root=tmp_path / "kp")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_reopened_clip_that_changed_is_not_uploaded(sample_clip: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(sample_clip.read_bytes())
    uploads: list[Path] = []

    def uploader(path: Path) -> str:
        uploads.append(path)
        return f"https://uploads.example/{path.name}"

    p = Project(clip, object(), uploader=uploader, root=tmp_path / "kp")  # type: ignore[arg-type]
    assert p.video_url() == "https://uploads.example/clip.mp4"
    journal_path = p.journal.path
    p.close()

    clip.write_bytes(sample_clip.read_bytes() + b"\0")  # edited in place since
    q = Project.open(journal_path, object(), uploader=uploader)  # type: ignore[arg-type]
    with pytest.raises(KlingValidationError, match="content changed since the journal"):
        q.video_url(fresh=True)
    assert len(uploads) == 1
    q.close()


def test_project_is_a_context_manager_releasing_the_journal(
    sample_clip: Path, tmp_path: Path
) -> None:
    from kling_widget.journal import Journal

    with Project(sample_clip, object(), video_url="https://x.example/c.mp4", root=tmp_path) as p:  # type: ignore[arg-type]
        folder = p.folder
    assert "Project(clip=" in repr(p)
    Journal(folder).close()  # the lock was released
