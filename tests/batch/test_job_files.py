"""Jobs from Python, CSV and JSONL, and ``kling-widget batch``: every bad row is named
(row, field, value, rule) and nothing is sent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kling_widget.batch import Job, JobError, check_jobs, load_jobs
from kling_widget.cli import main


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_columns_become_jobs(
    clip2s: Path, clip3s: Path, ref_image: Path, tmp_path: Path
) -> None:
    (tmp_path / "clips").mkdir()
    os.link(clip2s, tmp_path / "clips" / "a.mp4")
    os.link(ref_image, tmp_path / "logo.png")
    csv_file = write(
        tmp_path / "jobs.csv",
        "clip,edit,points,images,prompt,mode,name,keep_original_sound\n"
        'clips/a.mp4,removal,"0:0.5,0.4;3:0.25,0.75",,,,rm,\n'
        'clips/a.mp4,swap,"0:0.5,0.5",logo.png,swap [x] from <<<image_1>>>,pro,sw,\n'
        f"{clip3s},omni,,,Make <<<video_1>>> warm,,om,no\n",
    )
    rm, sw, om = load_jobs(csv_file)
    assert rm.edit == "removal" and rm.points == ((0, 0.5, 0.4), (3, 0.25, 0.75))
    assert Path(rm.clip) == tmp_path / "clips" / "a.mp4"  # relative to the job file
    assert rm.effective_prompt == "Delete the selected object from <<<video_1>>>"
    assert rm.effective_mode == "std" and rm.source == "jobs.csv row 2"
    assert sw.images == (str(tmp_path / "logo.png"),) and sw.mode == "pro"
    assert om.is_omni and om.effective_mode == "pro" and om.keep_original_sound is False
    assert om.model == "kling-video-o1"  # the documented default (rules.DEFAULT_OMNI_MODEL)


def test_jsonl_accepts_lists_and_point_strings(clip2s: Path, tmp_path: Path) -> None:
    lines = [
        {"clip": str(clip2s), "edit": "removal", "points": [[0, 0.5, 0.5], [1, 0.1, 0.2]]},
        {"clip": str(clip2s), "edit": "removal", "points": "2:0.3,0.3", "name": "b"},
    ]
    f = write(tmp_path / "jobs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    a, b = load_jobs(f)
    assert a.points == ((0, 0.5, 0.5), (1, 0.1, 0.2)) and b.points == ((2, 0.3, 0.3),)
    # Without a name, the name is stable: clip stem, edit and a hash of the job.
    assert a.output_name.startswith("disc2s-removal-") and a.output_name == a.output_name
    assert load_jobs(f)[0].output_name == a.output_name


BAD_CSV = [
    # (header, row, field, value shown, rule words)
    ("clip,edit,colour", "{clip},removal,red", "column", "'colour'", "unknown column"),
    ("clip,edit,points", "{clip},removal,0:0.5", "points[0]", "'0:0.5'", "FRAME:X,Y"),
    ("clip,edit,points", "{clip},removal,0:0.5,0.5", "row", "['0.5']", "quote it"),
    ("clip,edit,points", '{clip},removal,"0:1.5,0.5"', "points[0].x", "1.5", "[0, 1]"),
    ("clip,edit,points", 'missing.mp4,removal,"0:0.5,0.5"', "clip", "missing.mp4", "no such file"),
    ("clip,edit,points", '{clip},erase,"0:0.5,0.5"', "edit", "'erase'", "must be one of"),
    ("clip,edit,points", '{clip},swap,"0:0.5,0.5"', "images", "0", "exactly 1"),
    ("clip,edit,points", "{clip},removal,", "points", "()", "at least one point"),
    ("clip,edit,points,prompt", '{clip},omni,"0:0.5,0.5",snow', "points", "", "no points"),
    ("clip,edit,prompt", "{clip},omni,", "prompt", "None", "required for omni"),
    ("clip,edit,points,mode", '{clip},removal,"0:0.5,0.5",max', "mode", "'max'", "std, pro"),
    ("clip,edit,points,name", '{clip},removal,"0:0.5,0.5",a/b', "name", "'a/b'", "letters"),
]


@pytest.mark.parametrize(("header", "row", "field", "value", "rule"), BAD_CSV)
def test_bad_csv_rows_are_named(
    clip2s: Path, tmp_path: Path, header: str, row: str, field: str, value: str, rule: str
) -> None:
    f = write(tmp_path / "jobs.csv", f"{header}\n{row.format(clip=clip2s)}\n")
    with pytest.raises(JobError) as info:
        load_jobs(f)
    err = info.value
    assert err.field == field and rule in err.rule
    assert err.where == ("jobs.csv row 1" if field == "column" else "jobs.csv row 2")
    assert str(err).startswith(err.where) and value in str(err)


def test_duplicate_names_name_both_rows(clip2s: Path, tmp_path: Path) -> None:
    f = write(
        tmp_path / "jobs.csv",
        f'clip,edit,points,name\n{clip2s},removal,"0:0.5,0.5",x\n{clip2s},removal,"0:0.2,0.2",x\n',
    )
    with pytest.raises(JobError) as info:
        load_jobs(f)
    assert info.value.where == "jobs.csv row 3" and "jobs.csv row 2" in info.value.rule


def test_bad_jsonl_lines_are_named(clip2s: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "j.jsonl", json.dumps({"clip": str(clip2s), "edit": "removal"}) + "\n")
    with pytest.raises(JobError, match=r"j.jsonl line 1: points=\(\): removal needs"):
        load_jobs(f)
    f = write(tmp_path / "j.jsonl", '{"clip": 1\n')
    with pytest.raises(JobError, match=r"j.jsonl line 1: line=.*is not JSON"):
        load_jobs(f)
    f = write(tmp_path / "j.jsonl", json.dumps({"clip": str(clip2s), "edit": "omni", "x": 1}))
    with pytest.raises(JobError, match="unknown field"):
        load_jobs(f)


def test_python_jobs_check_limits() -> None:
    with pytest.raises(JobError) as info:
        check_jobs([Job.removal(__file__, [(f, 0.5, 0.5) for f in range(11)])])
    assert info.value.field == "points" and "10 marked frames" in info.value.rule
    with pytest.raises(JobError) as info:
        check_jobs([Job.removal(__file__, [(0, 0.5, 0.5)] * 11)])
    assert "10 points per frame" in info.value.rule
    with pytest.raises(JobError) as info:
        check_jobs([Job.omni(__file__, "p", elements=("1", "2", "3"), images=("a", "b"))])
    assert info.value.field == "images" and "2 images + 3 elements" in str(info.value.value)
    assert "<= 4 with a video" in info.value.rule
    with pytest.raises(JobError) as info:
        check_jobs([Job.removal(__file__, [(0, 0.5, 0.5)], prompt="x" * 2501)])
    assert info.value.field == "prompt" and "2500" in info.value.rule


# --- the command line -----------------------------------------------------------------
def test_cli_bad_row_exits_2_before_anything_is_sent(
    clip2s: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import kling_widget.cli.common as common

    def no_connection(*a: Any, **k: Any) -> Any:
        raise AssertionError("connected although a row was bad")

    monkeypatch.setattr(common, "connect", no_connection)
    f = write(
        tmp_path / "jobs.csv",
        f'clip,edit,points\n{clip2s},removal,"0:0.5,0.5"\n{clip2s},removal,"4:0.5,-0.1"\n',
    )
    code = main(["batch", str(f), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "jobs.csv row 3: points[0].y=-0.1: must be in [0, 1]" in err
    assert not (tmp_path / "out").exists()


def test_cli_clip_outside_the_limits_exits_2(
    clip2s: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(
        tmp_path / "jobs.jsonl", json.dumps({"clip": str(clip2s), "edit": "omni", "prompt": "p"})
    )
    assert main(["batch", str(f), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "jobs.jsonl line 1: clip duration=2.0: omni: duration" in err


def test_cli_runs_a_job_file_against_the_emulator(
    clip3s: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from kling_widget.emulator import Emulator

    f = write(
        tmp_path / "jobs.csv",
        f"clip,edit,prompt,name\n{clip3s},omni,Make <<<video_1>>> warm,one\n"
        f"{clip3s},omni,Make <<<video_1>>> warm,two\n",
    )
    with Emulator(api_key="cli-batch-key", task_delays=(0.1, 0.2), concurrency_limit=2) as emu:
        monkeypatch.setenv("KLING_BASE_URL", emu.base_url)
        monkeypatch.setenv("KLING_API_KEY", "cli-batch-key")
        monkeypatch.delenv("KLING_ACCESS_KEY", raising=False)
        monkeypatch.delenv("KLING_SECRET_KEY", raising=False)
        out = tmp_path / "out"
        code = main(["batch", str(f), "-o", str(out), "--concurrency", "2"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert (out / "one.mp4").is_file() and (out / "two.mp4").is_file()
        assert len(emu.tasks()) == 2
        assert "| one | omni | done |" in captured.out
        assert "cli-batch-key" not in captured.out + captured.err
        # Run again: nothing new is created, the table says so.
        assert main(["batch", str(f), "-o", str(out), "--concurrency", "2"]) == 0
        assert len(emu.tasks()) == 2
        assert "already done" in capsys.readouterr().out


def test_cli_help_documents_the_columns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = capsys.readouterr().out
    for column in ("clip", "edit", "points", "images", "prompt", "name", "keep_original_sound"):
        assert f"  {column} " in text


def test_a_job_file_that_is_not_utf8_names_the_file_and_the_row(
    clip2s: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "jobs.csv"
    f.write_bytes(
        b"clip,edit,points,prompt\n"
        + f'{clip2s},removal,"0:0.5,0.5",\n'.encode()
        + f'{clip2s},removal,"0:0.5,0.5",caf\xe9\n'.encode("latin-1")
    )
    with pytest.raises(JobError) as info:
        load_jobs(f)
    assert info.value.where == "jobs.csv row 3"
    assert "is not UTF-8" in info.value.rule and "0xe9" in info.value.rule
    assert main(["batch", str(f), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "jobs.csv row 3" in err and "UTF-8" in err and "Traceback" not in err


def test_a_frame_beyond_the_clip_fails_at_check_time(
    clip2s: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import kling_widget.cli.common as common

    def no_connection(*a: Any, **k: Any) -> Any:
        raise AssertionError("connected although a row was bad")

    monkeypatch.setattr(common, "connect", no_connection)
    f = write(tmp_path / "jobs.csv", f'clip,edit,points\n{clip2s},removal,"999:0.5,0.5"\n')
    assert main(["batch", str(f), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    # The clip is 2 s at 24 fps: frames 0-47.
    assert "jobs.csv row 2" in err and "frame 999" in err and "48 frames (0-47)" in err
    assert not (tmp_path / "out").exists()
