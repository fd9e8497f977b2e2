"""Sample clips with ground truth: an alias of ``kling_widget.media.samples``.

``from kling_widget.samples import make_sample, sample_image``
"""

from kling_widget.media.samples import *  # noqa: F403
from kling_widget.media.samples import __all__ as __all__
