"""Every known error is one line and an exit code; a traceback only with ``--debug``.

In-process: ``main()`` is called with a command whose ``run`` raises the error, so each
mapping is checked without a server. The journal cases use real journals.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kling_widget import cli
from kling_widget.cli.tasks import output_path
from kling_widget.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


def raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        raise exc

    return run


def outcome(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    *extra: str,
) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``kling-widget [extra] check x`` whose run raises."""
    from kling_widget.cli import media

    monkeypatch.setattr(media, "run", raising(exc))
    code = cli.main([*extra, "check", "x"])
    return code, capsys.readouterr().err.splitlines()


def test_a_locked_journal_names_the_other_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kp" / "clip-0123abcd"
    Journal(folder).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            """
            import sys
            from kling_widget.journal import Journal
            j = Journal(sys.argv[1])
            print("HELD", flush=True)
            sys.stdin.readline()
            """
        ), str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
        try:
            Journal(folder)
        except Exception as exc:  # the real error, as the CLI would meet it
            error = exc
        code, lines = outcome(monkeypatch, capsys, error)
    finally:
        holder.communicate("bye\n", timeout=60)
    assert code == 1
    assert lines == [
        f"error: {folder} is open in another process (pid {holder.pid} on "
        f"{os.uname().nodename}); close it or pass --read-only"
    ]


def test_a_damaged_journal_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"not a database at all" * 10)
    with pytest.raises(Exception) as info:
        Journal(bad)
    code, lines = outcome(monkeypatch, capsys, info.value)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"error: journal {bad} is damaged") and "recover" in lines[0]


def test_a_change_to_a_read_only_journal_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Journal(tmp_path).close()
    with Journal(tmp_path, read_only=True) as j, pytest.raises(Exception) as info:
        j.add_op("s", "clear")
    code, lines = outcome(monkeypatch, capsys, info.value)
    assert code == 1 and len(lines) == 1 and "is open read-only" in lines[0]


def test_a_plain_value_error_is_an_internal_error_not_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = outcome(monkeypatch, capsys, ValueError("int too large"))
    assert code == 1
    assert lines == [
        "error: internal error (please report it): ValueError: int too large "
        "(run with --debug for the traceback)"
    ]
    code, lines = outcome(monkeypatch, capsys, ValueError("int too large"), "--debug")
    assert code == 1 and lines[0].startswith("error: internal error") and "Traceback" in lines[1]


def test_a_full_disk_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out.mp4")
    code, lines = outcome(monkeypatch, capsys, full)
    assert code == 1 and lines == [f"error: {os.strerror(errno.ENOSPC)} (out.mp4)"]


@pytest.mark.parametrize(
    "task_id",
    ["../escaped", "/etc/passwd", "a/../../b", "nul\x00byte", "x" * 5000, "..", ""],
)
def test_a_download_lands_inside_the_folder_whatever_the_id(tmp_path: Path, task_id: str) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    path = output_path(str(folder), task_id)
    assert path.parent == folder.resolve() and path.suffix == ".mp4"
    assert "\x00" not in path.name and len(path.name) <= 255


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda tmp: tmp / "notes.txt" / "out.mp4", "is a file"),
        (lambda tmp: tmp / "adir.mp4", "is an existing folder"),
    ],
)
def test_edit_refuses_an_output_it_cannot_write_before_connecting(
    tmp_path: Path, make, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / "adir.mp4").mkdir()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"any bytes: the output is checked before the clip is read")
    out = make(tmp_path)
    code = cli.main(
        ["edit", str(clip), "--mode", "removal", "--point", "0:0.5,0.5", "-o", str(out)]
    )
    assert code == 2
    assert rule in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf"])
def test_edit_refuses_a_timeout_that_is_not_finite_and_positive(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["edit", "c.mp4", "--mode", "removal", "--point", "0:0.5,0.5", "-o", "o.mp4",
                  "--timeout", value])  # fmt: skip
    assert info.value.code == 2
    assert "must be finite and above 0" in capsys.readouterr().err
