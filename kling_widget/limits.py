"""Kling's documented limits, in one place.

Every check in the package (the rules in ``kling_widget.rules``, clip preflight,
reference-image checks, the emulator) reads these numbers, so a limit is changed here once.
Sources: Kling's public API pages for Multi-Elements, Omni-Video, authentication, errors and
callbacks (https://app.klingai.com/global/dev/document-api). Imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
HOSTS = {
    "singapore": "https://api-singapore.klingai.com",
    "beijing": "https://api-beijing.klingai.com",
    "legacy": "https://api.klingai.com",
}

# --- auth -------------------------------------------------------------------
JWT_LIFETIME_S = 1800
JWT_NOT_BEFORE_SKEW_S = 5
# Re-mint this long before ``exp`` so a token never expires in flight.
JWT_REFRESH_MARGIN_S = 300

# --- Multi-Elements ---------------------------------------------------------
MULTI_ELEMENTS_MODEL = "kling-v1-6"
EDIT_MODES = ("addition", "swap", "removal")
# edit_mode -> (min images, max images)
EDIT_MODE_IMAGES = {"addition": (1, 2), "swap": (1, 1), "removal": (0, 0)}
PROMPT_TEMPLATES = {
    "addition": "Using the context of <<<video_1>>>, seamlessly add [x] from <<<image_1>>>",
    "swap": "swap [x] from <<<image_1>>> for [x] from <<<video_1>>>",
    "removal": "Delete [x] from <<<video_1>>>",
}
MODES = ("std", "pro")
DURATIONS = ("5", "10")
MAX_PROMPT_CHARS = 2500
MAX_MARKED_FRAMES = 10
MAX_POINTS_PER_FRAME = 10
SESSION_LIFETIME_S = 24 * 3600
RESULT_LIFETIME_S = 30 * 24 * 3600
PAGE_NUM_RANGE = (1, 1000)
PAGE_SIZE_RANGE = (1, 500)
TASK_STATUSES = ("submitted", "processing", "succeed", "failed")
FINAL_STATUSES = ("succeed", "failed")


@dataclass(frozen=True)
class ClipLimits:
    """Limits on an input clip for one API family."""

    name: str
    # Allowed duration brackets in seconds, inclusive.
    durations: tuple[tuple[float, float], ...]
    min_side: int
    max_side: int
    # Either an explicit set of frame rates or an inclusive range.
    fps_allowed: tuple[float, ...] | None
    fps_range: tuple[float, float] | None
    max_bytes: int | None
    containers: tuple[str, ...] = (".mp4", ".mov")


CLIP_LIMITS = {
    "multi-elements": ClipLimits(
        name="multi-elements",
        durations=((2.0, 5.0), (7.0, 10.0)),
        min_side=720,
        max_side=2160,
        fps_allowed=(24.0, 30.0, 60.0),
        fps_range=None,
        max_bytes=None,
    ),
    "omni": ClipLimits(
        name="omni",
        durations=((3.0, 10.0),),
        min_side=720,
        max_side=2160,
        fps_allowed=None,
        fps_range=(24.0, 60.0),
        max_bytes=200 * 1024 * 1024,
    ),
}
# One relay documents 2-5.5 s / 7-10.5 s; a clip in that slack is warned about, not refused.
RELAY_DURATION_SLACK_S = 0.5
# Kling answers with 5 s for 2-5 s inputs and 10 s for 7-10 s inputs.
DURATION_FOR_BRACKET = {(2.0, 5.0): "5", (7.0, 10.0): "10"}
# The one tolerance used when a measured clip length is mapped to a bracket (either side):
# the relay's documented slack, which also absorbs container rounding of a few frames.
DURATION_TOLERANCE_S = RELAY_DURATION_SLACK_S

# --- reference images -------------------------------------------------------
IMAGE_FORMATS = ("jpeg", "png")  # .jpg / .jpeg / .png
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MIN_SIDE = 300
IMAGE_MIN_ASPECT = 1 / 2.5
IMAGE_MAX_ASPECT = 2.5
# A safety bound of ours, not Kling's: a reference image is fully decoded to check it, and a
# small file can declare a huge canvas. 50 Mpx is far above any useful reference image.
IMAGE_MAX_PIXELS = 50_000_000

# --- Omni-Video -------------------------------------------------------------
OMNI_MODELS = ("kling-video-o1", "kling-v3-omni")
OMNI_DEFAULT_MODEL = "kling-video-o1"
OMNI_REFER_TYPES = ("base", "feature")
OMNI_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
OMNI_DURATIONS = tuple(str(s) for s in range(3, 16))
OMNI_IMAGE_TYPES = ("first_frame", "end_frame")
OMNI_MAX_VIDEOS = 1
OMNI_MAX_REFS_WITH_VIDEO = 4
OMNI_MAX_REFS_WITHOUT_VIDEO = 7
OMNI_MAX_SHOTS = 6
OMNI_MAX_SHOT_PROMPT_CHARS = 512
OMNI_OUTPUT_FPS = 24
OMNI_SHOT_TYPES = ("customize", "intelligence")
# Output duration range per model, inclusive seconds (capability map).
OMNI_MODEL_DURATIONS = {"kling-video-o1": (3, 10), "kling-v3-omni": (3, 15)}
# O1 text-to-video and first-frame image-to-video give only these durations.
OMNI_O1_GENERATION_DURATIONS = ("5", "10")
# Models for which an end frame with more than OMNI_MAX_IMAGES_WITH_END_FRAME images is refused.
OMNI_END_FRAME_LIMITED_MODELS = ("kling-video-o1",)
OMNI_SOUND_VALUES = ("on", "off")
OMNI_KEEP_SOUND_VALUES = ("yes", "no")
# Omni refuses an end frame when more than this many images are given.
OMNI_MAX_IMAGES_WITH_END_FRAME = 2
OMNI_MIN_SHOT_DURATION = 1
OMNI_DEFAULT_DURATION = "5"

# --- masks ------------------------------------------------------------------
MASK_COLOR = (116, 255, 82)
MASK_ALPHA = 163

# --- safety bounds of this package (not Kling's) ----------------------------------------
# Replies and files from the server are bounded before they are read into memory or disk.
MAX_JSON_REPLY_BYTES = 32 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_TRACKING_BYTES = 64 * 1024 * 1024
# Total time for one result download (connect, every read, every retry).
DOWNLOAD_DEADLINE_S = 30 * 60.0
# Redirects followed by one fetch; a URL seen twice is a loop and fails at once.
MAX_REDIRECTS = 10
# Kling's largest clip frame (each side at most 2160 px): a mask never decodes to more.
MAX_MASK_PIXELS = CLIP_LIMITS["multi-elements"].max_side ** 2
