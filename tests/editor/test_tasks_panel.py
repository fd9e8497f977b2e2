"""Task history: rows newest first, in plain words, with Edit again and Compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kling_widget.editor.tasks_panel import TasksPanel, elapsed_text, task_row
from kling_widget.journal.records import DownloadRecord, StatusChange, TaskRecord

T0 = 1_780_000_000.0


def record(ext: str, status: str, created: float = T0, **kw: Any) -> TaskRecord:
    params = kw.pop("params", None) or {
        "edit_mode": "removal",
        "prompt": "Delete the dog from <<<video_1>>>",
        "mode": "std",
        "negative_prompt": None,
        "images": [],
    }
    fields: dict[str, Any] = {
        "external_task_id": ext,
        "task_id": kw.pop("task_id", "t-" + ext),
        "kind": kw.pop("kind", "multi-elements"),
        "params": params,
        "session_id": "s1",
        "status": status,
        "status_msg": kw.pop("status_msg", None),
        "error": kw.pop("error", None),
        "created_at": created,
        "updated_at": kw.pop("updated_at", created + 5),
        "server_created_at": None,
        "result_urls": [],
        "expires_at": None,
        "raw": kw.pop("raw", None),
    }
    fields.update(kw)
    return TaskRecord(**fields)


def test_elapsed_text() -> None:
    assert elapsed_text(8.9) == "8 s"
    assert elapsed_text(125) == "2 min 05 s"
    assert elapsed_text(3 * 3600 + 180) == "3 h 03 min"
    assert elapsed_text(-3) == "0 s"


def test_a_finished_task_in_plain_words(tmp_path: Path) -> None:
    result = tmp_path / "result.mp4"
    result.write_bytes(b"x" * 10)
    rec = record(
        "a",
        "succeed",
        raw={"final_unit_deduction": "2.5"},
        status_history=[
            StatusChange("submitted", None, T0 + 1),
            StatusChange("processing", None, T0 + 3),
            StatusChange("succeed", None, T0 + 42),
        ],
        downloads=[DownloadRecord("a", "https://x/r.mp4", result, 10, "0" * 64, T0 + 50)],
    )
    row = task_row(rec, now=T0 + 1000)
    assert row.title == "removal · std"
    assert row.status_text == "done" and not row.running
    assert row.elapsed_s == pytest.approx(42)
    assert row.units == 2.5
    assert row.result_path == result
    assert row.message is None


def test_running_failed_refused_and_omni_rows() -> None:
    running = task_row(record("r", "processing"), now=T0 + 75)
    assert running.status_text == "rendering" and running.running
    assert running.elapsed_s == pytest.approx(75)
    failed = task_row(record("f", "failed", status_msg="content safety check failed"), now=T0)
    assert failed.message == "content safety check failed"
    refused = task_row(record("x", "rejected", error="1201: prompt too long"), now=T0)
    assert refused.status_text == "refused" and refused.message == "1201: prompt too long"
    omni = task_row(
        record(
            "o",
            "submitted",
            kind="omni-video",
            params={"model_name": "kling-video-o1", "prompt": "make it snow", "mode": "pro"},
        ),
        now=T0,
    )
    assert omni.title == "omni kling-video-o1 · pro"
    not_downloaded = task_row(record("n", "succeed", raw={"final_unit_deduction": "x"}), now=T0)
    assert not_downloaded.status_text == "done, not downloaded" and not_downloaded.units is None


def test_panel_lists_newest_first_and_updates_in_place(tmp_path: Path) -> None:
    panel = TasksPanel()
    assert panel.empty.layout.display != "none"
    rows = panel.update([record("old", "succeed"), record("new", "processing", T0 + 60)], T0 + 90)
    assert [r.key for r in rows] == ["new", "old"]
    assert panel.empty.layout.display == "none"
    first_box = panel.list.children[0]
    summary = panel._widgets["new"].summary
    assert "rendering" in summary.value and "30 s" in summary.value
    panel.update([record("old", "succeed"), record("new", "processing", T0 + 60)], T0 + 100)
    assert panel.list.children[0] is first_box  # same widgets, new text
    assert "40 s" in summary.value
    panel.update([record("new", "failed", T0 + 60, status_msg="out of credit")], T0 + 100)
    assert [r.key for r in panel.rows] == ["new"]
    assert "out of credit" in summary.value and "failed" in summary.value
    panel.close()


def test_prompts_and_messages_are_escaped() -> None:
    panel = TasksPanel()
    panel.update([record("a", "failed", status_msg="<script>alert(1)</script>")], T0)
    text = panel._widgets["a"].summary.value
    assert "<script>" not in text and "&lt;script&gt;" in text
    panel.close()


def test_edit_again_and_compare_call_back_with_the_row(tmp_path: Path) -> None:
    result = tmp_path / "r.mp4"
    result.write_bytes(b"1234")
    again: list[str] = []
    compared: list[Path | None] = []
    panel = TasksPanel(
        on_edit_again=lambda row: again.append(row.prompt),
        on_compare=lambda row: compared.append(row.result_path),
    )
    done = record("d", "succeed", downloads=[DownloadRecord("d", "u", result, 4, "0" * 64, T0)])
    panel.update([done, record("f", "failed", T0 - 10)], T0 + 5)
    w_done, w_failed = panel._widgets["d"], panel._widgets["f"]
    assert w_failed.compare.layout.display == "none"  # nothing on disk to compare
    assert w_done.compare.layout.display != "none"
    w_done.again.click()
    w_done.compare.click()
    assert again == ["Delete the dog from <<<video_1>>>"]
    assert compared == [result]
    assert w_done.path.layout.display == "none"
    w_done.path_button.click()
    assert w_done.path.layout.display == "block" and str(result) in w_done.path.value
    panel.close()
