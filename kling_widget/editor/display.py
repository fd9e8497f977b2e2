"""Showing the editor in IPython, and choosing its client: small helpers of ``Editor``.

Imports ``connect`` (the workflow's client choice) and IPython lazily; never a widget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from kling_widget.editor.messages import URL_PROBLEM

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.journal import JournalLockedError
    from kling_widget.workflow import Project


def pick_client(client: KlingClient | None) -> tuple[KlingClient, str]:
    """The client to use and a notice saying where it runs (the emulator, or nothing)."""
    from kling_widget.workflow.connect import EMULATOR_NOTICE, default_client, is_emulator

    if client is not None:
        base = str(getattr(client, "base_url", ""))
        return client, (f"{EMULATOR_NOTICE} at {base}" if is_emulator(base) else "")
    made, notice = default_client(quiet=True)
    return made, str(notice or "")


def default_uploader(client: KlingClient) -> Callable[[Path], str] | None:
    """The emulator's upload endpoint when ``client`` talks to an emulator."""
    from kling_widget.workflow.connect import uploader_for

    found: Callable[[Path], str] | None = uploader_for(client)
    return found


def locked_message(exc: JournalLockedError) -> str:
    """What a second editor on a clip open elsewhere says (no traceback)."""
    where = f" (process {exc.pid})" if getattr(exc, "pid", None) else ""
    return (
        f"This clip is open in another editor{where}, which owns its project. This view is "
        "read-only: it shows the clip but sends nothing. Close the other editor (or its "
        "kernel) and open the clip again to edit it here."
    )


def _shell() -> object | None:
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return None
    shell: object | None = get_ipython()  # type: ignore[no-untyped-call,unused-ignore]
    return shell


def execution_count() -> int | None:
    """The running cell's number (IPython bumps it after the cell), ``None`` outside."""
    count = getattr(_shell(), "execution_count", None)
    return count if isinstance(count, int) else None


def autodisplay(widget: widgets.Widget) -> int | None:
    """Display ``widget`` when running in a kernel; returns the cell number it was shown in."""
    shell = _shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display

    display(widget)  # type: ignore[no-untyped-call]
    return execution_count()


def show_once(widget: widgets.Widget, displayed_at: int | None) -> None:
    """Display ``widget`` unless it was already shown by the running cell."""
    from IPython.display import display

    if displayed_at is not None and displayed_at == execution_count():
        return
    display(widget)  # type: ignore[no-untyped-call]


def url_problem(
    video_url: str | None, uploader: Callable[[Path], str] | None, project: Project | None
) -> str:
    """Why Kling could not read the clip ("" when a URL, an uploader or a journaled URL exists)."""
    if video_url is not None or uploader is not None:
        return ""
    try:
        url = project.journal.video_url() if project is not None else None
    except Exception:
        url = None
    return "" if url else URL_PROBLEM
