"""Retries, backoff, Retry-After, JWT re-minting and creates that are never billed twice."""

from __future__ import annotations

import random
import time

import jwt
import pytest
from kling_fake_server import (
    ACCESS_KEY,
    SECRET_KEY,
    FakeKling,
    Recorded,
    Reply,
    SleepLog,
    envelope,
    shared_http,
    task_json,
)

from kling_widget import errors as e
from kling_widget.api.client import KlingClient
from kling_widget.api.core import RetryPolicy

ME = "/v1/videos/multi-elements"


def busy(code: int = 1302, status: int = 429, **kw: object) -> Reply:
    return Reply(status, envelope(None, code=code, message="slow down"), **kw)  # type: ignore[arg-type]


def test_backoff_is_exponential_with_jitter_and_at_least_1s(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(busy(1302), busy(1303), busy(5000, 500), busy(5001, 503))
    server.ok(task_json())
    assert client.get_task("t-1").task_id == "t-1"
    assert len(server.requests) == 5
    d = sleeps.delays
    assert len(d) == 4
    for i, delay in enumerate(d):
        assert 2**i <= delay <= 1.5 * 2**i
    assert d[0] >= 1.0


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=20, base_delay=1.0, max_delay=30.0, rng=random.Random(1))
    delays = [policy.delay(n) for n in range(12)]
    assert all(x is not None and 1.0 <= x <= 30.0 for x in delays)
    assert delays[-1] == 30.0


def test_jitter_varies_between_clients() -> None:
    a = [RetryPolicy(rng=random.Random(s)).delay(2) for s in range(5)]
    assert len(set(a)) == 5


def test_retry_after_is_honoured(client: KlingClient, server: FakeKling, sleeps: SleepLog) -> None:
    server.reply(busy(1303, headers={"Retry-After": "7"}))
    server.ok(task_json())
    client.get_task("t-1")
    assert sleeps.delays == [7.0]


def test_retry_after_http_date(client: KlingClient, server: FakeKling, sleeps: SleepLog) -> None:
    server.reply(busy(1302, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    server.ok(task_json())
    client.get_task("t-1")
    assert sleeps.delays == [0.0]  # a date in the past: retry now


def test_huge_retry_after_raises_instead_of_hanging(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(busy(1302, headers={"Retry-After": "86400"}))
    with pytest.raises(e.KlingRateLimitError):
        client.get_task("t-1")
    assert sleeps.delays == []


def test_max_retries_bounds_attempts(server: FakeKling, sleeps: SleepLog) -> None:
    for _ in range(10):
        server.reply(busy())
    with (
        KlingClient(
            api_key="k" * 32,
            base_url=server.url,
            sleep=sleeps,
            max_retries=2,
            http_client=shared_http(),
        ) as c,
        pytest.raises(e.KlingRateLimitError),
    ):
        c.get_task("t-1")
    assert len(server.requests) == 3


def test_account_errors_on_429_are_not_retried(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(busy(1102))
    with pytest.raises(e.KlingAccountError):
        client.get_task("t-1")
    assert sleeps.delays == [] and len(server.requests) == 1


@pytest.mark.parametrize("code", [1004, 1003])
def test_expired_jwt_is_reminted_once(
    client: KlingClient, server: FakeKling, sleeps: SleepLog, code: int
) -> None:
    # A token cached 20 minutes ago that the server already considers expired.
    stale = client.credentials.bearer_token(now=time.time() - 1200)
    server.reply(Reply(401, envelope(None, code=code, message="token expired")))
    server.ok(task_json())
    client.get_task("t-1")
    first, second = (r.headers["Authorization"] for r in server.requests)
    assert first == f"Bearer {stale}"
    assert first != second
    claims = jwt.decode(second.split(" ")[1], SECRET_KEY, algorithms=["HS256"])
    assert claims["iss"] == ACCESS_KEY
    assert sleeps.delays == []


def test_remint_happens_only_once(client: KlingClient, server: FakeKling) -> None:
    server.reply(*[Reply(401, envelope(None, code=1004, message="expired"))] * 3)
    with pytest.raises(e.KlingAuthError):
        client.get_task("t-1")
    assert len(server.requests) == 2


def test_api_key_401_is_not_retried(server: FakeKling, sleeps: SleepLog) -> None:
    server.reply(Reply(401, envelope(None, code=1004, message="expired")))
    with (
        KlingClient(
            api_key="k" * 32, base_url=server.url, sleep=sleeps, http_client=shared_http()
        ) as c,
        pytest.raises(e.KlingAuthError),
    ):
        c.get_task("t-1")
    assert len(server.requests) == 1


def test_dropped_reply_is_retried_for_queries(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(Reply(drop=True))
    server.ok(task_json())
    assert client.get_task("t-1").task_id == "t-1"
    assert len(server.requests) == 2 and len(sleeps.delays) == 1


class OneTaskServer:
    """Server-side state for idempotency tests: tasks by external id."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, object]] = {}

    def create(self, req: Recorded) -> Reply:
        ext = req.json["external_task_id"]
        if ext in self.tasks:
            return Reply(400, envelope(None, code=1201, message="external_task_id already exists"))
        self.tasks[ext] = task_json(f"task-{len(self.tasks) + 1}", external=ext)
        return Reply(200, envelope(self.tasks[ext]))

    def create_then_drop(self, req: Recorded) -> Reply:
        self.create(req)
        return Reply(drop=True)

    def lookup(self, req: Recorded) -> Reply:
        ext = req.path.rsplit("/", 1)[1]
        if ext in self.tasks:
            return Reply(200, envelope(self.tasks[ext]))
        return Reply(404, envelope(None, code=1203, message="task not found"))


def test_dropped_create_is_looked_up_not_resent(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    state = OneTaskServer()
    server.reply(state.create_then_drop, state.lookup)
    task = client.create_task("s-1", "removal", "Delete the cup from <<<video_1>>>")
    assert len(state.tasks) == 1
    ext = next(iter(state.tasks))
    assert task.task_id == "task-1" and task.external_task_id == ext
    assert [(r.method, r.path) for r in server.requests] == [("POST", ME), ("GET", f"{ME}/{ext}")]
    assert len(sleeps.delays) == 1


def test_create_not_received_is_resent_with_same_external_id(
    client: KlingClient, server: FakeKling
) -> None:
    state = OneTaskServer()
    # The reply never arrives and the server did not create anything (it crashed first).
    server.reply(Reply(drop=True), state.lookup, state.create)
    task = client.create_task("s-1", "removal", "Delete <<<video_1>>>", external_task_id="e-1")
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", ME),
        ("GET", f"{ME}/e-1"),
        ("POST", ME),
    ]
    assert server.requests[0].json == server.requests[2].json
    assert list(state.tasks) == ["e-1"] and task.task_id == "task-1"


def test_5xx_on_create_is_looked_up_first(client: KlingClient, server: FakeKling) -> None:
    state = OneTaskServer()

    def create_then_500(req: Recorded) -> Reply:
        state.create(req)
        return busy(5000, 500)

    server.reply(create_then_500, state.lookup)
    task = client.create_omni_video("edit <<<video_1>>>", video_list=["https://x/v.mp4"])
    assert len(state.tasks) == 1 and task.kind == "omni-video"
    assert [r.method for r in server.requests] == ["POST", "GET"]
    assert server.requests[1].path.startswith("/v1/videos/omni-video/")


def test_rate_limited_create_is_resent_directly(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    state = OneTaskServer()
    server.reply(busy(1303), state.create)
    client.create_task("s-1", "removal", "Delete <<<video_1>>>")
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert len(state.tasks) == 1


def test_duplicate_after_ambiguous_failure_finds_the_task(
    client: KlingClient, server: FakeKling
) -> None:
    state = OneTaskServer()

    def lookup_not_yet(req: Recorded) -> Reply:
        return Reply(404, envelope(None, code=1203, message="task not found"))

    # Dropped create (created), lookup lags behind, re-create says "exists", lookup finds it.
    server.reply(state.create_then_drop, lookup_not_yet, state.create, state.lookup)
    task = client.create_task("s-1", "removal", "Delete <<<video_1>>>")
    assert len(state.tasks) == 1 and task.task_id == "task-1"
    assert [r.method for r in server.requests] == ["POST", "GET", "POST", "GET"]


def test_ambiguous_create_that_never_resolves_names_the_external_id(
    server: FakeKling, sleeps: SleepLog
) -> None:
    server.default = lambda req: Reply(drop=True)
    with (
        KlingClient(
            api_key="k" * 32,
            base_url=server.url,
            sleep=sleeps,
            max_retries=2,
            http_client=shared_http(),
        ) as c,
        pytest.raises(e.KlingTransportError) as info,
    ):
        c.create_task("s-1", "removal", "Delete <<<video_1>>>", external_task_id="e-77")
    assert "get_task('e-77')" in str(info.value)
    assert [r.method for r in server.requests] == ["POST", "GET", "GET"]


def test_read_timeout_is_ambiguous(server: FakeKling, sleeps: SleepLog) -> None:
    state = OneTaskServer()

    def create_slowly(req: Recorded) -> Reply:
        state.create(req)
        return Reply(200, envelope({}), delay=1.0)

    server.reply(create_slowly, state.lookup)
    with KlingClient(api_key="k" * 32, base_url=server.url, sleep=sleeps, timeout=0.3) as c:
        task = c.create_task("s-1", "removal", "Delete <<<video_1>>>")
    assert len(state.tasks) == 1 and task.task_id == "task-1"
    assert [r.method for r in server.requests] == ["POST", "GET"]
