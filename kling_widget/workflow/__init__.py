"""The workflow: a clip's journaled editing project, and getting a client.

* :class:`Project` (``project.py``): the facade users call; its halves are the
  :class:`SelectionSession` (``selection.py``: init, replay after expiry, verify) and the
  :class:`TaskBook` (``tasks.py``: create, resume, wait, download), sharing a
  ``ProjectContext`` (``context.py``). Requests are built and checked in ``requests.py``,
  reference images kept in ``references.py``, results fetched in ``results.py``.
* ``connect.py``: :func:`default_client` (credentials from the environment, else the local
  emulator) and :func:`uploader_for`.

Sits above the API, the media tools, the journal and the emulator; never imports the
editor, the batch or the command line (they import it).
"""

from __future__ import annotations

from kling_widget.workflow.connect import default_client, is_emulator, uploader_for
from kling_widget.workflow.project import FrameCheck, Project, RebuildReport, Restored
from kling_widget.workflow.selection import SelectionSession, may_have_landed
from kling_widget.workflow.tasks import TaskBook, check_timeout, request_key

__all__ = [
    "FrameCheck",
    "Project",
    "RebuildReport",
    "Restored",
    "SelectionSession",
    "TaskBook",
    "check_timeout",
    "default_client",
    "is_emulator",
    "may_have_landed",
    "request_key",
    "uploader_for",
]
