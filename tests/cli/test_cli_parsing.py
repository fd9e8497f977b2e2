"""The command line's own input handling: points, limits, exit codes, the progress bar.

These run the real ``python -m kling_widget`` for usage errors, which must be refused before
any connection is attempted (no emulator is running here, so a connection would fail with
exit code 1, not 2).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kling_widget.cli import build_parser
from kling_widget.cli.common import CliUsageError, redact, report_error, shown_url
from kling_widget.cli.edit import group_points
from kling_widget.cli.edit import point_arg as parse_point
from kling_widget.cli.progress import ProgressBar
from kling_widget.limits import EDIT_MODES, MAX_MARKED_FRAMES, MAX_POINTS_PER_FRAME

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``python -m kling_widget`` as a user would; never reaches a server here."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    # A closed port: if a command wrongly tried to connect it would fail with code 1.
    full_env["KLING_BASE_URL"] = "http://127.0.0.1:9"
    full_env["KLING_API_KEY"] = "sk-test-never-printed-123456"
    # This checkout first on the import path, whatever is installed.
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kling_widget", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


# --- point syntax ------------------------------------------------------------


def test_parse_point_accepts_frame_and_normalized_coordinates() -> None:
    assert parse_point("12:0.5,0.25") == (12, 0.5, 0.25)
    assert parse_point(" 0 : 0 , 1 ") == (0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("12-0.5,0.5", "each point is FRAME:X,Y such as 12:0.5,0.4"),
        ("a:0.5,0.5", "FRAME an integer >= 0"),
        ("-1:0.5,0.5", "point.frame=-1: must be >= 0"),
        ("3:1.5,0.5", "point.x=1.5: must be in [0, 1]"),
        ("3:0.5,-0.1", "point.y=-0.1: must be in [0, 1]"),
        ("3:nan,0.5", "point.x=nan: must be finite"),
        ("3:0.5,x", "X and Y in [0, 1]"),
    ],
)
def test_parse_point_names_value_and_rule(text: str, needle: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_point(text)
    message = str(info.value)
    assert needle in message
    assert repr(text) in message


def test_group_points_keeps_order_per_frame() -> None:
    grouped = group_points([(4, 0.1, 0.2), (0, 0.5, 0.5), (4, 0.3, 0.4)])
    assert grouped == {4: [(0.1, 0.2), (0.3, 0.4)], 0: [(0.5, 0.5)]}


def test_group_points_refuses_too_many_frames() -> None:
    points = [(i, 0.5, 0.5) for i in range(MAX_MARKED_FRAMES + 1)]
    with pytest.raises(CliUsageError) as info:
        group_points(points)
    assert info.value.field == "--point"
    assert f"at most {MAX_MARKED_FRAMES} marked frames" in info.value.rule
    assert group_points(points[:-1])  # exactly the limit is fine


def test_group_points_refuses_too_many_points_on_a_frame() -> None:
    points = [(2, i / 20, 0.5) for i in range(MAX_POINTS_PER_FRAME + 1)]
    with pytest.raises(CliUsageError) as info:
        group_points(points)
    assert f"at most {MAX_POINTS_PER_FRAME} points per frame" in info.value.rule


# --- exit codes on bad usage (subprocess) -------------------------------------


@pytest.fixture
def clip_file(tmp_path: Path) -> Path:
    # Usage is checked before the clip is opened, so any existing file will do here.
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video")
    return path


def test_unknown_mode_exits_2_listing_the_choices(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "erase", "--point", "0:0.5,0.5", "-o", "o.mp4")
    assert r.returncode == 2
    assert "--mode" in r.stderr and "'erase'" in r.stderr
    for mode in EDIT_MODES:
        assert mode in r.stderr


def test_bad_point_syntax_exits_2(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "removal", "--point", "0;0.5;0.5", "-o", "o.mp4")
    assert r.returncode == 2
    assert "--point='0;0.5;0.5'" in r.stderr
    assert "each point is FRAME:X,Y" in r.stderr


def test_point_outside_unit_square_exits_2(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "removal", "--point", "0:1.2,0.5", "-o", "o.mp4")
    assert r.returncode == 2
    assert "point.x=1.2: must be in [0, 1]" in r.stderr


def test_missing_clip_exits_2_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    r = run_cli("edit", str(missing), "--mode", "removal", "--point", "0:0.5,0.5", "-o", "o.mp4")
    assert r.returncode == 2
    assert "CLIP" in r.stderr and str(missing) in r.stderr and "no such file" in r.stderr


def test_missing_clip_for_check_exits_2(tmp_path: Path) -> None:
    r = run_cli("check", str(tmp_path / "absent.mov"))
    assert r.returncode == 2
    assert "no such file" in r.stderr


def test_wrong_image_count_exits_2(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "swap", "--point", "0:0.5,0.5", "-o", "o.mp4")
    assert r.returncode == 2
    assert "--image" in r.stderr
    assert "'swap' takes exactly 1" in r.stderr


def test_no_point_exits_2(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "removal", "-o", "o.mp4")
    assert r.returncode == 2
    assert "at least one --point" in r.stderr


def test_output_must_be_mp4(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "removal", "--point", "0:0.5,0.5", "-o", "o.avi")
    assert r.returncode == 2
    assert "--output='o.avi': must end in .mp4" in r.stderr


def test_page_size_outside_documented_range_exits_2() -> None:
    r = run_cli("tasks", "list", "--page-size", "501")
    assert r.returncode == 2
    assert "--page-size=501: must be in 1..500" in r.stderr


def test_usage_errors_never_print_the_key(clip_file: Path) -> None:
    r = run_cli("edit", str(clip_file), "--mode", "removal", "--point", "0:9,9", "-o", "o.mp4")
    assert r.returncode == 2
    assert "sk-test-never-printed" not in r.stdout + r.stderr


def test_help_lists_every_registered_command() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for name in ("demo", "emulator", "check", "conform", "edit", "tasks"):
        assert name in r.stdout


def test_parser_registry_builds_every_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["tasks", "show", "abc"])
    assert args.command == "tasks" and args.action == "show" and args.task_id == "abc"


# --- error reporting ---------------------------------------------------------


def test_api_errors_exit_1_with_code_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    from kling_widget.errors import KlingServerError

    err = KlingServerError("internal error", http_status=500, code=5000, request_id="req-42")
    assert report_error(err) == 1
    text = capsys.readouterr().err
    assert (
        "Kling code: 5000" in text and "request id: req-42" in text and "HTTP status: 500" in text
    )


def test_validation_errors_exit_2_with_field_value_rule(capsys: pytest.CaptureFixture[str]) -> None:
    from kling_widget.errors import KlingValidationError

    assert report_error(KlingValidationError("prompt", "x" * 3, "at most 2500 characters")) == 2
    assert "prompt='xxx': at most 2500 characters" in capsys.readouterr().err


def test_redact_hides_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_SECRET_KEY", "very-secret-value")
    assert "very-secret-value" not in redact("oops very-secret-value leaked")


def test_shown_url_drops_userinfo_and_query() -> None:
    assert shown_url("https://user:pw@relay.example.com/kling/?k=1") == (
        "https://relay.example.com/kling"
    )


# --- progress bar ------------------------------------------------------------


def test_progress_bar_draws_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar("conform", stream, tty=False)
    for i in range(101):
        bar.update(i / 100)
    bar.close("done")
    assert stream.getvalue() == ""  # a log or a pipe gets the commands' lines only


def test_progress_bar_redraws_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("edit", stream, tty=True) as bar:
        bar.update(0.5, "selecting a long note")
        bar.update(0.75, "short")
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    last = text.split("\r")[-1]
    assert last.startswith("edit  75%|") and last.rstrip().endswith("short")
    assert " 50%|" in text and "selecting a long note" in text


def test_progress_bar_clamps_out_of_range_fractions() -> None:
    stream = io.StringIO()
    bar = ProgressBar("x", stream, tty=False)
    bar.update(7.0)
    assert bar.fraction == 1.0
    bar.update(-3)
    assert bar.fraction == 0.0
    bar.update(float("nan"))
    assert bar.fraction == 0.0
