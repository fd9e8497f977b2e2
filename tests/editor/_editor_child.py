"""An editor run in its own process, for the reopen tests (killed with SIGKILL).

Usage: python _editor_child.py CLIP ROOT X Y
The emulator's address and key come from KLING_BASE_URL and KLING_API_KEY. Prints
``CREATED <task_id>`` once the removal task exists, then waits to be killed.
"""

from __future__ import annotations

import sys
import time

from kling_widget import Editor


def main() -> None:
    clip, root, x, y = sys.argv[1:5]
    ed = Editor(clip, root=root, autodisplay=False)
    ed.select(0, [(float(x), float(y))])
    task = ed.remove()
    print("CREATED", task.task_id, flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
