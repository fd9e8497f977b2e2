"""Keyboard shortcuts: which key does what, and what is left alone."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pytest

from kling_widget.editor.keys import (
    BINDINGS,
    REPEAT_MS,
    SCOPE_CLASS,
    HelpPopover,
    Keys,
    action_for,
    guard_html,
    help_html,
)


def key(k: str, code: str = "", **mods: bool) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "keydown",
        "event": "keydown",
        "key": k,
        "code": code,
        "target": {"tagName": "DIV", "id": "", "className": "kling-frame-surface"},
    }
    for m in ("shiftKey", "ctrlKey", "metaKey", "altKey"):
        event[m] = mods.get(m.removesuffix("Key"), False)
    return event


@pytest.mark.parametrize(
    ("event", "action"),
    [
        (key("ArrowLeft"), "prev_frame"),
        (key("ArrowRight"), "next_frame"),
        (key("ArrowLeft", shift=True), "back_second"),
        (key("ArrowRight", shift=True), "forward_second"),
        (key("Home"), "first_frame"),
        (key("End"), "last_frame"),
        (key(" ", "Space"), "play_pause"),
        (key("Backspace"), "undo"),
        (key("z", "KeyZ", ctrl=True), "undo"),
        (key("z", "KeyZ", meta=True), "undo"),
        (key("Z", "KeyZ", ctrl=True, shift=True), "redo"),
        (key("Z", "KeyZ", meta=True, shift=True), "redo"),
        (key("y", "KeyY", ctrl=True), "redo"),
        (key("a", "KeyA"), "tool_add"),
        (key("A", "KeyA"), "tool_add"),  # caps lock
        (key("r", "KeyR"), "tool_remove"),
        (key("?", "Slash", shift=True), "help"),
        # A layout where Ctrl+Z types another letter: the physical key still counts.
        (key("я", "KeyZ", ctrl=True), "undo"),
    ],
)
def test_each_binding(event: dict[str, Any], action: str) -> None:
    assert action_for(event) == action


@pytest.mark.parametrize(
    "event",
    [
        key("x"),
        key("Enter", shift=True),  # run the cell: not ours
        key("a", "KeyA", ctrl=True),  # select all
        key("c", "KeyC", meta=True),  # copy
        key("A", "KeyA", shift=True),
        key("z", "KeyZ", ctrl=True, alt=True),
        key("ArrowLeft", alt=True),
        {"type": "keyup", "key": "ArrowLeft"},
        {"type": "keydown"},
    ],
)
def test_keys_that_are_not_ours_do_nothing(event: dict[str, Any]) -> None:
    assert action_for(event) is None


@pytest.mark.parametrize("tag", ["TEXTAREA", "INPUT", "select"])
def test_typing_in_a_text_field_is_never_read(tag: str) -> None:
    for k in ("a", " ", "Backspace", "ArrowLeft", "?"):
        event = key(k)
        event["target"] = {"tagName": tag}
        assert action_for(event) is None


def test_keys_call_the_handlers_and_report_failures() -> None:
    source = widgets.Box()
    calls: list[str] = []
    errors: list[tuple[str, str]] = []

    def boom() -> None:
        raise RuntimeError("nothing to undo")

    keys = Keys(
        source,
        {"next_frame": lambda: calls.append("next"), "undo": boom},
        on_error=lambda action, exc: errors.append((action, str(exc))),
    )
    assert keys.events.source is source
    assert keys.events.watched_events == ["keydown"]
    assert keys.handle(key("ArrowRight")) == "next_frame"
    assert keys.handle(key("Backspace")) == "undo"
    assert keys.handle(key("Home")) is None  # no handler given
    # What the browser's message does on the kernel side.
    keys.events._handle_mouse_msg(None, key("ArrowRight"), [])
    assert calls == ["next", "next"]
    assert errors == [("undo", "nothing to undo")]
    keys.close()


def test_help_lists_every_binding_and_toggles() -> None:
    text = help_html()
    for keys, what in BINDINGS:
        assert what in text and keys.split()[0] in text
    pop = HelpPopover()
    assert pop.panel.layout.display == "none" and not pop.visible
    pop.toggle()
    assert pop.panel.layout.display == "block" and pop.visible
    pop.button.value = False
    assert pop.panel.layout.display == "none"
    pop.close()


def test_the_watched_element_is_marked_and_cancels_keys_as_they_come() -> None:
    source = widgets.Box()
    keys = Keys(source, {"next_frame": lambda: None})
    assert SCOPE_CLASS in source._dom_classes
    # No throttle in the browser: it would cancel a key only after it has run its course.
    assert keys.events.wait == 0 and keys.events.throttle_or_debounce in ("", None)
    keys.close()


def test_the_guard_marks_the_watched_elements_for_lumino() -> None:
    text = guard_html()
    assert "data-lm-suppress-shortcuts" in text and f".{SCOPE_CLASS}" in text
    assert "onerror=" in text and "<script" not in text
    assert text in HelpPopover().panel.value  # rides on a widget always in the layout


def test_a_held_key_repeats_at_a_bounded_rate() -> None:
    calls: list[float] = []
    keys = Keys(widgets.Box(), {"next_frame": lambda: calls.append(1)})

    def press(stamp: float, repeat: bool) -> object:
        event = key("ArrowRight")
        event.update(timeStamp=stamp, repeat=repeat)
        return keys.handle(event)

    assert press(1000.0, False) == "next_frame"
    assert press(1000.0 + REPEAT_MS / 2, True) is None  # a repeat too soon: dropped
    assert press(1000.0 + REPEAT_MS + 1, True) == "next_frame"
    # A fresh press is never dropped, however soon.
    assert press(1000.0 + REPEAT_MS + 2, False) == "next_frame"
    assert len(calls) == 3
    keys.close()
