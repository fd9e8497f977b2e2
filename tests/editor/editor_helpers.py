"""Helpers for the editor tests: what the widgets send to the browser, decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sent:
    """One comm message as the kernel would send it to the browser."""

    msg_type: str
    data: Any
    buffers: list[bytes]

    @property
    def nbytes(self) -> int:
        return len(json.dumps(self.data, default=str)) + sum(len(b) for b in self.buffers)


@dataclass
class CommRecorder:
    """Every message every widget published while it was installed."""

    messages: list[Sent] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int) -> list[Sent]:
        return self.messages[mark:]

    def bytes_since(self, mark: int) -> int:
        return sum(m.nbytes for m in self.since(mark))

    def buffers_since(self, mark: int) -> list[bytes]:
        return [b for m in self.since(mark) for b in m.buffers]


def canvas_commands(messages: list[Sent]) -> list[tuple[str, list[Any]]]:
    """The ipycanvas drawing commands in ``messages``, as (name, args), in order."""
    from ipycanvas.canvas import _CMD_LIST

    out: list[tuple[str, list[Any]]] = []

    def walk(cmd: Any) -> None:
        if isinstance(cmd, list) and cmd and isinstance(cmd[0], list):
            for c in cmd:
                walk(c)
        elif isinstance(cmd, list) and cmd and isinstance(cmd[0], int):
            out.append((_CMD_LIST[cmd[0]], cmd[1] if len(cmd) > 1 else []))

    for m in messages:
        if not m.buffers:
            continue
        try:
            parsed = json.loads(m.buffers[0])
        except (UnicodeDecodeError, ValueError):
            continue
        walk(parsed)
    return out


def drawn_models(messages: list[Sent]) -> list[str]:
    """Model ids of the images drawn by ``drawImage`` commands in ``messages``."""
    return [
        str(args[0]).removeprefix("IPY_MODEL_")
        for name, args in canvas_commands(messages)
        if name == "drawImage"
    ]


def press(
    surface: Any,
    x: float,
    y: float,
    box: tuple[float, float, float, float] = (13.5, -200.25, 800.0, 450.0),
) -> None:
    """What the browser sends when the user presses the mouse at normalized (x, y) of a
    click surface whose box (left, top, width, height) is ``box`` in page pixels."""
    left, top, width, height = box
    surface.events._handle_mouse_msg(
        None,
        {
            "type": "mousedown",
            "button": 0,
            "clientX": left + x * width,
            "clientY": top + y * height,
            "boundingRectLeft": left,
            "boundingRectTop": top,
            "boundingRectWidth": width,
            "boundingRectHeight": height,
        },
        [],
    )


def client_for(emu: Any, timeout: float = 300) -> Any:
    """A ``KlingClient`` pointed at the emulator ``emu``."""
    from kling_widget.api.client import KlingClient

    return KlingClient(**emu.client_options(), timeout=timeout)
