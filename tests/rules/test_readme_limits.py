"""The README's limits table is the one generated from the rules' numbers."""

from __future__ import annotations

import re
from pathlib import Path

from kling_widget.rules.table import limits_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_limits_table_matches_the_rules() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- limits:start[^>]*-->\n(.*?)\n<!-- limits:end -->", text, re.S)
    assert match, "README.md lost its limits:start / limits:end markers"
    assert match.group(1) == limits_table(), (
        "README limits table is stale: paste the output of `python -m kling_widget.rules.table`"
    )
