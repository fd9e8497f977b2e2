"""The README's limits table, generated from ``limits`` so the two cannot disagree.

``python -m kling_widget.rules.table`` prints it; a test checks that the README holds
exactly this text between its ``limits:start`` and ``limits:end`` markers.
Imports only ``limits``.
"""

from __future__ import annotations

from kling_widget import limits as L


def _s(x: float) -> str:
    return f"{x:g}"


def _brackets(durations: tuple[tuple[float, float], ...]) -> str:
    return " or ".join(f"{_s(lo)}–{_s(hi)} s" for lo, hi in durations)


def limits_rows() -> list[tuple[str, str, str, str]]:
    """(rule, Multi-Elements, Omni-Video, checked by) rows."""
    me, om = L.CLIP_LIMITS["multi-elements"], L.CLIP_LIMITS["omni"]
    assert me.fps_allowed is not None and om.fps_range is not None and om.max_bytes
    fps = ", ".join(_s(f) for f in me.fps_allowed[:-1]) + f" or {_s(me.fps_allowed[-1])}"
    images = ", ".join(
        f"{mode} {lo}" if lo == hi else f"{mode} {lo}–{hi}"
        for mode, (lo, hi) in L.EDIT_MODE_IMAGES.items()
    )
    durations = "; ".join(
        f"`{model}` {lo}–{hi} s" for model, (lo, hi) in L.OMNI_MODEL_DURATIONS.items()
    )
    slack = _s(L.DURATION_TOLERANCE_S)
    mb = L.IMAGE_MAX_BYTES // (1024 * 1024)
    aspect = f"1:{_s(1 / L.IMAGE_MIN_ASPECT)} to {_s(L.IMAGE_MAX_ASPECT)}:1"
    return [
        (
            "clip duration",
            _brackets(me.durations),
            _brackets(om.durations),
            "editor on open, `check`, `conform` trims",
        ),
        (
            "clip width and height",
            f"{me.min_side}–{me.max_side} px each",
            f"{om.min_side}–{om.max_side} px each",
            "editor on open, `check`, `conform` scales",
        ),
        (
            "clip frame rate",
            f"{fps} fps",
            f"{_s(om.fps_range[0])}–{_s(om.fps_range[1])} fps",
            "editor on open, `check`, `conform` resamples",
        ),
        (
            "clip file",
            " / ".join(me.containers),
            f"{' / '.join(om.containers)}, at most {om.max_bytes // (1024 * 1024)} MB",
            "`check`",
        ),
        (
            "marked frames per session",
            f"at most {L.MAX_MARKED_FRAMES}",
            "–",
            "editor refuses the 11th frame, client",
        ),
        (
            "points per frame",
            f"at most {L.MAX_POINTS_PER_FRAME}, x and y in [0, 1]",
            "–",
            "editor, client, `edit --point`",
        ),
        (
            "reference images",
            images,
            f"images + elements at most {L.OMNI_MAX_REFS_WITH_VIDEO} with a video, "
            f"{L.OMNI_MAX_REFS_WITHOUT_VIDEO} without; an end frame needs a first frame, "
            f"and `kling-video-o1` refuses one with more than "
            f"{L.OMNI_MAX_IMAGES_WITH_END_FRAME} images",
            "editor buttons, client",
        ),
        (
            "image file",
            f"jpg/jpeg/png, at most {mb} MB, each side at least {L.IMAGE_MIN_SIDE} px, "
            f"aspect {aspect}, decodes completely",
            "same",
            "client, editor (offers to fix)",
        ),
        (
            "prompt, negative prompt",
            f"at most {L.MAX_PROMPT_CHARS} characters; not given: Kling's template with "
            "[x] filled in",
            f"at most {L.MAX_PROMPT_CHARS} characters, required unless `multi_shot`; shot "
            f"prompts at most {L.OMNI_MAX_SHOT_PROMPT_CHARS} characters, at most "
            f"{L.OMNI_MAX_SHOTS} shots",
            "client",
        ),
        (
            "model",
            f"`{L.MULTI_ELEMENTS_MODEL}` (the default)",
            " or ".join(f"`{m}`" for m in L.OMNI_MODELS) + f"; default `{L.OMNI_DEFAULT_MODEL}`",
            "client",
        ),
        (
            "mode, duration",
            f"`{'`/`'.join(L.MODES)}`; "
            + "; ".join(
                f'`"{label}"` for {_s(lo)}–{_s(hi)} s input'
                for (lo, hi), label in L.DURATION_FOR_BRACKET.items()
            )
            + f" (± {slack} s)",
            f"`{'`/`'.join(L.MODES)}`; {durations} ("
            f"`kling-video-o1` text or first-frame to video: "
            f"{' or '.join(L.OMNI_O1_GENERATION_DURATIONS)} s); output is "
            f"{L.OMNI_OUTPUT_FPS} fps",
            "client",
        ),
        (
            "shots, aspect ratio",
            "–",
            f"`shot_type` {' or '.join(L.OMNI_SHOT_TYPES)} (with `customize` the shot "
            "durations sum to `duration`); `aspect_ratio` "
            f"{'/'.join(L.OMNI_ASPECT_RATIOS)}, required only without a video and "
            "without a first frame",
            "client",
        ),
        (
            "optional fields",
            '`None`, `""` and `[]` mean "not given"; never sent empty',
            "same",
            "client, emulator",
        ),
        (
            "session lifetime",
            f"{L.SESSION_LIFETIME_S // 3600} h",
            "–",
            "project journal rebuilds expired sessions",
        ),
        (
            "result URLs",
            f"kept {L.RESULT_LIFETIME_S // 86400} days",
            f"{L.RESULT_LIFETIME_S // 86400} days",
            "results are downloaded as soon as a task succeeds",
        ),
    ]


def limits_table() -> str:
    """The Markdown table (header, separator, one line per rule)."""
    lines = [
        "| rule | Multi-Elements | Omni-Video | checked by |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in limits_rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(limits_table())
