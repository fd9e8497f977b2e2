"""Keyboard shortcuts of the editor, read through ``ipyevents``, and their help popover.

======================  ====================================
key                     action
======================  ====================================
← / →                   one frame back / forward
Shift+← / Shift+→       one second back / forward
Home / End              first / last frame
Space                   play / pause
Backspace               undo
Ctrl+Z / ⌘Z             undo
Shift+Ctrl+Z / ⇧⌘Z      redo (Ctrl+Y too)
A / R                   Add / Remove tool
?                       show / hide this help
======================  ====================================

Where keys act: ``ipyevents`` gives the watched element the keyboard while the pointer is
over it (it focuses the element on ``mouseenter`` and listens until ``mouseleave``), so
the shortcuts work while the pointer is on the frame and the widget rows bound to them,
and nowhere else: typing in the prompt box, or anywhere else in the notebook, is never
read or blocked. A key event whose target is a text field is ignored as well.

The front end's own single-key shortcuts: ``ipyevents`` cancels each key it reads
(``preventDefault``) from a capturing listener on ``document``, and Lumino's command
registry skips a cancelled key. JupyterLab listens in the bubbling phase, so it sees the
key cancelled; Notebook 7 listens in the capturing phase, registered first, so it would
run ``R`` (cell to raw: the editor's output vanishes), ``A`` (insert a cell), arrows and
so on before ``ipyevents`` sees the key. Lumino matches no shortcut for a key whose target
sits under an element with ``data-lm-suppress-shortcuts``; widgets cannot set attributes,
so :func:`guard_html` carries a few lines of script that give the attribute to each
watched element (class :data:`SCOPE_CLASS`) while the pointer is over it, which is
when ``ipyevents`` reads the keys. Only the watched element and what is inside it are
exempted, and only then: the prompt box and the rest of the notebook keep every shortcut.

:func:`action_for` is the pure mapping from a key event to an action name; :class:`Keys`
wires it to callables. Imports only ``ipywidgets`` and ``ipyevents``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Literal

import ipywidgets as widgets
from ipyevents import Event

Action = Literal[
    "prev_frame",
    "next_frame",
    "back_second",
    "forward_second",
    "first_frame",
    "last_frame",
    "play_pause",
    "undo",
    "redo",
    "tool_add",
    "tool_remove",
    "help",
]

__all__ = [
    "BINDINGS",
    "SCOPE_CLASS",
    "Action",
    "HelpPopover",
    "Keys",
    "action_for",
    "guard_html",
    "help_html",
]

# What the help popover lists, in this order.
BINDINGS: tuple[tuple[str, str], ...] = (
    ("← / →", "one frame back / forward"),
    ("Shift + ← / →", "one second back / forward"),
    ("Home / End", "first / last frame"),
    ("Space", "play / pause"),
    ("Backspace, Ctrl/⌘ + Z", "undo"),
    ("Shift + Ctrl/⌘ + Z", "redo"),
    ("A / R", "Add / Remove tool"),
    ("?", "show / hide this help"),
)

# The class Keys gives its source; the guard script marks elements of this class.
SCOPE_CLASS = "kling-keys-scope"
_SUPPRESS_ATTR = "data-lm-suppress-shortcuts"

_TEXT_TARGETS = frozenset({"INPUT", "TEXTAREA", "SELECT"})
# Key repeat at the OS rate (~30/s) would queue redraws faster than a round trip: a held
# key's repeats closer together than this (browser timestamps) are dropped here. Not with
# ipyevents' throttle: it wraps the browser-side listener whole, so a key arriving inside
# the window (the Z of Ctrl+Z, a modifier's keydown having opened the window) is handled
# after the event has run its course: too late to cancel it, and the browser's own undo
# then rewrites the last text field edited.
REPEAT_MS = 40


def _flag(event: Mapping[str, object], name: str) -> bool:
    return event.get(name) is True


def action_for(event: Mapping[str, object]) -> Action | None:
    """The action a ``keydown`` event asks for, or ``None`` (not ours, or typed in a field)."""
    if event.get("type", "keydown") != "keydown":
        return None
    target = event.get("target")
    if isinstance(target, Mapping) and str(target.get("tagName", "")).upper() in _TEXT_TARGETS:
        return None
    key = event.get("key")
    if not isinstance(key, str):
        return None
    code = event.get("code") if isinstance(event.get("code"), str) else ""
    shift, alt = _flag(event, "shiftKey"), _flag(event, "altKey")
    command = _flag(event, "ctrlKey") or _flag(event, "metaKey")
    if command:
        if alt:
            return None
        if key.lower() == "z" or code == "KeyZ":
            return "redo" if shift else "undo"
        if (key.lower() == "y" or code == "KeyY") and not shift:
            return "redo"
        return None
    if alt:
        return None
    if key == "ArrowLeft":
        return "back_second" if shift else "prev_frame"
    if key == "ArrowRight":
        return "forward_second" if shift else "next_frame"
    if shift and key not in ("?",):
        # Shift+letters and the like are left to the browser.
        return None
    simple: dict[str, Action] = {
        "Home": "first_frame",
        "End": "last_frame",
        " ": "play_pause",
        "Spacebar": "play_pause",
        "Backspace": "undo",
        "a": "tool_add",
        "r": "tool_remove",
        "?": "help",
    }
    return simple.get(key if len(key) > 1 else key.lower())


_KEY_CELL = "padding:1px 10px 1px 0;white-space:nowrap"


def help_html() -> str:
    """The help popover's content: one row per binding."""
    rows = "".join(
        f"<tr><td style='{_KEY_CELL}'><kbd>{html.escape(k)}</kbd></td>"
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in BINDINGS
    )
    return (
        "<div class='kling-keys-help' style='font:12px sans-serif;padding:6px 8px;"
        "border:1px solid #cbd5e1;border-radius:6px;background:#f8fafc'>"
        "<div style='font-weight:600;margin-bottom:4px'>Keyboard (pointer on the frame)</div>"
        f"<table>{rows}</table></div>"
    )


# Installed once per page. The attribute is on a scope exactly while the pointer is over
# it, which is when ipyevents takes the keys (mouseenter to mouseleave): a button of the
# stage keeping the focus after the pointer left does not keep the notebook's keys away.
_GUARD_JS = (
    "(function(){if(window.__klingKeysScope)return;window.__klingKeysScope=true;"
    f"var s='.{SCOPE_CLASS}',a='{_SUPPRESS_ATTR}',"
    "scope=function(t){return t&&t.closest?t.closest(s):null;};"
    "document.addEventListener('mouseover',function(e){var el=scope(e.target);"
    "if(el&&!el.hasAttribute(a))el.setAttribute(a,'true');},true);"
    "document.addEventListener('mouseout',function(e){var el=scope(e.target);"
    "if(el&&!(e.relatedTarget&&el.contains(e.relatedTarget)))el.removeAttribute(a);},true);"
    "})();"
)


def guard_html() -> str:
    """Invisible HTML whose script keeps the front end's shortcuts off the watched
    elements (see the module docstring). An ``HTML`` widget sets its value as
    ``innerHTML``, where a ``<script>`` would not run but an image's ``onerror`` does."""
    js = html.escape(_GUARD_JS + "this.remove();", quote=True)
    return f'<img class="kling-keys-guard" alt="" src="data:," style="display:none" onerror="{js}">'


class HelpPopover:
    """A small "?" button that shows and hides the list of shortcuts."""

    def __init__(self) -> None:
        self.button = widgets.ToggleButton(
            value=False,
            description="?",
            tooltip="Keyboard shortcuts",
            layout=widgets.Layout(width="32px"),
        )
        self.button.add_class("kling-keys-button")
        # The guard rides on the panel, which is always in the layout (hidden or not).
        self.panel = widgets.HTML(help_html() + guard_html(), layout=widgets.Layout(display="none"))
        self.panel.add_class("kling-keys-panel")
        self.button.observe(lambda ch: self._show(bool(ch["new"])), "value")

    @property
    def visible(self) -> bool:
        """Whether the list is shown."""
        return bool(self.button.value)

    def toggle(self) -> None:
        """Show the list if hidden, hide it if shown."""
        self.button.value = not self.button.value

    def _show(self, on: bool) -> None:
        self.panel.layout.display = "block" if on else "none"

    def close(self) -> None:
        """Close both widgets."""
        self.panel.close()
        self.button.close()


class Keys:
    """Watches ``source`` for key presses and calls ``handlers[action]()``.

    ``handlers`` maps action names to callables; actions without a handler are ignored.
    A handler that raises is reported through ``on_error`` (never out of the event).
    """

    def __init__(
        self,
        source: widgets.DOMWidget,
        handlers: Mapping[Action, Callable[[], object]],
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.handlers: dict[Action, Callable[[], object]] = dict(handlers)
        self.on_error = on_error
        source.add_class(SCOPE_CLASS)
        self.events = Event(
            source=source,
            watched_events=["keydown"],
            ignore_modifier_key_events=True,
        )
        self._last_stamp: float | None = None
        self.events.on_dom_event(self.handle)

    def _too_soon(self, event: Mapping[str, object]) -> bool:
        stamp = event.get("timeStamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            return False
        last, self._last_stamp = self._last_stamp, float(stamp)
        if event.get("repeat") is not True or last is None:
            return False
        if stamp - last < REPEAT_MS:
            self._last_stamp = last  # the dropped repeat does not restart the window
            return True
        return False

    def handle(self, event: Mapping[str, object]) -> Action | None:
        """Act on one key event (what the browser sends); returns the action taken."""
        action = action_for(event)
        if action is None or self._too_soon(event):
            return None
        fn = self.handlers.get(action)
        if fn is None:
            return None
        try:
            fn()
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(action, exc)
        return action

    def close(self) -> None:
        """Stop watching."""
        self.events.close()
