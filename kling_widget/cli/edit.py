"""``kling-widget edit``: the whole Multi-Elements flow, headless.

init (upload the clip to the emulator, or use ``--video-url`` on the real API) -> select the
points -> create the task -> wait -> download, through :class:`kling_widget.project.Project`
so the run is journaled like an editor session (a re-run after a crash finds its task).
Every input is checked before the first request.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from kling_widget.cli.common import (
    EXIT_OK,
    CliUsageError,
    add_connection_arguments,
    connect,
    eprint,
    existing_file,
    out,
)
from kling_widget.cli.conform import progress_callback
from kling_widget.cli.progress import ProgressBar
from kling_widget.limits import (
    EDIT_MODE_IMAGES,
    EDIT_MODES,
    MAX_MARKED_FRAMES,
    MAX_POINTS_PER_FRAME,
    MAX_PROMPT_CHARS,
    PROMPT_TEMPLATES,
)

NAME = "edit"
HELP = (
    "Edit a clip headless: select objects by points, create a Multi-Elements task, "
    "wait and download the result. Uses the real Kling API when credentials are in the "
    "environment, the local emulator otherwise."
)

POINT_RULE = (
    "expected FRAME:X,Y such as 12:0.5,0.4 (FRAME an integer >= 0; X and Y in [0, 1], "
    "measured from the top-left corner)"
)
_POINT_RE = re.compile(r"^\s*([^:]*):([^,]*),(.*)$")
# What replaces the "[x]" placeholders of the documented templates when no --prompt is given.
_DEFAULT_SUBJECT = "the selected object"


def parse_point(text: str) -> tuple[int, float, float]:
    """Parse ``FRAME:X,Y`` into ``(frame, x, y)``; raises ``ArgumentTypeError`` with the rule."""
    match = _POINT_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"--point={text!r}: {POINT_RULE}")
    frame_s, x_s, y_s = (g.strip() for g in match.groups())
    try:
        frame = int(frame_s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--point={text!r}: FRAME={frame_s!r} is not an integer; {POINT_RULE}"
        ) from None
    if frame < 0:
        raise argparse.ArgumentTypeError(f"--point={text!r}: FRAME={frame} must be >= 0")
    coords = []
    for name, value_s in (("X", x_s), ("Y", y_s)):
        try:
            value = float(value_s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--point={text!r}: {name}={value_s!r} is not a number; {POINT_RULE}"
            ) from None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(
                f"--point={text!r}: {name}={value_s} must be in [0, 1] "
                "(normalized to the frame, from the top-left corner)"
            )
        coords.append(value)
    return frame, coords[0], coords[1]


def group_points(points: list[tuple[int, float, float]]) -> dict[int, list[tuple[float, float]]]:
    """Points per frame, in the order given, checked against the per-session limits."""
    frames: dict[int, list[tuple[float, float]]] = {}
    for frame, x, y in points:
        frames.setdefault(frame, []).append((x, y))
    if len(frames) > MAX_MARKED_FRAMES:
        raise CliUsageError(
            "--point",
            sorted(frames),
            f"at most {MAX_MARKED_FRAMES} marked frames per session (got {len(frames)})",
        )
    for frame, pts in frames.items():
        if len(pts) > MAX_POINTS_PER_FRAME:
            raise CliUsageError(
                "--point",
                f"frame {frame}: {len(pts)} points",
                f"at most {MAX_POINTS_PER_FRAME} points per frame",
            )
    return frames


def default_prompt(edit_mode: str) -> str:
    """The documented prompt template for ``edit_mode`` with its placeholders filled."""
    return PROMPT_TEMPLATES[edit_mode].replace("[x]", _DEFAULT_SUBJECT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget edit``."""
    parser.add_argument("clip", metavar="CLIP", help="the video to edit (.mp4 or .mov)")
    parser.add_argument("--mode", required=True, choices=EDIT_MODES, help="the edit to make")
    parser.add_argument(
        "--point",
        dest="points",
        action="append",
        type=parse_point,
        default=[],
        metavar="FRAME:X,Y",
        help="a click on the object at a frame, normalized to [0, 1]; repeat for more points "
        f"(at most {MAX_POINTS_PER_FRAME} per frame, {MAX_MARKED_FRAMES} frames)",
    )
    parser.add_argument(
        "--image",
        dest="images",
        action="append",
        default=[],
        metavar="PATH",
        help="reference image (jpg/png): one for swap, one or two for addition",
    )
    parser.add_argument(
        "--prompt", help="what to do; default: the documented template for the mode"
    )
    parser.add_argument("--negative-prompt", help="what to avoid")
    parser.add_argument("--pro", action="store_true", help="use mode 'pro' instead of 'std'")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.mp4", help="where to save the result"
    )
    parser.add_argument(
        "--video-url",
        help="a public URL of the same clip (the real Kling API fetches clips by URL; "
        "with the emulator the clip is uploaded for you)",
    )
    parser.add_argument(
        "--conform",
        action="store_true",
        help="conform the clip to the limits first when it breaks them",
    )
    parser.add_argument(
        "--fix-images",
        action="store_true",
        help="resize/pad/recompress reference images that break the limits",
    )
    parser.add_argument(
        "--project-dir",
        default="kling-projects",
        help="where the journal and results are kept (default: ./kling-projects)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the task (default 600)"
    )
    add_connection_arguments(parser)


def _check_inputs(args: argparse.Namespace) -> tuple[Path, list[Any], str, str | None]:
    """Every local check, before anything is sent. Returns clip, images, prompt, negative."""
    clip = existing_file("CLIP", args.clip)
    if not args.points:
        raise CliUsageError(
            "--point", None, "at least one --point FRAME:X,Y is needed to select an object"
        )
    out_path = Path(args.output)
    if out_path.suffix.lower() != ".mp4":
        raise CliUsageError("--output", args.output, "must end in .mp4")
    low, high = EDIT_MODE_IMAGES[args.mode]
    n = len(args.images)
    if not low <= n <= high:
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        raise CliUsageError(
            "--image", args.images, f"edit mode {args.mode!r} takes {wanted} image(s), got {n}"
        )
    images = [_load_image(i, p, args.fix_images) for i, p in enumerate(args.images)]
    prompt = args.prompt if args.prompt is not None else default_prompt(args.mode)
    for field, text in (("--prompt", prompt), ("--negative-prompt", args.negative_prompt)):
        if text is not None and len(text) > MAX_PROMPT_CHARS:
            raise CliUsageError(
                field, text, f"at most {MAX_PROMPT_CHARS} characters (got {len(text)})"
            )
    if not prompt.strip():
        raise CliUsageError("--prompt", prompt, "must not be empty")
    return clip, images, prompt, args.negative_prompt


def _load_image(index: int, path: str, fix: bool) -> Any:
    from kling_widget.media.images import ReferenceImage

    field = f"--image[{index}]"
    image = ReferenceImage.load(existing_file(field, path))
    problems = image.check()
    if problems and fix:
        return image.fix()
    if problems:
        rules = "; ".join(str(v) for v in problems)
        raise CliUsageError(field, path, f"{rules} (pass --fix-images to fix it)")
    return image


def _prepare_clip(clip: Path, args: argparse.Namespace) -> Any:
    """The clip's ``VideoSource``, conformed when asked; refuses a clip that breaks limits."""
    from kling_widget.media.video import VideoSource

    source = VideoSource(clip)
    violations = source.check("multi-elements")
    if violations and not args.conform:
        rules = "; ".join(str(v) for v in violations)
        raise CliUsageError(
            "CLIP", str(clip), f"{rules} (pass --conform, or run kling-widget conform first)"
        )
    if violations:
        dest = Path(args.project_dir) / f"{clip.stem}-conformed.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        out(f"Conforming {clip} to the Multi-Elements limits -> {dest}")
        with ProgressBar("conform") as bar:
            source = source.conform(dest, on_progress=progress_callback(bar))
            bar.update(1.0)
    return source


def run(args: argparse.Namespace) -> int:
    """Run the flow; see the module docstring."""
    clip, images, prompt, negative = _check_inputs(args)
    frames = group_points(args.points)
    source = _prepare_clip(clip, args)
    for frame in frames:
        if frame >= source.frame_count:
            raise CliUsageError(
                "--point",
                frame,
                f"FRAME must be below the clip's {source.frame_count} frames",
            )

    conn = connect(args.max_retries)
    out(conn.banner)
    if not conn.is_emulator and not args.video_url:
        conn.client.close()
        raise CliUsageError(
            "--video-url",
            None,
            "the real Kling API reads clips from a public URL: upload the clip somewhere "
            "public and pass its URL (local files are uploaded only to the emulator)",
        )
    try:
        return _run_flow(args, conn, source, frames, images, prompt, negative)
    finally:
        conn.client.close()


def _run_flow(
    args: argparse.Namespace,
    conn: Any,
    source: Any,
    frames: dict[int, list[tuple[float, float]]],
    images: list[Any],
    prompt: str,
    negative: str | None,
) -> int:
    from kling_widget.errors import KlingTaskFailedError
    from kling_widget.project import Project

    steps = 1 + len(frames) + 3  # session, each frame, create, wait, download
    done = 0
    bar = ProgressBar("edit")

    def step(note: str) -> None:
        nonlocal done
        bar.update(done / steps, note)
        done += 1

    def on_status(*values: Any) -> None:
        if values:
            bar.update(bar.fraction, str(values[0]))

    project = Project(
        Path(source.path),
        conn.client,
        video_url=args.video_url,
        uploader=conn.uploader,
        root=args.project_dir,
        on_status=on_status,
    )
    try:
        step("opening a selection session")
        session = project.ensure_session()
        for frame, pts in frames.items():
            step(f"selecting on frame {frame}")
            api_frame = _api_frame(frame, source, session)
            selection = project.select(api_frame, pts)
            if not selection.masks:
                bar.close()
                raise CliUsageError(
                    "--point",
                    f"{frame}: {pts}",
                    "no object was recognised at these points; click inside the object",
                )
        step("creating the task")
        task = project.create(
            args.mode,
            prompt=prompt,
            images=images or None,
            negative_prompt=negative,
            mode="pro" if args.pro else "std",
        )
        step(f"task {task.task_id}: {task.status}")

        def on_progress(*values: Any) -> None:
            current = values[0] if values else None
            status = getattr(current, "status", None)
            if status:
                bar.update(bar.fraction, f"task {task.task_id}: {status}")

        task = project.wait(task, timeout=args.timeout, on_progress=on_progress)
        if not task.succeeded:
            raise KlingTaskFailedError(
                f"task {task.task_id} ended {task.status}: {task.status_msg or 'no message'}",
                task_id=task.task_id,
            )
        step("downloading the result")
        dest = Path(args.output)
        dest.parent.mkdir(parents=True, exist_ok=True)
        saved = project.download(task, dest=dest)
        bar.update(1.0, "done")
    finally:
        bar.close()
    out(f"Task {task.task_id} succeeded; result saved to {saved}")
    return EXIT_OK


def _api_frame(frame: int, source: Any, session: Any) -> int:
    """Map a clip frame to Kling's frame numbering when the session reports another rate."""
    api_total = getattr(session, "total_frame", None)
    api_fps = getattr(session, "fps", None)
    if not api_total or not api_fps or api_total == source.frame_count:
        return frame
    from kling_widget.media.frames import local_to_api_index

    mapped = int(local_to_api_index(frame, source.fps, api_fps, api_total))
    eprint(f"note: clip frame {frame} is Kling frame {mapped} ({api_fps:g} fps)")
    return mapped
