"""Typed, bounded reading of JSON replies: the wire is parsed, never trusted.

:class:`Fields` reads one JSON object of a reply. Each accessor accepts what Kling is known
to send (numbers sometimes as strings, missing or ``""`` meaning "not given") and raises
:class:`KlingResponseError` for anything else, naming the field's path and showing a short,
depth-limited excerpt of the value, so no ``AttributeError``, ``TypeError``,
``OverflowError`` or ``RecursionError`` escapes from a model.

Imports only ``kling_widget.errors``; never the clients.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from kling_widget.errors import KlingResponseError

# Milliseconds of 9999-12-31T23:59:59.999Z, the last instant a datetime can hold.
MAX_EPOCH_MS = 253_402_300_799_999
_excerpt = reprlib.Repr()
_excerpt.maxlevel = 3
_excerpt.maxstring = 60
_excerpt.maxother = 60
_excerpt.maxlist = _excerpt.maxdict = _excerpt.maxtuple = 4


def excerpt(value: object) -> str:
    """A short repr of ``value`` that is safe for any nesting depth or size."""
    try:
        return _excerpt.repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"<{type(value).__name__}>"


def bad(path: str, value: object, expected: str) -> KlingResponseError:
    """The error for a reply field ``path`` holding ``value`` instead of ``expected``."""
    return KlingResponseError(f"reply field {path}: expected {expected}, got {excerpt(value)}")


class Fields:
    """One JSON object of a reply, read field by field with types and ranges checked."""

    __slots__ = ("data", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise bad(path, data, "an object")
        self.data: Mapping[str, Any] = data
        self.path = path

    def where(self, key: str) -> str:
        """The path of ``key`` inside this object."""
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        """True when ``key`` is present and not null."""
        return self.data.get(key) is not None

    def text(self, key: str) -> str | None:
        """A string (an integer id is accepted and written out); ``None``/``""`` -> None."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise bad(self.where(key), value, "a string")

    def number(self, key: str, lo: float | None = None, hi: float | None = None) -> float | None:
        """A finite number (or a numeric string) within ``[lo, hi]``; missing -> None."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad(self.where(key), value, "a number")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise bad(self.where(key), value, "a number") from None
        if not math.isfinite(number):
            raise bad(self.where(key), value, "a finite number")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise bad(self.where(key), value, f"a number in [{lo}, {hi}]")
        return number

    def integer(self, key: str, lo: int | None = None, hi: int | None = None) -> int | None:
        """A whole number within ``[lo, hi]``; missing -> None."""
        number = self.number(key, lo, hi)
        if number is None:
            return None
        if not number.is_integer():
            raise bad(self.where(key), self.data.get(key), "a whole number")
        return int(number)

    def boolean(self, key: str) -> bool | None:
        """A JSON boolean; missing -> None."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise bad(self.where(key), value, "true or false")
        return value

    def ms_time(self, key: str) -> datetime | None:
        """Milliseconds since the epoch as an aware UTC datetime (years 1970-9999)."""
        ms = self.number(key)
        if ms is None:
            return None
        if not 0 <= ms <= MAX_EPOCH_MS:
            raise bad(self.where(key), self.data.get(key), "milliseconds since 1970 (up to 9999)")
        return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)

    def obj(self, key: str) -> Fields | None:
        """A nested object; missing, null or ``""`` -> None."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        return Fields(value, self.where(key))

    def objects(self, key: str) -> list[Fields]:
        """A list of objects; missing, null or ``""`` -> ``[]``."""
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise bad(self.where(key), value, "a list")
        return [Fields(item, f"{self.where(key)}[{i}]") for i, item in enumerate(value)]
