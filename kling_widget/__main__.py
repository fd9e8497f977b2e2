"""``python -m kling_widget`` runs the ``kling-widget`` command."""

import sys

from kling_widget.cli import main

if __name__ == "__main__":
    sys.exit(main())
