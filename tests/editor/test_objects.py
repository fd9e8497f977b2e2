"""The object list: which points belong to which object, labels, hiding, default prompts."""

from __future__ import annotations

import numpy as np
import pytest
from fake_selection import FakeOps

from kling_widget.editor.history import History, Step
from kling_widget.editor.objects import (
    ObjectBook,
    ObjectInfo,
    assign_points,
    point_owner,
    subject_for,
)
from kling_widget.media.masks import object_color

H, W = 90, 160


def box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


DOG = box(10, 10, 60, 60)
BALL = box(100, 40, 140, 80)


def norm(px: float, py: float) -> tuple[float, float]:
    return (px / W, py / H)


def test_a_point_belongs_to_the_mask_that_covers_it() -> None:
    assert point_owner(norm(30, 30), [7, 9], [DOG, BALL]) == 7
    assert point_owner(norm(120, 60), [7, 9], [DOG, BALL]) == 9


def test_a_point_just_outside_a_mask_goes_to_the_nearest_object() -> None:
    assert point_owner(norm(62, 30), [7, 9], [DOG, BALL]) == 7  # on the dog's edge
    assert point_owner(norm(80, 5), [7, 9], [DOG, BALL]) == 7  # nearer the dog's centre
    assert point_owner(norm(150, 88), [7, 9], [DOG, BALL]) == 9


def test_a_frame_without_masks_leaves_its_points_unowned() -> None:
    assert point_owner(norm(30, 30), [], []) is None
    points = {0: [norm(30, 30)], 5: [norm(1, 1)]}
    assert assign_points(points, {0: ([7], [DOG])}) == {7: {0: [norm(30, 30)]}}


def test_objects_list_points_frames_tracked_frames_and_colours() -> None:
    book = ObjectBook()
    p_dog, p_ball, p_dog2 = norm(30, 30), norm(120, 60), norm(40, 40)
    points = {0: [p_dog, p_ball], 4: [p_dog2]}
    masks = {
        0: ([1, 2], [DOG, BALL]),
        4: ([1], [DOG]),
        1: ([1, 2], [DOG, BALL]),
        2: ([1, 2], [DOG, np.zeros((H, W), np.uint8)]),
    }
    objs = book.objects(points, masks, tracked_frames={1, 2})
    assert [o.id for o in objs] == [1, 2]
    dog, ball = objs
    assert dog.point_frames == (0, 4) and dog.tracked_frames == (1, 2)
    assert ball.point_frames == (0,) and ball.tracked_frames == (1,)  # empty on frame 2
    assert dog.points == {0: (p_dog,), 4: (p_dog2,)}
    assert dog.colour == object_color(0) and ball.colour == object_color(1)
    assert dog.colour_hex == "#{:02x}{:02x}{:02x}".format(*object_color(0))
    assert dog.name == "object 1"


def test_colours_stay_with_their_object() -> None:
    book = ObjectBook()
    book.objects({}, {0: ([5], [BALL])})
    objs = book.objects({}, {0: ([3, 5], [DOG, BALL])})
    assert {o.id: o.colour for o in objs} == {5: object_color(0), 3: object_color(1)}


def test_colours_can_come_from_the_mask_layer() -> None:
    order = {5: 3, 9: 0}
    book = ObjectBook(colour_index=order.__getitem__)
    objs = book.objects({}, {0: ([5, 9], [DOG, BALL])})
    assert [o.id for o in objs] == [9, 5]
    assert [o.colour for o in objs] == [object_color(0), object_color(3)]


def test_rename_and_hide() -> None:
    book = ObjectBook()
    assert book.rename(1, "  big   dog ") == "big dog"
    book.set_hidden(2, True)
    objs = book.objects({}, {0: ([1, 2], [DOG, BALL])})
    assert [(o.name, o.hidden) for o in objs] == [("big dog", False), ("object 2", True)]
    book.rename(1, "")
    book.set_hidden(2, False)
    objs = book.objects({}, {0: ([1, 2], [DOG, BALL])})
    assert [(o.label, o.hidden) for o in objs] == [("", False), ("", False)]
    with pytest.raises(ValueError, match="label="):
        book.rename(1, "x" * 81)


def info(label: str, oid: int = 1) -> ObjectInfo:
    return ObjectInfo(oid, label, (0, 0, 0), (), ())


@pytest.mark.parametrize(
    ("labels", "subject"),
    [
        ([""], None),
        (["", ""], "the selected objects"),
        (["dog"], "the dog"),
        (["Rex"], "Rex"),
        (["my dog"], "my dog"),
        (["小狗"], "小狗"),
        (["dog", "ball"], "the dog and the ball"),
        (["dog", ""], "the dog and the other selected object"),
        (["dog", "", "", "cat"], "the dog, the cat and the other selected objects"),
    ],
)
def test_subject_for_the_default_prompt(labels: list[str], subject: str | None) -> None:
    assert subject_for([info(t, i) for i, t in enumerate(labels)]) == subject


def test_a_label_names_the_object_in_the_default_prompt() -> None:
    book = ObjectBook()
    book.rename(1, "dog")
    objs = book.objects({}, {0: ([1], [DOG])})
    assert book.prompt_for("removal", objs) == "Delete the dog from <<<video_1>>>"
    book.rename(1, "")
    assert "[x]" not in book.prompt_for("removal", book.objects({}, {0: ([1], [DOG])}))


def test_deleting_an_object_is_one_undoable_change_of_exact_deletes() -> None:
    ops = FakeOps()
    h = History(ops)
    p_dog, p_ball, p_dog2 = norm(30, 30), norm(120, 60), norm(40, 40)
    h.add(0, [p_dog, p_ball])
    h.add(4, [p_dog2])
    book = ObjectBook()
    dog = book.objects(ops.points, {0: ([1, 2], [DOG, BALL]), 4: ([1], [DOG])})[0]
    assert dog.delete_steps() == [Step("delete", 0, (p_dog,)), Step("delete", 4, (p_dog2,))]
    ops.calls.clear()
    h.apply(f"delete {dog.name}", dog.delete_steps())
    assert ops.calls == [("delete", 0, [p_dog]), ("delete", 4, [p_dog2])]
    assert ops.points == {0: [p_ball]}
    h.undo()
    assert sorted(ops.points) == [0, 4] and p_dog in ops.points[0]


def test_labels_and_hidden_flags_round_trip() -> None:
    book = ObjectBook()
    book.rename(1, "dog")
    book.rename("a", "ball")
    book.set_hidden(1, True)
    again = ObjectBook()
    again.load_json(book.to_json())
    assert again.label(1) == "dog" and again.label("a") == "ball"
    assert again.hidden() == {1}
    again.load_json({"labels": [[1]], "hidden": [True, None]})  # junk is skipped
    assert again.label(1) == "dog"


def test_an_object_given_back_under_a_new_id_takes_its_name_and_colour_back() -> None:
    book = ObjectBook()
    p_dog, p_ball = norm(30, 30), norm(120, 60)
    first = book.objects({0: [p_dog, p_ball]}, {0: ([1, 2], [DOG, BALL])})
    book.rename(1, "dog")
    assert book.remember(first)
    assert book.recall(first) == []  # nothing renumbered
    # The dog's point sent again came back as object 7 (the ball kept its id).
    back = book.objects({0: [p_dog, p_ball]}, {0: ([7, 2], [DOG, BALL])})
    assert book.recall(back) == [(1, 7)]
    again = book.objects({0: [p_dog, p_ball]}, {0: ([7, 2], [DOG, BALL])})
    assert [(o.id, o.label, o.colour) for o in again] == [
        (7, "dog", object_color(0)),
        (2, "", object_color(1)),
    ]
    assert book.label(1) == ""
    book.remember(again)
    # Survives a restart: a fresh book from the saved JSON recalls it too.
    fresh = ObjectBook()
    fresh.load_json(book.to_json())
    later = fresh.objects({0: [p_dog]}, {0: ([9], [DOG])})
    assert fresh.recall(later) == [(7, 9)] and fresh.label(9) == "dog"


def test_a_new_click_or_a_kept_object_takes_nothing() -> None:
    book = ObjectBook()
    p_dog = norm(30, 30)
    book.rename(1, "dog")
    book.remember(book.objects({0: [p_dog]}, {0: ([1], [DOG])}))
    # A new point elsewhere: no remembered point, no name.
    other = book.objects({0: [norm(120, 60)]}, {0: ([5], [BALL])})
    assert book.recall(other) == [] and book.label(5) == ""
    # The dog still listed under its own id: nothing taken over.
    both = book.objects({0: [p_dog, norm(120, 60)]}, {0: ([1, 5], [DOG, BALL])})
    assert book.recall(both) == []
    # A name removed is not given back.
    book.rename(1, "")
    back = book.objects({0: [p_dog]}, {0: ([3], [DOG])})
    assert book.recall(back) == [(1, 3)] and book.label(3) == ""
    fresh = ObjectBook()
    fresh.load_json({"remembered": [[0, "x", 0.1, 1, "dog", 0], [0, 0.1, 0.1, True, "", 0]]})
    assert fresh.to_json()["remembered"] == []  # junk is skipped
