"""Run a notebook top to bottom with nbclient and read what it printed.

Used by the notebook tests (in this interpreter) and by the Binder test (run as a script by
the fresh virtual environment's Python: ``python nbharness.py IN.ipynb OUT.ipynb``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT_S = 600


def execute(
    notebook: Path,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: int = CELL_TIMEOUT_S,
) -> Any:
    """Execute ``notebook`` with the ``python3`` kernel in ``workdir``; returns the result.

    A failing cell raises ``nbclient.exceptions.CellExecutionError`` with its traceback.
    """
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    kwargs: dict[str, Any] = {}
    if env is not None:
        kwargs["env"] = env
    client.execute(**kwargs)
    return nb


def outputs(nb: Any) -> list[dict[str, Any]]:
    """Every output of every code cell, in order."""
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def text(nb: Any) -> str:
    """All printed and displayed text (streams, plain text and HTML reprs)."""
    parts: list[str] = []
    for o in outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        data = o.get("data", {})
        for mime in ("text/plain", "text/html"):
            if mime in data:
                value = data[mime]
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def widget_views(nb: Any) -> list[dict[str, Any]]:
    """The widget views the notebook displayed (``application/vnd.jupyter.widget-view+json``)."""
    return [
        o["data"]["application/vnd.jupyter.widget-view+json"]
        for o in outputs(nb)
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]


def serialized(nb: Any) -> str:
    """The whole executed notebook as JSON text (to search it for secrets)."""
    return json.dumps(nb)


if __name__ == "__main__":
    source, dest = Path(sys.argv[1]), Path(sys.argv[2])
    done = execute(source, source.parent)
    nbformat.write(done, dest)
