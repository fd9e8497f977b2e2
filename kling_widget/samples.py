"""Public home of the sample clips: ``kling_widget.samples.make_sample("static")``.

A thin alias of :mod:`kling_widget.media.samples`, where the generator lives.
"""

from __future__ import annotations

from kling_widget.media.samples import *  # noqa: F403
from kling_widget.media.samples import __all__ as __all__
