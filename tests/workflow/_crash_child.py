"""A project run in its own process, for the crash tests (killed with SIGKILL).

Usage: python _crash_child.py CLIP ROOT VIDEO_URL X Y
Credentials and the emulator's address come from KLING_BASE_URL, KLING_ACCESS_KEY and
KLING_SECRET_KEY. Prints one marker line per step so the parent can time its kill;
waits for a line on stdin before creating, so the parent can arm a fault first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kling_widget.api.client import KlingClient
from kling_widget.workflow import Project


def main() -> None:
    clip, root, video_url, x, y = sys.argv[1:6]
    client = KlingClient(max_retries=int(sys.argv[6]) if len(sys.argv) > 6 else 4)
    project = Project(Path(clip), client, video_url=video_url, root=root)
    project.select(0, [(float(x), float(y))])
    print("SELECTED", flush=True)
    sys.stdin.readline()
    task = project.create("removal")
    print("CREATED", task.external_task_id, task.task_id, flush=True)
    final = project.wait(task, timeout=600)
    print("FINISHED", final.status, flush=True)
    print("SAVED", project.download(final), flush=True)


if __name__ == "__main__":
    main()
