"""The slot limiter: at most ``limit`` in flight, learning the limit from 1303 answers."""

from __future__ import annotations

import asyncio

import pytest

from kling_widget.batch.limiter import SlotLimiter


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_given_limit_is_never_exceeded_and_waiters_go_in_order() -> None:
    async def main() -> list[int]:
        lim = SlotLimiter(2)
        order: list[int] = []
        in_flight = 0
        peak = 0

        async def job(i: int) -> None:
            nonlocal in_flight, peak
            await lim.acquire()
            in_flight += 1
            peak = max(peak, in_flight)
            order.append(i)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            in_flight -= 1
            await lim.release(task_ended=True)

        await asyncio.gather(*(job(i) for i in range(8)))
        assert peak == 2 and lim.peak == 2 and lim.in_flight == 0
        return order

    assert run(main()) == list(range(8))


def test_1303_drops_the_limit_to_what_is_in_flight() -> None:
    async def main() -> SlotLimiter:
        lim = SlotLimiter(None, start=16)
        seen = [await lim.acquire() for _ in range(6)]
        assert seen == [1, 2, 3, 4, 5, 6]
        # The account held 5: the sixth create was refused.
        await lim.refused(seen[-1])
        assert lim.limit == 5 and lim.in_flight == 5 and lim.refusals == 1
        # A seventh waits until one of the five ends.
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        await lim.release(task_ended=True)
        await asyncio.wait_for(waiter, 1)
        assert lim.in_flight == 5
        return lim

    run(main())


def test_a_task_ending_while_the_refusal_travels_does_not_lower_the_limit_too_far() -> None:
    async def main() -> None:
        lim = SlotLimiter(None, start=8)
        seen = [await lim.acquire() for _ in range(6)]
        # One of the five running tasks ends before the 1303 for the sixth arrives.
        await lim.release(task_ended=True)
        await lim.refused(seen[-1])
        assert lim.in_flight == 4 and lim.limit == 5
        # Without knowing what was in flight at send time, only the current count is known.
        other = SlotLimiter(None, start=8)
        for _ in range(6):
            await other.acquire()
        await other.release(task_ended=True)
        await other.refused()
        assert other.limit == 4

    run(main())


def test_additive_increase_after_clean_ends_up_to_the_given_cap() -> None:
    async def main() -> None:
        learned = SlotLimiter(None, start=2, probe_after=3)
        for _ in range(3):
            await learned.acquire()
            await learned.release(task_ended=True)
        assert learned.limit == 3 and learned.probes == 1

        capped = SlotLimiter(2, probe_after=1)
        await capped.acquire()
        await capped.acquire()
        await capped.refused()  # someone else uses the account: drop to 1
        assert capped.limit == 1
        await capped.release(task_ended=True)  # one clean end: back up to 2
        assert capped.limit == 2
        await capped.acquire()
        await capped.acquire()
        await capped.release(task_ended=True)
        assert capped.limit == 2  # never above the given limit

        # A failed create is not a clean end and does not count towards a probe.
        other = SlotLimiter(None, start=1, probe_after=1)
        await other.acquire()
        await other.release(task_ended=False)
        assert other.limit == 1

    run(main())


def test_a_refusal_with_nothing_in_flight_keeps_one_slot() -> None:
    async def main() -> None:
        lim = SlotLimiter(None, start=4)
        await lim.acquire()
        await lim.refused()  # another process holds the whole account
        assert lim.limit == 1 and lim.in_flight == 0

    run(main())


def test_adopted_tasks_count_at_once_even_above_the_limit() -> None:
    async def main() -> None:
        lim = SlotLimiter(1)
        lim.adopt()
        lim.adopt()
        assert lim.in_flight == 2 and lim.peak == 2
        waiter = asyncio.ensure_future(lim.acquire())
        await lim.release(task_ended=True)
        await asyncio.sleep(0)
        assert not waiter.done()  # still 1 in flight = the limit
        await lim.release(task_ended=True)
        await asyncio.wait_for(waiter, 1)

    run(main())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_concurrency_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        SlotLimiter(bad)  # type: ignore[arg-type]
