"""``Violation``: one broken rule found by a preflight check, with how to fix it.

Shared by the clip check (``VideoSource.check``) and the reference-image check
(``ReferenceImage.check``) so both report problems the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kling_widget.errors import KlingValidationError

__all__ = ["Violation", "raise_for"]


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


def raise_for(violations: Sequence[Violation]) -> None:
    """Raise ``KlingValidationError`` for the first violation, if there is any.

    The error names the first violation's field, value and rule (with its fix); when
    there are more, the rule says how many and which fields, so one message tells the
    whole story.
    """
    if not violations:
        return
    first = violations[0]
    rule = first.rule
    if first.fix:
        rule += f" — {first.fix}"
    rest = violations[1:]
    if rest:
        fields = ", ".join(v.field for v in rest)
        rule += f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: {fields})"
    raise KlingValidationError(first.field, first.value, rule)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:65] + f"... ({len(text)} chars)"
