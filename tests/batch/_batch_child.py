"""A batch run in its own process, for the SIGKILL resume test.

Usage: python _batch_child.py JOBS OUT_DIR CONCURRENCY
The emulator's address and key come from KLING_BASE_URL and KLING_API_KEY. Prints one
line per progress event ("PROGRESS done=<n> in_flight=<n> event=<text>") so the parent
can choose its moment to kill.
"""

from __future__ import annotations

import sys

from kling_widget.api.client import KlingClient
from kling_widget.batch import BatchProgress, edit_many, load_jobs
from kling_widget.workflow.connect import uploader_for


def main() -> None:
    jobs_file, out_dir, concurrency = sys.argv[1:4]
    client = KlingClient()

    def report(p: BatchProgress) -> None:
        print(f"PROGRESS done={p.done} in_flight={p.in_flight} event={p.event}", flush=True)

    result = edit_many(
        load_jobs(jobs_file),
        concurrency=int(concurrency),
        on_progress=report,
        client=client,
        out_dir=out_dir,
        uploader=uploader_for(client),
        progress=False,
    )
    print("FINISHED", result.summary(), flush=True)


if __name__ == "__main__":
    main()
