"""``kling-widget edit``: the whole Multi-Elements flow, headless.

init (upload the clip to the emulator, or use ``--video-url`` on the real API) -> select the
points -> create the task -> wait -> download, through :class:`kling_widget.workflow.Project`
so the run is journaled like an editor session. Every input is checked before the first
request (points against the clip's frames, images, prompts, the output path, the timeout).
The create is journaled before it is sent, and a re-run with the same arguments picks up
the task of the earlier run (whether it was killed before the answer, while polling,
mid-download or by a full disk) instead of creating, and paying for, a second one.

Imports the command line's common parts, the batch's point parser and the workflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kling_widget.batch.points import Point3, check_points, group, parse_point
from kling_widget.cli.common import (
    EXIT_OK,
    CliUsageError,
    Connection,
    add_connection_arguments,
    check_output_file,
    check_seconds,
    connect,
    eprint,
    existing_file,
    out,
)
from kling_widget.cli.conform import progress_callback
from kling_widget.cli.progress import ProgressBar
from kling_widget.errors import KlingValidationError
from kling_widget.limits import EDIT_MODES, MAX_MARKED_FRAMES, MAX_POINTS_PER_FRAME
from kling_widget.rules import check_prompt, check_reference_count, resolve_prompt

if TYPE_CHECKING:
    from kling_widget.api.models import Session
    from kling_widget.media.video import VideoSource
    from kling_widget.workflow import Project

NAME = "edit"
HELP = (
    "Edit a clip headless: select objects by points, create a Multi-Elements task, "
    "wait and download the result. Uses the real Kling API when credentials are in the "
    "environment, the local emulator otherwise. Running the same command again resumes "
    "the same task."
)
Frames = dict[int, list[tuple[float, float]]]


def point_arg(text: str) -> Point3:
    """argparse type of ``--point``: ``FRAME:X,Y``, checked."""

    def fail(field: str, value: object, rule: str) -> Exception:
        return argparse.ArgumentTypeError(f"--point={text!r}: {field}={value!r}: {rule}")

    return parse_point(text, fail, "point")


def group_points(points: list[Point3]) -> Frames:
    """Points per frame, in the order given, checked against the per-session limits."""

    def fail(field: str, value: object, rule: str) -> Exception:
        return CliUsageError("--point", value, rule)

    return group(check_points(points, fail))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget edit``."""
    parser.add_argument("clip", metavar="CLIP", help="the video to edit (.mp4 or .mov)")
    parser.add_argument("--mode", required=True, choices=EDIT_MODES, help="the edit to make")
    parser.add_argument(
        "--point",
        dest="points",
        action="append",
        type=point_arg,
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
        default=None,
        help="where the journal and results are kept "
        "(default: $KLING_WIDGET_PROJECTS or ./kling-projects)",
    )
    parser.add_argument(
        "--timeout",
        type=check_seconds("--timeout"),
        default=600.0,
        help="seconds to wait for the task (default 600); it keeps running on Kling after",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="only show what the journal knows about this clip (points, tasks, results); "
        "works while another process has the clip open; sends nothing",
    )
    add_connection_arguments(parser)


def _check_inputs(args: argparse.Namespace) -> tuple[Path, list[Any], str]:
    """Every check that needs no clip probe. Returns the clip, the images, the prompt."""
    clip = existing_file("CLIP", args.clip)
    check_output_file("--output", args.output)
    if not args.points:
        raise CliUsageError(
            "--point", None, "at least one --point FRAME:X,Y is needed to select an object"
        )
    try:
        check_reference_count(args.mode, len(args.images))
        prompt = resolve_prompt(args.mode, args.prompt)
        check_prompt("prompt", prompt, required=True)
        check_prompt("negative_prompt", args.negative_prompt, required=False)
    except KlingValidationError as exc:
        field = {"image_list": "--image", "negative_prompt": "--negative-prompt"}.get(
            exc.field, f"--{exc.field}"
        )
        raise CliUsageError(field, exc.value, exc.rule) from None
    images = [_load_image(i, p, args.fix_images) for i, p in enumerate(args.images)]
    return clip, images, prompt


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


def _prepare_clip(clip: Path, args: argparse.Namespace) -> VideoSource:
    """The clip's ``VideoSource``, conformed when asked; refuses a clip that breaks limits.

    A conformed copy is named after the clip's content and reused by a re-run, so the
    re-run finds the same project (and the same task).
    """
    from kling_widget.journal import default_root, file_sha256
    from kling_widget.media.video import VideoSource
    from kling_widget.rules import duration_for_clip

    source = VideoSource(clip)
    violations = source.check("multi-elements")
    if violations and not args.conform:
        rules = "; ".join(str(v) for v in violations)
        raise CliUsageError(
            "CLIP", str(clip), f"{rules} (pass --conform, or run kling-widget conform first)"
        )
    if violations:
        digest, _ = file_sha256(clip)
        root = Path(args.project_dir) if args.project_dir else default_root()
        dest = root / f"{clip.stem}-{digest[:8]}-conformed.mp4"
        again = VideoSource(dest) if dest.is_file() else None
        if again is not None and not again.check("multi-elements"):
            source = again
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            out(f"Conforming {clip} to the Multi-Elements limits -> {dest}")
            with ProgressBar("conform") as bar:
                source = source.conform(dest, on_progress=progress_callback(bar))
                bar.update(1.0)
    try:
        duration_for_clip(float(source.duration))
    except KlingValidationError as exc:
        raise CliUsageError("CLIP", str(clip), exc.rule) from None
    return source


def run(args: argparse.Namespace) -> int:
    """Run the flow; see the module docstring."""
    clip, images, prompt = _check_inputs(args)
    frames = group_points(args.points)
    if args.read_only:
        return _show(clip, args)
    source = _prepare_clip(clip, args)
    for frame in frames:
        if frame >= source.frame_count:
            raise CliUsageError(
                "--point",
                frame,
                f"FRAME must be below the clip's {source.frame_count} frames "
                f"(0-{source.frame_count - 1})",
            )
    conn = connect(args.max_retries)
    out(conn.banner)
    try:
        if not conn.is_emulator and not args.video_url:
            raise CliUsageError(
                "--video-url",
                None,
                "the real Kling API reads clips from a public URL: upload the clip somewhere "
                "public and pass its URL (local files are uploaded only to the emulator)",
            )
        return _run_flow(args, conn, source, frames, images, prompt)
    finally:
        conn.client.close()


def _open(path: Path, args: argparse.Namespace, **kw: Any) -> Project:
    from kling_widget.journal import default_root
    from kling_widget.workflow import Project

    root = Path(args.project_dir) if args.project_dir else default_root()
    return Project(path, root=root, **kw)


def _show(clip: Path, args: argparse.Namespace) -> int:
    """``--read-only``: what the journal knows, without changing or sending anything."""
    with _open(clip, args, read_only=True) as project:
        out(f"project: {project.folder}")
        out(f"points: {project.points or 'none'}")
        for rec in project.history():
            result = rec.result_path or "-"
            out(f"task {rec.task_id or rec.external_task_id}: {rec.status}; result: {result}")
    return EXIT_OK


def _run_flow(
    args: argparse.Namespace,
    conn: Connection,
    source: VideoSource,
    frames: Frames,
    images: list[Any],
    prompt: str,
) -> int:
    from kling_widget.errors import KlingTaskFailedError

    bar = ProgressBar("edit")
    project = _open(
        Path(source.path),
        args,
        client=conn.client,
        video_url=args.video_url,
        uploader=conn.uploader,
        on_status=bar.note,
    )
    try:
        bar.update(0.05, "opening a selection session")
        session = project.session or project.ensure_session()
        api = {_api_frame(f, source, session): pts for f, pts in frames.items()}
        bar.update(0.15, "selecting")
        project.mark(api)
        for frame, pts in api.items():
            if not project.masks(frame):
                raise CliUsageError(
                    "--point",
                    f"{frame}: {pts}",
                    "no object was recognised at these points; click inside the object",
                )
        bar.update(0.3, "creating the task")
        task = project.create(
            args.mode,
            prompt=prompt,
            images=images or None,
            negative_prompt=args.negative_prompt,
            mode="pro" if args.pro else "std",
            reuse=True,
        )
        bar.update(0.4, f"task {task.task_id}: {task.status}")
        task = project.wait(
            task,
            timeout=args.timeout,
            on_progress=lambda t: bar.note(f"task {t.task_id}: {t.status}"),
        )
        if not task.succeeded:
            raise KlingTaskFailedError(
                f"task {task.task_id} ended {task.status}: {task.status_msg or 'no message'}",
                task_id=task.task_id,
            )
        bar.update(0.9, "downloading the result")
        saved = project.download(task, dest=Path(args.output))
        bar.update(1.0, "done")
    finally:
        bar.close()
        project.close()
    out(f"Task {task.task_id} succeeded; result saved to {saved}")
    return EXIT_OK


def _api_frame(frame: int, source: VideoSource, session: Session) -> int:
    """Map a clip frame to Kling's frame numbering when the session reports another rate."""
    api_total = session.total_frame
    api_fps = session.fps
    if not api_total or not api_fps or api_total == source.frame_count:
        return frame
    from kling_widget.media.frames import local_to_api_index

    mapped = int(local_to_api_index(frame, source.fps, api_fps, api_total))
    eprint(f"note: clip frame {frame} is Kling frame {mapped} ({api_fps:g} fps)")
    return mapped
