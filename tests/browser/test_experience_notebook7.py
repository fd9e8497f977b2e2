"""The editing aids in Notebook 7, used as a person would: the same workflow as the
JupyterLab 4 file (object list and prompt, keys, undo / redo against the server, Space
plays, inline preview and export, create shown in compare and the task history)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import test_experience as lab4

pytestmark = lab4.pytestmark

# The steps build on one another (the object clicked first is undone, played, exported):
# assigned in the JupyterLab file's order, which pytest keeps.
test_the_clicked_object_is_listed_and_its_name_goes_in_the_prompt = (
    lab4.test_the_clicked_object_is_listed_and_its_name_goes_in_the_prompt
)
test_keys_act_on_the_editor_and_typing_in_the_prompt_is_left_alone = (
    lab4.test_keys_act_on_the_editor_and_typing_in_the_prompt_is_left_alone
)
test_undo_and_redo_keys_send_the_exact_points = lab4.test_undo_and_redo_keys_send_the_exact_points
test_space_plays_the_clip_in_the_canvas = lab4.test_space_plays_the_clip_in_the_canvas
test_preview_plays_inline_and_the_export_reads_back = (
    lab4.test_preview_plays_inline_and_the_export_reads_back
)
test_a_create_shows_in_compare_and_in_the_task_history = (
    lab4.test_a_create_shows_in_compare_and_in_the_task_history
)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Notebook 7 with the editor open (the tests above use this module's fixture)."""
    yield from lab4.open_session(tmp_path_factory.mktemp("experience-nb7"), "notebook7")
