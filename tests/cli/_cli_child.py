"""``kling-widget`` in a child process that dies (or meets a full disk) at a chosen step.

Usage: python _cli_child.py STEP ARGS...   (ARGS as for ``kling-widget``)
STEP is where it stops, exactly and without timing:
- ``create``: the create reached Kling and was answered; the process is SIGKILLed before
  the answer is journaled;
- ``poll``: SIGKILLed when it starts waiting for the task;
- ``download``: SIGKILLed after the first chunk of the result was written;
- ``enospc-download``: the disk is full while the result is downloaded (OSError ENOSPC);
- ``enospc-copy``: the disk is full while the result is copied to ``-o`` (some bytes
  written first).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path
from typing import Any


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def full_disk(path: object = "") -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def arm(step: str) -> None:
    from kling_widget.api.client import KlingClient
    from kling_widget.workflow import results

    if step == "create":
        create = KlingClient.create_task

        def create_then_die(self: KlingClient, *a: Any, **kw: Any) -> Any:
            create(self, *a, **kw)
            die()

        KlingClient.create_task = create_then_die  # type: ignore[method-assign]
    elif step == "poll":

        def wait_dies(self: KlingClient, *a: Any, **kw: Any) -> Any:
            die()

        KlingClient.wait = wait_dies  # type: ignore[method-assign]
    elif step in ("download", "enospc-download"):
        download = results.transfer.download

        def download_stops(url: str, dest: Any, **kw: Any) -> Any:
            if step == "enospc-download":
                raise full_disk(dest)

            def on_progress(done: int, total: int | None) -> None:
                if done > 0:
                    die()

            return download(url, dest, on_progress=on_progress, **kw)

        results.transfer.download = download_stops  # type: ignore[attr-defined]
    elif step == "enospc-copy":

        def copy_fills_the_disk(src: Any, dst: Any, *a: Any, **kw: Any) -> Any:
            Path(dst).write_bytes(Path(src).read_bytes()[:1000])
            raise full_disk(dst)

        results.shutil.copyfile = copy_fills_the_disk  # type: ignore[attr-defined]
    else:
        raise SystemExit(f"unknown step {step!r}")


def main() -> int:
    step, *args = sys.argv[1:]
    arm(step)
    from kling_widget.cli import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
