"""The editor's rules as plain data: limits, Remove's target, the strip, prompts."""

from __future__ import annotations

import pytest

from kling_widget import limits
from kling_widget.editor.state import (
    EditorState,
    FrameMasks,
    check_frame,
    check_points,
    nearest_point,
    play_step,
    strip_hit,
    strip_marks,
    strip_x,
    time_label,
)
from kling_widget.errors import KlingValidationError


def make_state(**kw: object) -> EditorState:
    args = {"frame_count": 150, "fps": 30.0, "width": 1280, "height": 720}
    args.update(kw)
    return EditorState(**args)  # type: ignore[arg-type]


def test_points_accept_tuples_and_dicts_and_reject_out_of_range_naming_the_value() -> None:
    assert check_points([(0.25, 0.5), {"x": 1, "y": 0}]) == [(0.25, 0.5), (1.0, 0.0)]
    with pytest.raises(KlingValidationError) as err:
        check_points([(1.2, 0.5)])
    assert err.value.field == "points"
    assert "1.2" in str(err.value) and "[0, 1]" in str(err.value)
    with pytest.raises(KlingValidationError, match="at least one"):
        check_points([])
    with pytest.raises(KlingValidationError, match="'x' and 'y'"):
        check_points([{"x": 0.5}])
    with pytest.raises(KlingValidationError, match="numbers"):
        check_points([("a", 0.5)])


def test_frame_must_be_inside_the_clip() -> None:
    assert check_frame(149, 150) == 149
    with pytest.raises(KlingValidationError) as err:
        check_frame(150, 150)
    assert err.value.field == "frame" and "0..149" in str(err.value)
    with pytest.raises(KlingValidationError):
        check_frame(True, 150)  # type: ignore[arg-type]


def test_eleventh_marked_frame_is_refused_before_sending() -> None:
    st = make_state()
    for f in range(limits.MAX_MARKED_FRAMES):
        st.check_can_add(f)
        st.add_pending(f, [(0.5, 0.5)])
        st.confirm_add(f, [(0.5, 0.5)])
    st.check_can_add(3)  # a frame that already has points is fine
    with pytest.raises(KlingValidationError) as err:
        st.check_can_add(42)
    assert err.value.field == "frame" and err.value.value == 42
    assert str(limits.MAX_MARKED_FRAMES) in err.value.rule


def test_pending_points_count_towards_the_per_frame_limit() -> None:
    st = make_state()
    st.add_pending(7, [(i / 20, 0.5) for i in range(limits.MAX_POINTS_PER_FRAME - 1)])
    st.check_can_add(7)
    st.add_pending(7, [(0.9, 0.9)])
    with pytest.raises(KlingValidationError) as err:
        st.check_can_add(7)
    assert err.value.field == "points"
    assert f"frame 7 already has {limits.MAX_POINTS_PER_FRAME}" in err.value.rule


def test_remove_targets_the_nearest_point_in_screen_distance_with_exact_coordinates() -> None:
    st = make_state()
    a, b = (0.123456789, 0.5), (0.5, 0.987654321)
    st.confirm_add(3, [a, b])
    assert st.point_to_remove(3, (0.2, 0.55)) == a
    assert st.point_to_remove(3, (0.45, 0.9)) == b
    assert st.point_to_remove(4, (0.45, 0.9)) is None
    # Aspect matters: 0.1 in x on a 16:9 frame is farther on screen than 0.1 in y.
    assert nearest_point([(0.6, 0.5), (0.5, 0.61)], (0.5, 0.5), aspect=16 / 9) == 1
    assert nearest_point([(0.6, 0.5), (0.5, 0.61)], (0.5, 0.5), aspect=1.0) == 0
    assert nearest_point([(0.9, 0.9)], (0.1, 0.1), max_dist=0.1) is None


def test_confirmed_and_pending_points_and_their_removal() -> None:
    st = make_state()
    st.add_pending(2, [(0.1, 0.1)])
    assert st.marked_frames() == [2]
    st.drop_pending(2, [(0.1, 0.1)])
    assert st.marked_frames() == []
    st.add_pending(2, [(0.1, 0.1)])
    st.confirm_add(2, [(0.1, 0.1)])
    assert st.points == {2: [(0.1, 0.1)]} and st.pending == {}
    st.confirm_remove(2, [(0.1, 0.1)])
    assert st.points == {} and st.marked_frames() == []


def test_tracked_masks_never_replace_a_clicks_own_masks() -> None:
    import numpy as np

    st = make_state()
    own = FrameMasks([1], [np.ones((4, 4), np.uint8)], "selection")
    st.set_masks(5, own)
    st.set_masks(5, FrameMasks([1], [np.zeros((4, 4), np.uint8)], "tracked"))
    st.set_masks(6, FrameMasks([1], [np.zeros((4, 4), np.uint8)], "tracked"))
    assert st.masks[5] is own
    assert st.tracked_frames() == [6]
    v = st.version(6)
    st.clear_masks(source="tracked")
    assert 6 not in st.masks and 5 in st.masks and st.version(6) == v + 1


def test_strip_marks_and_clicks_snap_to_marks() -> None:
    st = make_state(frame=40)
    st.confirm_add(10, [(0.5, 0.5)])
    marks = strip_marks(st)
    assert [(m.frame, m.kind) for m in marks] == [(10, "points"), (40, "current")]
    width = 960
    x10 = strip_x(10, 150, width)
    assert x10 == pytest.approx(10.5 * width / 150)
    assert strip_hit(x10 + 5, width, 150, [10]) == 10  # near the mark: snaps
    assert strip_hit(x10 + 40, width, 150, [10]) == int((x10 + 40) * 150 / width)
    assert strip_hit(-5, width, 150, []) == 0
    assert strip_hit(width + 5, width, 150, []) == 149


def test_playback_skips_frames_to_keep_real_time() -> None:
    assert play_step(30) == (2, 67)
    assert play_step(24) == (2, 83)
    assert play_step(60) == (4, 67)
    assert play_step(10) == (1, 100)
    assert time_label(45, 150, 30.0) == "frame 45 / 149 · 1.50 s"
