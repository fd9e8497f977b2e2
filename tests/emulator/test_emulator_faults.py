"""The fault plan: errors, slow answers, dropped connections, malformed and HTML bodies,
truncated downloads; seeded and deterministic; exercised through the real client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from emu_helpers import ME, assert_envelope, call, client_of, disc_centre

from kling_widget.emulator import Emulator, FaultPlan, ManualClock
from kling_widget.errors import KlingResponseError

LIST = ME + "?pageNum=1&pageSize=5"


@pytest.mark.parametrize(
    ("status", "code"), [(500, 5000), (503, 5001), (504, 5002), (429, 1302), (429, 1303)]
)
def test_error_faults_answer_the_documented_status_and_code(
    emu: Emulator, status: int, code: int
) -> None:
    emu.faults = FaultPlan().add("error", status=status, code=code, times=1)
    assert_envelope(call(emu, "GET", LIST), status, code)
    assert_envelope(call(emu, "GET", LIST), 200, 0)


def test_a_missing_status_or_code_is_filled_from_the_table(emu: Emulator) -> None:
    emu.faults = FaultPlan().add("error", code=5001, times=1).add("error", status=504, times=1)
    assert_envelope(call(emu, "GET", LIST), 503, 5001)
    assert_envelope(call(emu, "GET", LIST), 504, 5002)
    emu.faults = FaultPlan().add("error", times=1)
    assert_envelope(call(emu, "GET", LIST), 500, 5000)


def test_the_client_retries_a_server_error_and_succeeds(emu: Emulator, client: Any) -> None:
    emu.faults = FaultPlan().add("error", status=503, code=5001, times=1, path=ME)
    assert client.list_tasks() == []
    listed = [r for r in emu.requests if r.path == ME]
    assert len(listed) == 2
    assert emu.faults.rules[0].fired == 1


def test_slow_answers_still_answer(emu: Emulator, client: Any) -> None:
    emu.faults = FaultPlan().add("slow", delay=0.2, times=1)
    assert client.list_tasks() == []
    assert emu.faults.rules[0].fired == 1


def test_a_dropped_create_is_found_by_its_external_id_not_created_twice(
    emu: Emulator, client: Any, small_clip: Path, clock: ManualClock
) -> None:
    session = client.init_selection(video_url=emu.upload(small_clip))
    x, y = disc_centre(0, 720, 720)
    client.add_selection(session.session_id, 0, [(x / 720, y / 720)])
    emu.faults = FaultPlan().add("drop", path=ME, method="POST", times=1)
    task = client.create_task(session.session_id, "removal", "fail: delete it <<<video_1>>>")
    assert emu.faults.rules[0].fired == 1
    [only] = emu.tasks()
    assert task.task_id == only.task_id
    assert task.external_task_id == only.external_task_id
    creates = [r for r in emu.requests if r.method == "POST" and r.path == ME]
    assert len(creates) == 1
    lookups = [r for r in emu.requests if r.method == "GET" and r.path.startswith(ME + "/")]
    assert lookups and lookups[0].path == f"{ME}/{only.external_task_id}"


def test_a_dropped_reply_is_a_closed_connection(emu: Emulator) -> None:
    emu.faults = FaultPlan().add("drop", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        call(emu, "GET", LIST)
    assert_envelope(call(emu, "GET", LIST), 200, 0)


def test_malformed_and_html_bodies_become_response_errors(emu: Emulator) -> None:
    with client_of(emu, max_retries=0) as client:
        emu.faults = FaultPlan().add("malformed", times=1)
        raw = call(emu, "GET", LIST)
        assert raw.status_code == 200
        with pytest.raises(ValueError):
            raw.json()
        emu.faults = FaultPlan().add("malformed", times=1)
        with pytest.raises(KlingResponseError) as info:
            client.list_tasks()
        assert info.value.http_status == 200
        emu.faults = FaultPlan().add("html", times=1)
        page = call(emu, "GET", LIST)
        assert page.status_code == 502 and page.headers["Content-Type"] == "text/html"
        assert page.text.startswith("<html>")
        emu.faults = FaultPlan().add("html", status=504, times=1)
        with pytest.raises(KlingResponseError) as info:
            client.list_tasks()
        assert info.value.http_status == 504
        assert "html" in str(info.value).lower()


def test_a_truncated_download_is_resumed_with_a_range_request(
    emu: Emulator, client: Any, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 400
    src = tmp_path / "result.mp4"
    src.write_bytes(data)
    url = emu.upload(src)
    emu.faults = FaultPlan().add("truncate", path="/emulator/files/", times=1, truncate_at=5000)
    out = client.download(url, tmp_path / "downloaded.mp4")
    assert out.read_bytes() == data
    gets = [r for r in emu.requests if r.path.startswith("/emulator/files/")]
    assert len(gets) == 2
    assert gets[1].headers.get("Range") == "bytes=5000-"


def test_rules_without_a_path_leave_the_emulator_endpoints_alone(emu: Emulator) -> None:
    emu.faults = FaultPlan().add("error")
    assert httpx.get(emu.base_url + "/emulator/info").status_code == 200
    assert_envelope(call(emu, "GET", LIST), 500, 5000)


def test_after_times_and_method_select_which_requests_fail() -> None:
    plan = FaultPlan().add("error", after=2, times=1, method="post")
    seen = [plan.decide("POST", ME)[1] is not None for _ in range(5)]
    assert seen == [False, False, True, False, False]
    assert plan.decide("GET", ME) == (0.0, None)


def test_rate_is_seeded_and_reproducible() -> None:
    def run(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed).add("error", rate=0.5)
        return [plan.decide("GET", ME)[1] is not None for _ in range(64)]

    assert run(3) == run(3)
    assert run(3) != run(4)
    assert 10 < sum(run(3)) < 54


def test_slow_combines_with_a_later_rule() -> None:
    plan = FaultPlan().add("slow", delay=0.5).add("error", code=1302)
    delay, fault = plan.decide("GET", ME)
    assert delay == 0.5
    assert fault is not None and (fault.status, fault.code) == (429, 1302)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"kind": "error", "rate": 1.5},
        {"kind": "error", "times": -1},
        {"kind": "slow", "delay": -1},
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, Any]) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError):
        FaultPlan().add(kind, **kwargs)
