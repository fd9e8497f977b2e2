"""The README a newcomer follows: set-up commands, Binder badge, hosts and limits in sync."""

from __future__ import annotations

import re
from pathlib import Path

from kling_widget import limits

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_two_set_up_commands_are_there_exactly() -> None:
    assert '```bash\npython3 -m pip install -e ".[demo]" && kling-widget demo\n```' in README
    assert "```bash\nbash scripts/test.sh\n```" in README


def test_binder_badge_points_at_the_homepage_repository_main_branch() -> None:
    # tomllib is 3.11+; the package supports 3.10, so read the one line we need.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^Homepage\s*=\s*"([^"]+)"', pyproject, re.MULTILINE)
    assert found, "pyproject.toml has no Homepage URL"
    homepage = found.group(1)
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", homepage)
    assert match, homepage
    owner, repo = match.groups()
    badge = f"(https://mybinder.org/v2/gh/{owner}/{repo}/main?urlpath=lab/tree/notebooks/quickstart.ipynb)"
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]{badge}" in README


def test_every_kling_host_is_documented() -> None:
    for url in limits.HOSTS.values():
        assert f"`{url}`" in README
    assert limits.DEFAULT_BASE_URL in README


def test_limits_table_matches_limits_module() -> None:
    me = limits.CLIP_LIMITS["multi-elements"]
    omni = limits.CLIP_LIMITS["omni"]
    (a, b), (c, d) = me.durations
    assert f"{a:g}–{b:g} s or {c:g}–{d:g} s" in README
    (e, f) = omni.durations[0]
    assert f"{e:g}–{f:g} s" in README
    assert f"{me.min_side}–{me.max_side} px each" in README
    assert me.fps_allowed is not None and omni.fps_range is not None
    rates = ", ".join(f"{r:g}" for r in me.fps_allowed[:-1])
    assert f"{rates} or {me.fps_allowed[-1]:g} fps" in README
    assert f"{omni.fps_range[0]:g}–{omni.fps_range[1]:g} fps" in README
    assert omni.max_bytes is not None
    assert f"at most {omni.max_bytes // 2**20} MB" in README
    assert f"at most {limits.MAX_MARKED_FRAMES}" in README
    assert f"at most {limits.MAX_POINTS_PER_FRAME}, x and y in [0, 1]" in README
    assert f"at most {limits.MAX_PROMPT_CHARS} characters" in README
    assert f"at most {limits.IMAGE_MAX_BYTES // 2**20} MB" in README
    assert f"at least {limits.IMAGE_MIN_SIDE} px" in README
    assert f"1:{1 / limits.IMAGE_MIN_ASPECT:g} to {limits.IMAGE_MAX_ASPECT:g}:1" in README
    assert f"at most {limits.OMNI_MAX_REFS_WITH_VIDEO} with a video" in README
    assert f"{limits.OMNI_MAX_REFS_WITHOUT_VIDEO} without" in README
    assert f"at most {limits.OMNI_MAX_SHOT_PROMPT_CHARS} characters" in README
    assert f"at most {limits.OMNI_MAX_SHOTS} shots" in README
    assert f"output is {limits.OMNI_OUTPUT_FPS} fps" in README
    lo, hi = limits.EDIT_MODE_IMAGES["addition"]
    assert f"addition {lo}–{hi}, swap {limits.EDIT_MODE_IMAGES['swap'][1]}, removal 0" in README


def test_ci_calls_the_readme_test_command() -> None:
    ci = ROOT / ".ci" / "run"
    assert ci.is_file()
    assert "bash scripts/test.sh" in ci.read_text(encoding="utf-8")


def test_every_relative_link_and_image_exists() -> None:
    targets = re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", README)
    assert "docs/editor.png" in targets and "docs/emulator.md" in targets
    for target in targets:
        assert (ROOT / target).is_file(), target


def test_the_screenshot_is_a_real_png() -> None:
    from PIL import Image

    with Image.open(ROOT / "docs" / "editor.png") as image:
        assert image.format == "PNG"
        assert image.width >= 400 and image.height >= 300


def test_every_registered_command_is_documented() -> None:
    import importlib

    from kling_widget.cli import COMMANDS

    for path in COMMANDS:
        name = importlib.import_module(path).NAME
        assert f"kling-widget {name}" in README, name
