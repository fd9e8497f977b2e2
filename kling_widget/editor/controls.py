"""The ipywidgets panel around the canvas: playback, tools, edit settings, result.

Widgets only, no behaviour: the ``Editor`` wires each control to its Python API, so a
button and a script call do the same thing.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import ipywidgets as widgets
from PIL import Image

from kling_widget import limits
from kling_widget.editor.state import default_prompt, play_step, template_for, time_label

# The fourth edit mode: an Omni-Video prompt edit of the whole clip (no selection needed).
OMNI_MODE = "omni"
OMNI_PLACEHOLDER = "Describe the change, e.g. make it a snowy evening in <<<video_1>>>"
_ROW = widgets.Layout(width="100%", align_items="center", flex_flow="row wrap")
THUMB_PX = 96


def status_html(text: str, level: str = "info") -> str:
    """The status line's HTML: plain words, coloured by level, escaped."""
    colors = {"info": "#374151", "busy": "#1d4ed8", "ok": "#15803d", "error": "#b91c1c"}
    color = colors.get(level, colors["info"])
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
            layout=widgets.Layout(flex="1 1 auto", min_width="120px"),
        )
        self.play = widgets.Play(
            value=0, min=0, max=last, step=step, interval=interval, show_repeat=False
        )
        # Linked in the browser: playback does not wait for the kernel to move the slider.
        self._link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.frame_label = widgets.Label(time_label(0, frame_count, fps))

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

        # --- result -------------------------------------------------------------
        self.result = widgets.VBox(layout=widgets.Layout(width="100%"))

        self.edit_panel = widgets.VBox(
            [
                widgets.HBox([self.edit_mode, self.quality, self.duration], layout=_ROW),
                self.prompt,
                self.prompt_hint,
                self.negative_prompt,
                widgets.HBox([self.upload, self.thumbs], layout=_ROW),
                widgets.HBox([self.create_button, self.progress, self.elapsed], layout=_ROW),
            ],
            layout=widgets.Layout(width="100%", border="1px solid #e5e7eb", padding="4px"),
        )

    def rows(self, canvas: widgets.Widget, strip: widgets.Widget) -> widgets.VBox:
        """The whole editor, top to bottom."""
        playback = widgets.HBox([self.play, self.slider, self.frame_label], layout=_ROW)
        tools = widgets.HBox(
            [self.tool, self.clear_button, self.preview_button, self.opacity], layout=_ROW
        )
        box = widgets.VBox(
            [
                self.status,
                self.preflight,
                canvas,
                strip,
                playback,
                tools,
                self.preview_out,
                self.edit_panel,
                self.result,
            ],
            layout=widgets.Layout(width="100%"),
        )
        box.add_class("kling-editor")
        return box

    def set_status(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the status line."""
        self.status.value = status_html(text, level)

    def show_preflight(self, problems: Sequence[str]) -> None:
        """List the clip's limit violations with the Conform offer (hidden when none)."""
        if not problems:
            self.preflight.layout.display = "none"
            self.preflight_text.value = ""
            return
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        self.preflight_text.value = (
            "<b>This clip breaks Kling's limits; nothing was uploaded.</b>"
            f"<ul style='margin:2px 0'>{items}</ul>"
            "Press <i>Conform</i> to write a copy that meets them and edit that instead."
        )
        self.preflight.layout.display = "flex"

    def set_thumbnails(self, items: Sequence[tuple[str, bytes, Sequence[str]]]) -> None:
        """Show reference images: (name, thumbnail PNG, problems) each."""
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
            self.quality.value = "pro"  # Omni's default (1080p)
            self.prompt_hint.value = ""
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
