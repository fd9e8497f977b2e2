"""A selection that behaves like Kling's (delete needs the exact points), in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Point = tuple[float, float]


class FakeOps:
    """A selection that behaves like Kling's: delete needs the exact points."""

    def __init__(self) -> None:
        self.points: dict[int, list[Point]] = {}
        # What tests look at (and reset); ``sent`` keeps every call for calls_since_clear.
        self.calls: list[tuple[str, int | None, list[Point]]] = []
        self.sent: list[tuple[str, int | None, list[Point]]] = []
        self.fail_next: str | None = None

    def _maybe_fail(self, op: str) -> None:
        if self.fail_next == op:
            self.fail_next = None
            raise ConnectionError(f"{op} lost")

    def select(self, frame: int, points: Sequence[Point]) -> object:
        self._maybe_fail("select")
        self.calls.append(("add", frame, list(points)))
        self.sent.append(self.calls[-1])
        self.points.setdefault(frame, []).extend(points)
        return None

    def unselect(self, frame: int, points: Sequence[Point]) -> object:
        self._maybe_fail("unselect")
        have = self.points.get(frame, [])
        missing = [p for p in points if p not in have]
        assert not missing, f"delete of points never added: {missing}"
        self.calls.append(("delete", frame, list(points)))
        self.sent.append(self.calls[-1])
        self.points[frame] = [p for p in have if p not in points]
        if not self.points[frame]:
            del self.points[frame]
        return None

    def clear(self) -> object:
        self._maybe_fail("clear")
        self.calls.append(("clear", None, []))
        self.sent.append(self.calls[-1])
        self.points.clear()
        return None

    def current_points(self) -> Mapping[int, Sequence[Point]]:
        return {f: list(p) for f, p in self.points.items()}

    def calls_since_clear(self) -> Sequence[tuple[str, int | None, Sequence[Point]]]:
        return self.sent
