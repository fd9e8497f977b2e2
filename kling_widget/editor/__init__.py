"""The interactive Jupyter editor for one clip (ipycanvas + ipywidgets).

``editor.Editor`` is the widget users create; it wires together the controller (worker
threads that call the workflow ``Project``), the screen (canvas layers, mask layer,
controls), the control handlers, and the working aids (undo / redo, object list, keys,
playback, compare, mask export, task history). The rule checks come from
``kling_widget.rules``; every API call goes through ``kling_widget.workflow``.

Imports ``workflow``, ``journal``, ``api``, ``media`` and the leaves below them; never
``kling_widget.cli`` or ``kling_widget.batch`` (they sit beside or above it). Modules inside
the package import one another one way: the aids know the editor only through small
protocols, and nothing imports ``editor.editor`` except the package's users.
"""
