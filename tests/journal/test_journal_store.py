"""The journal's storage: schema, ordering, status history, images, locking, corruption."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_widget.journal import (
    Journal,
    JournalCorruptError,
    JournalLockedError,
    file_sha256,
    project_folder,
)
from kling_widget.journal.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "My Clip.mp4"
    path.write_bytes(os.urandom(3 * (1 << 20) + 17))  # > one hashing chunk
    return path


@pytest.fixture
def journal(clip: Path, tmp_path: Path) -> Iterator[Journal]:
    j = Journal.for_clip(clip, tmp_path / "kling-projects")
    yield j
    j.close()


def _fill(j: Journal) -> None:
    j.add_session(
        "s1",
        base_url="https://api-singapore.klingai.com",
        video_url="https://example.com/clip.mp4",
        created_at=100.0,
        expires_at=100.0 + 86400,
        raw={"session_id": "s1", "total_frame": 150},
    )
    j.add_op("s1", "add", 5, [(0.5, 0.25)], [{"object_id": 1, "rle_mask": {"counts": "a"}}])
    j.add_op("s1", "add", 5, [(0.75, 0.5)], [{"object_id": 1, "rle_mask": {"counts": "b"}}])
    j.add_op("s1", "add", 9, [(0.1, 0.9)], [{"object_id": 2, "rle_mask": {"counts": "c"}}])
    j.add_op("s1", "delete", 5, [(0.5, 0.25)], [{"object_id": 1, "rle_mask": {"counts": "d"}}])
    j.add_task("ext-1", "multi-elements", {"edit_mode": "removal"}, session_id="s1")
    j.update_task("ext-1", task_id="t-1", status="submitted")
    j.update_task("ext-1", status="submitted")
    j.update_task("ext-1", status="processing")
    j.update_task("ext-1", status="succeed", result_urls=["https://cdn.example/r.mp4"])


def test_folder_name_and_clip_fingerprint(clip: Path, journal: Journal, tmp_path: Path) -> None:
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert file_sha256(clip) == (digest, clip.stat().st_size)
    assert journal.path == tmp_path / "kling-projects" / f"My_Clip-{digest[:8]}" / "journal.sqlite3"
    assert journal.path == project_folder(clip, digest, tmp_path / "kling-projects") / (
        "journal.sqlite3"
    )
    rec = journal.clip()
    assert rec is not None
    assert (rec.fingerprint, rec.size, rec.path) == (
        digest,
        clip.stat().st_size,
        str(clip.resolve()),
    )


def test_renamed_clip_finds_its_journal(clip: Path, journal: Journal, tmp_path: Path) -> None:
    _fill(journal)
    journal.close()
    renamed = tmp_path / "renamed" / "holiday.mp4"
    renamed.parent.mkdir()
    renamed.write_bytes(clip.read_bytes())
    again = Journal.for_clip(renamed, tmp_path / "kling-projects")
    try:
        assert again.path == journal.path
        assert again.current_points() == {5: [(0.75, 0.5)], 9: [(0.1, 0.9)]}
        rec = again.clip()
        assert rec is not None and rec.path == str(renamed.resolve())  # last known place
    finally:
        again.close()
    other = tmp_path / "other.mp4"
    other.write_bytes(clip.read_bytes() + b"x")
    fresh = Journal.for_clip(other, tmp_path / "kling-projects")
    assert fresh.path != journal.path and fresh.ops() == []
    fresh.close()


def test_schema_wal_and_version_table(journal: Journal) -> None:
    con = sqlite3.connect(journal.path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "schema_version",
            "clip",
            "sessions",
            "selection_ops",
            "tasks",
            "task_status",
            "downloads",
            "images",
        } <= tables
        assert con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == (
            SCHEMA_VERSION
        )
    finally:
        con.close()
    assert journal.schema_version == SCHEMA_VERSION


def test_points_masks_and_ops_in_order(journal: Journal) -> None:
    _fill(journal)
    assert journal.current_points() == {5: [(0.75, 0.5)], 9: [(0.1, 0.9)]}
    masks = journal.current_masks()
    assert {f: journal.latest_masks(f) for f in (5, 9)} == masks
    assert journal.latest_masks(7) == []
    assert masks[5][0]["rle_mask"]["counts"] == "d"
    assert masks[9][0]["rle_mask"]["counts"] == "c"
    assert [o.op for o in journal.ops()] == ["add", "add", "add", "delete"]
    # A clear hides everything before it from the current selection.
    journal.add_op("s1", "clear")
    assert journal.current_points() == {}
    assert journal.ops() == []
    journal.add_op("s1", "add", 3, [(0.3, 0.3)], [])
    assert journal.current_points() == {3: [(0.3, 0.3)]}
    assert len(journal.ops(since_last_clear=False)) == 6


def test_replayed_ops_do_not_duplicate_points(journal: Journal) -> None:
    _fill(journal)
    journal.add_session(
        "s2",
        base_url="https://x.example",
        video_url=None,
        created_at=200.0,
        expires_at=300.0,
        raw={},
    )
    for op in journal.ops():
        journal.add_op(
            "s2", op.op, op.frame_index, op.points, [{"replayed": op.seq}], replay_of=op.seq
        )
    assert journal.current_points() == {5: [(0.75, 0.5)], 9: [(0.1, 0.9)]}
    assert [o.replay_of for o in journal.ops()] == [None] * 4
    assert journal.current_masks()[5] == [{"replayed": journal.ops()[-1].seq}]


def test_status_history_records_changes_only(journal: Journal) -> None:
    _fill(journal)
    rec = journal.task("ext-1")
    assert rec is not None
    assert [s.status for s in rec.status_history] == [
        "creating",
        "submitted",
        "processing",
        "succeed",
    ]
    assert rec.task_id == "t-1"
    assert rec.result_urls == ["https://cdn.example/r.mp4"]
    with pytest.raises(TypeError, match="unknown fields"):
        journal.update_task("ext-1", secret_key="nope")


def test_session_host_only(journal: Journal) -> None:
    journal.add_session(
        "s9",
        base_url="https://user:pass@relay.example:8443/kling?token=abc",
        video_url=None,
        created_at=1.0,
        expires_at=2.0,
        raw={},
    )
    assert journal.sessions()[-1].host == "relay.example:8443"
    assert b"pass" not in journal.path.read_bytes()


def test_images_are_files_not_blobs(journal: Journal) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
    digest, path = journal.store_image(data, "png")
    assert digest == hashlib.sha256(data).hexdigest()
    assert path == journal.folder / "images" / f"{digest}.png"
    assert path.read_bytes() == data
    assert journal.image_path(digest) == path
    journal.close()
    raw = b"".join(p.read_bytes() for p in journal.folder.glob("journal.sqlite3*"))
    assert data[8:200] not in raw


def test_second_writer_process_is_refused_readers_are_not(journal: Journal) -> None:
    _fill(journal)
    writer = _child(
        """
        import sys
        from kling_widget.journal import Journal, JournalLockedError
        try:
            Journal(sys.argv[1])
        except JournalLockedError as exc:
            print("REFUSED", exc.pid, str(exc))
        """,
        str(journal.path),
    )
    assert writer.returncode == 0, writer.stderr
    assert f"REFUSED {os.getpid()}" in writer.stdout
    assert f"open in another process (pid {os.getpid()}" in writer.stdout
    assert "read-only" in writer.stdout

    reader = _child(
        """
        import sys
        from kling_widget.journal import Journal
        j = Journal(sys.argv[1], read_only=True)
        print(j.task("ext-1").status, j.current_points())
        """,
        str(journal.path),
    )
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.split()[0] == "succeed"


def test_lock_dies_with_a_killed_owner(journal: Journal) -> None:
    path = journal.path
    journal.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from kling_widget.journal import Journal; "
            "j=Journal(sys.argv[1]); print('OPEN', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "OPEN"
        with pytest.raises(JournalLockedError, match=f"pid {proc.pid}"):
            Journal(path)
    finally:
        proc.kill()
        proc.wait()
    Journal(path).close()  # no stale lock after SIGKILL


def test_same_process_writers_share_the_lock(journal: Journal) -> None:
    other = Journal(journal.path)
    _fill(journal)
    assert other.task("ext-1") is not None
    other.close()
    journal.add_op("s1", "add", 1, [(0.5, 0.5)], [])  # still usable after the other closed


def test_concurrent_writers_from_two_processes_do_not_corrupt(tmp_path: Path) -> None:
    """Two connections write interleaved (the lock is bypassed on purpose: SQLite's own
    locking with BEGIN IMMEDIATE and the busy timeout must keep every row intact)."""
    path = tmp_path / "p" / "journal.sqlite3"
    j = Journal(path)
    j.add_session("s", base_url="http://h", video_url=None, created_at=0, expires_at=1, raw={})
    code = """
        import sys
        from kling_widget.journal import Journal, lock
        lock.OwnerLock.__init__ = lambda self, *a: setattr(self, "_released", True)
        lock.OwnerLock.release = lambda self: None
        j = Journal(sys.argv[1])
        for i in range(100):
            j.add_op("s", "add", int(sys.argv[2]), [(i / 1000, 0.5)], [{"i": i}])
        j.close()
        """
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path), str(f)], env=env)
        for f in (1, 2)
    ]

    def local() -> None:
        for i in range(100):
            j.add_op("s", "add", 3, [(i / 1000, 0.5)], [{"i": i}])

    t = threading.Thread(target=local)
    t.start()
    t.join()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    ops = j.ops()
    assert len(ops) == 300
    for frame in (1, 2, 3):
        seen = [o.masks[0]["i"] for o in ops if o.frame_index == frame]
        assert seen == list(range(100))  # each writer's rows in its own order
    assert j.db.query("PRAGMA integrity_check")[0][0] == "ok"
    j.close()


# --- damaged files ----------------------------------------------------------------------


def _damaged(journal: Journal, how: str) -> Path:
    _fill(journal)
    path = journal.path
    journal.close()
    con = sqlite3.connect(path)  # enough rows for several pages, in one transaction
    con.executemany(
        "INSERT INTO selection_ops (session_id, op, frame_index, points, masks, created_at) "
        "VALUES ('s1', 'add', ?, '[[0.5, 0.5]]', ?, 0)",
        [(i % 10, '[{"pad": "' + "x" * 200 + '"}]') for i in range(300)],
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"this is not a database at all" * 100)
    elif how == "scribbled":
        # Overwrite the middle pages (b-tree pages of the tables) with noise.
        page = 4096
        mid = bytearray(data)
        for off in range(page * 2, min(len(mid), page * 12), page):
            mid[off : off + page] = os.urandom(page)
        path.write_bytes(bytes(mid))
    elif how == "foreign":
        path.unlink()
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE other (x)")
        con.commit()
        con.close()
    return path


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "scribbled", "foreign"])
def test_damaged_journal_gives_clear_error_and_no_reset(journal: Journal, how: str) -> None:
    path = _damaged(journal, how)
    before = path.read_bytes()
    with pytest.raises(JournalCorruptError) as info:
        Journal(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "Journal.recover" in msg
    assert info.value.path == path
    assert path.read_bytes() == before  # never silently reset
    # Opening by clip again must refuse the same way, not start a new journal.
    with pytest.raises(JournalCorruptError):
        Journal(path.parent)


@pytest.mark.parametrize("how", ["truncated", "scribbled", "garbage"])
def test_recover_keeps_bad_file_and_rebuilds(journal: Journal, how: str) -> None:
    path = _damaged(journal, how)
    before = path.read_bytes()
    report = Journal.recover(path)
    kept = report.moved_to[0]
    assert kept.name.startswith("journal.sqlite3.corrupt-")
    assert kept.read_bytes() == before
    assert str(kept) in str(report)
    fresh = Journal(path)  # opens cleanly now
    try:
        if how == "garbage":
            assert report.rows_recovered == {} or sum(report.rows_recovered.values()) == 0
        if how == "truncated":
            # The first pages (schema, clip, sessions) survive a truncation at one third.
            assert report.rows_recovered.get("clip") == 1
            assert fresh.clip() is not None
        assert fresh.schema_version == SCHEMA_VERSION
    finally:
        fresh.close()


def test_newer_schema_is_refused(journal: Journal) -> None:
    path = journal.path
    journal.close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 5,))
    con.commit()
    con.close()
    with pytest.raises(Exception, match="newer than this kling-widget understands"):
        Journal(path)
