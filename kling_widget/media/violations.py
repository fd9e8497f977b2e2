"""``Violation``: one broken rule found by a preflight check, with how to fix it.

Shared by the clip check (``VideoSource.check``) and the reference-image check
(``ReferenceImage.check``) so both report problems the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Violation:
    """A documented limit that an input breaks.

    ``field`` names what is wrong (``"fps"``, ``"duration"``...), ``value`` is the
    offending value as measured, ``rule`` the documented limit in words and
    ``fix`` what will (or can) be done about it, in words.
    """

    field: str
    value: Any
    rule: str
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.field} {_show(self.value)}: {self.rule}"
        if self.fix:
            text += f" — {self.fix}"
        return text


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:65] + f"... ({len(text)} chars)"
