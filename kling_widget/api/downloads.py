"""Where a result video comes from and where it goes: the URL of a task's result and a safe
file name for it. The bytes are moved by :mod:`kling_widget.transfer` (the one downloader).

The file name comes from the server's ``task_id``, so it is sanitised
(:func:`kling_widget.transfer.safe_filename`) and always lands inside the destination folder.
Imports models, the rules and ``transfer``; never the clients.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kling_widget.api.models import Task
from kling_widget.errors import KlingValidationError
from kling_widget.transfer import check_fetch_url, inside, safe_filename


def result_url(task_or_url: Task | str, watermark: bool = False) -> tuple[str, str]:
    """The URL to download and a safe default file name for it."""
    if isinstance(task_or_url, Task):
        task = task_or_url
        if not task.succeeded or not task.videos:
            raise KlingValidationError(
                "task", task.task_id, f"has no result video to download (status {task.status!r})"
            )
        video = task.videos[0]
        url = video.watermark_url if watermark else video.url
        if not url:
            what = "watermark_url" if watermark else "url"
            raise KlingValidationError("task", task.task_id, f"its result video has no {what}")
        check_fetch_url(url, field="task_result.videos[0].url")
        stem = safe_filename(task.task_id or task.external_task_id)
        return url, safe_filename(f"{stem}{'-watermark' if watermark else ''}", suffix=".mp4")
    url = check_fetch_url(task_or_url)
    name = Path(urlsplit(url).path).name
    return url, safe_filename(name or None, suffix=".mp4" if not Path(name).suffix else "")


def result_path(dest: str | Path | None, default_name: str) -> Path:
    """The final path: ``dest`` as a file, or ``default_name`` inside the folder ``dest``
    (an existing folder, or a path ending in a separator), or inside the cwd for None."""
    if dest is None:
        return inside(Path.cwd(), default_name)
    text = str(dest)
    path = Path(dest).expanduser()
    if path.is_dir() or text.endswith(("/", "\\")):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KlingValidationError(
                "dest", text, f"cannot be created ({exc.strerror})"
            ) from None
        return inside(path, default_name)
    return path
