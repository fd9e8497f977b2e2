"""The ipywidgets panel around the canvas: playback, tools, edit settings, notes, result.

Widgets only, no behaviour: the ``Editor`` wires each control to its Python API, so a
button and a script call do the same thing. Each group of controls has a note line next
to it, where a refused action explains itself (the status line says it too).

Layout: the frame, the strip and the slider sit in one "stage" whose maximum width keeps
the whole frame within ``FIT_VH`` of the window's height, so every clip shape fits a
1280x800 window and the strip and slider stay aligned with the frame at any width; the
buttons below start at the frame's left edge and wrap only when the
cell is narrow. Imports only widgets, Pillow, ``rules`` and ``editor.state``.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import ipywidgets as widgets
from PIL import Image

from kling_widget import limits
from kling_widget.editor.state import play_step, time_label
from kling_widget.rules import default_prompt, template_for

# The fourth edit mode: an Omni-Video prompt edit of the whole clip (no selection needed).
OMNI_MODE = "omni"
OMNI_PLACEHOLDER = "Describe the change, e.g. make it a snowy evening in <<<video_1>>>"
_ROW = widgets.Layout(width="100%", align_items="center", flex_flow="row wrap")
THUMB_PX = 96
# The frame's height is at most this share of the window's height.
FIT_VH = 62
NOTE_TARGETS = ("tools", "edit", "references", "create", "clip")
_COLORS = {"info": "#374151", "busy": "#1d4ed8", "ok": "#15803d", "error": "#b91c1c"}


def stage_max_width(display_width: int, display_height: int) -> str:
    """CSS max-width of the stage: the frame's own width, or less so its height fits."""
    aspect = display_width / max(1, display_height)
    return f"min({display_width}px, calc({FIT_VH}vh * {aspect:.6f}))"


def note_html(text: str, level: str = "info") -> str:
    """A note next to a control (empty text: nothing shown)."""
    if not text:
        return ""
    color = _COLORS.get(level, _COLORS["info"])
    return (
        f'<div class="kling-note kling-note-{level}" style="color:{color};'
        f'font-family:sans-serif;font-size:12px;padding:1px 0">{html.escape(text)}</div>'
    )


def status_html(text: str, level: str = "info") -> str:
    """The status line's HTML: plain words, coloured by level, escaped."""
    color = _COLORS.get(level, _COLORS["info"])
    return (
        f'<div class="kling-status kling-status-{level}" style="color:{color};'
        f'font-family:sans-serif;font-size:13px;padding:2px 0">{html.escape(text)}</div>'
    )


def _hint_html(edit_mode: str) -> str:
    return (
        "<div style='font-size:11px;color:#6b7280;margin-left:90px'>Kling's template: "
        f"<code>{html.escape(template_for(edit_mode))}</code></div>"
    )


def thumbnail_png(data: bytes, px: int = THUMB_PX) -> bytes:
    """A small PNG thumbnail of an uploaded image (what the browser shows next to it)."""
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((px, px))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()


class Controls:
    """Every control of the editor, laid out; ``Editor`` connects them."""

    def __init__(self, frame_count: int, fps: float, duration_label: str) -> None:
        self.status = widgets.HTML(status_html("Ready."))
        self.status.add_class("kling-status-line")

        # --- preflight ----------------------------------------------------------
        self.preflight_text = widgets.HTML()
        self.conform_button = widgets.Button(
            description="Conform", icon="wrench", tooltip="Write a copy that meets the limits"
        )
        self.conform_button.add_class("kling-conform")
        self.preflight = widgets.VBox(
            [self.preflight_text, self.conform_button],
            layout=widgets.Layout(display="none", border="1px solid #f59e0b", padding="4px"),
        )

        # --- playback -----------------------------------------------------------
        step, interval = play_step(fps)
        last = max(0, frame_count - 1)
        self.slider = widgets.IntSlider(
            value=0,
            min=0,
            max=last,
            step=1,
            readout=False,
            continuous_update=True,
            layout=widgets.Layout(flex="1 1 auto", min_width="60px", width="auto"),
        )
        self.play = widgets.Play(
            value=0,
            min=0,
            max=last,
            step=step,
            interval=interval,
            show_repeat=False,
            layout=widgets.Layout(flex="0 0 auto", width="auto"),
        )
        # Linked in the browser: playback does not wait for the kernel to move the slider.
        self._link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.frame_label = widgets.Label(
            time_label(0, frame_count, fps), layout=widgets.Layout(flex="0 0 auto")
        )

        # --- tools --------------------------------------------------------------
        self.tool = widgets.ToggleButtons(
            options=[("Add", "add"), ("Remove", "remove")],
            value="add",
            tooltips=["Click adds a point", "Click deletes the nearest point"],
            style={"button_width": "80px"},
        )
        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.preview_button = widgets.Button(description="Preview", icon="eye")
        self.opacity = widgets.FloatSlider(
            value=1.0,
            min=0.0,
            max=1.0,
            step=0.05,
            description="Mask",
            readout=False,
            layout=widgets.Layout(width="200px"),
        )
        self.preview_out = widgets.HTML()

        # --- edit ---------------------------------------------------------------
        self.edit_mode = widgets.Dropdown(
            options=[
                ("Remove the object", "removal"),
                ("Swap it", "swap"),
                ("Add", "addition"),
                ("Prompt edit (Omni)", OMNI_MODE),
            ],
            value="removal",
            description="Edit",
        )
        # Pre-filled with Kling's documented template for the mode, its "[x]" placeholders
        # already worded, so what is shown is exactly what is sent; the template itself is
        # shown under the box.
        self.prompt = widgets.Textarea(
            value=default_prompt("removal"),
            description="Prompt",
            layout=widgets.Layout(width="100%", height="60px"),
        )
        self.prompt_hint = widgets.HTML(_hint_html("removal"))
        self.negative_prompt = widgets.Text(
            value="", description="Negative", layout=widgets.Layout(width="100%")
        )
        self.upload = widgets.FileUpload(
            accept=".jpg,.jpeg,.png", multiple=True, description="Reference"
        )
        self.fix_button = widgets.Button(
            description="Fix",
            icon="wrench",
            tooltip="Replace the reference images by copies that meet Kling's limits",
            layout=widgets.Layout(display="none"),
        )
        self.fix_button.add_class("kling-fix")
        self.thumbs = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.quality = widgets.ToggleButtons(
            options=[("std", "std"), ("pro", "pro")], value="std", style={"button_width": "50px"}
        )
        self.duration = widgets.Label(duration_label)
        self.create_button = widgets.Button(
            description="Create", icon="play", button_style="primary"
        )
        self.create_button.add_class("kling-create")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=100, layout=widgets.Layout(width="200px", visibility="hidden")
        )
        self.elapsed = widgets.Label("")

        # --- notes next to the controls ---------------------------------------------
        self.notes = {name: widgets.HTML() for name in NOTE_TARGETS}
        for name, note in self.notes.items():
            note.add_class(f"kling-note-{name}")

        # --- result -------------------------------------------------------------
        self.result = widgets.VBox(layout=widgets.Layout(width="100%"))

        self.edit_panel = widgets.VBox(
            [
                widgets.HBox([self.edit_mode, self.quality, self.duration], layout=_ROW),
                self.notes["edit"],
                self.prompt,
                self.prompt_hint,
                self.negative_prompt,
                widgets.HBox([self.upload, self.fix_button, self.thumbs], layout=_ROW),
                self.notes["references"],
                widgets.HBox([self.create_button, self.progress, self.elapsed], layout=_ROW),
                self.notes["create"],
            ],
            layout=widgets.Layout(width="100%", border="1px solid #e5e7eb", padding="4px"),
        )

        self.playback = widgets.HBox(
            [self.play, self.slider, self.frame_label],
            layout=widgets.Layout(width="100%", align_items="center", flex_flow="row nowrap"),
        )
        self.tools = widgets.HBox(
            [self.tool, self.clear_button, self.preview_button, self.opacity], layout=_ROW
        )
        self.stage = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.stage.add_class("kling-stage")

    def rows(
        self, frame: widgets.Widget, strip: widgets.Widget, display_size: tuple[int, int]
    ) -> widgets.VBox:
        """The whole editor, top to bottom."""
        self.set_stage(frame, strip, display_size)
        box = widgets.VBox(
            [
                self.status,
                self.preflight,
                self.stage,
                self.tools,
                self.notes["tools"],
                self.preview_out,
                self.edit_panel,
                self.result,
            ],
            layout=widgets.Layout(width="100%"),
        )
        box.add_class("kling-editor")
        return box

    def set_stage(
        self, frame: widgets.Widget, strip: widgets.Widget, display_size: tuple[int, int]
    ) -> None:
        """Put the frame and strip in the stage, sized for the frame's shape."""
        self.stage.children = [frame, strip, self.playback]
        self.stage.layout.max_width = stage_max_width(*display_size)

    def note(self, target: str, text: str, level: str = "info") -> None:
        """Show ``text`` next to the controls ``target`` names (``""`` clears it)."""
        self.notes[target].value = note_html(text, level)

    def clear_notes(self) -> None:
        """Forget every note (a new action starts: old messages are stale)."""
        for note in self.notes.values():
            note.value = ""

    def set_status(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the status line."""
        self.status.value = status_html(text, level)

    def show_preflight(self, problems: Sequence[str], fixable: bool = True) -> None:
        """List the clip's problems; Conform is offered only when it fixes all of them."""
        if not problems:
            self.preflight.layout.display = "none"
            self.preflight_text.value = ""
            return
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        offer = (
            "Press <i>Conform</i> to write a copy that meets them and edit that instead."
            if fixable
            else "No conform can fix this clip; choose or export another one."
        )
        self.preflight_text.value = (
            "<b>This clip breaks Kling's limits; nothing was uploaded.</b>"
            f"<ul style='margin:2px 0'>{items}</ul>{offer}"
        )
        self.conform_button.layout.display = "" if fixable else "none"
        self.preflight.layout.display = "flex"

    def set_thumbnails(self, items: Sequence[tuple[str, bytes, Sequence[str]]]) -> None:
        """Show reference images: (name, thumbnail PNG, problems) each; Fix when needed."""
        self.fix_button.layout.display = "" if any(p for _, _, p in items) else "none"
        boxes = []
        for name, png, problems in items:
            verdict = (
                "<span style='color:#15803d'>✓ meets the limits</span>"
                if not problems
                else "".join(
                    f"<div style='color:#b91c1c'>✗ {html.escape(p)}</div>" for p in problems
                )
            )
            boxes.append(
                widgets.VBox(
                    [
                        widgets.Image(value=png, format="png"),
                        widgets.HTML(
                            f"<div style='font-size:11px;max-width:{THUMB_PX * 2}px'>"
                            f"{html.escape(name)}<br>{verdict}</div>"
                        ),
                    ],
                    layout=widgets.Layout(margin="0 6px 0 0"),
                )
            )
        self.thumbs.children = boxes

    def reset_prompt_for(self, edit_mode: str) -> None:
        """Put the template of ``edit_mode`` in the prompt box (Omni has none: empty box)."""
        if edit_mode == OMNI_MODE:
            self.prompt.value = ""
            self.prompt.placeholder = OMNI_PLACEHOLDER
            self.prompt_hint.value = ""
            if self.quality.value != "pro":
                self.quality.value = "pro"  # Omni's default (1080p)
                self.note(
                    "edit",
                    "Quality switched from std to pro: Omni prompt edits render in pro "
                    "(1080p) unless you choose std again.",
                    "info",
                )
            return
        self.prompt.value = default_prompt(edit_mode)
        self.prompt_hint.value = _hint_html(edit_mode)

    def prompt_is_template(self) -> bool:
        """True when the prompt box still holds one of the documented templates."""
        text = self.prompt.value.strip()
        return any(
            text in (template_for(m).strip(), default_prompt(m).strip()) for m in limits.EDIT_MODES
        )

    def show_progress(self, active: bool, percent: int | None = None, text: str = "") -> None:
        """Progress bar and elapsed-time label while a task runs."""
        self.progress.layout.visibility = "visible" if active else "hidden"
        if percent is None:
            self.progress.bar_style = "info" if active else ""
        else:
            self.progress.value = max(0, min(100, percent))
        self.elapsed.value = text

    def show_result(self, after: bytes, before: bytes | None, path: str) -> None:
        """The edit next to the original, both playing inline, and where the file is."""
        caption = "<div style='font:600 13px sans-serif;margin:2px 0'>{}</div>"

        def pane(title: str, data: bytes, autoplay: bool, width: str) -> widgets.VBox:
            video = widgets.Video(
                value=data,
                format="mp4",
                autoplay=autoplay,
                loop=True,
                controls=True,
                layout=widgets.Layout(width="100%"),
            )
            if title == "After":
                video.add_class("kling-result-video")
            return widgets.VBox(
                [widgets.HTML(caption.format(title)), video], layout=widgets.Layout(width=width)
            )

        if before is None:
            panes = [pane("After", after, True, "100%")]
        else:
            panes = [pane("Before", before, False, "50%"), pane("After", after, True, "50%")]
        self.result.children = [
            widgets.HBox(panes, layout=widgets.Layout(width="100%")),
            widgets.HTML(f"<div style='font:12px monospace'>Saved to {html.escape(path)}</div>"),
        ]
