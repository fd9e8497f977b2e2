"""The object list panel: rows per object, and what rename / hide / delete report."""

from __future__ import annotations

from kling_widget.editor.objects import ObjectInfo
from kling_widget.editor.objects_panel import ObjectsPanel, frame_ranges


def info(oid: int, label: str = "", hidden: bool = False, tracked: int = 0) -> ObjectInfo:
    return ObjectInfo(
        oid, label, (116, 255, 82), (0, 1, 2, 7), tuple(range(tracked)), hidden, {0: ((0.1, 0.2),)}
    )


def test_frame_ranges() -> None:
    assert frame_ranges([]) == ""
    assert frame_ranges([3]) == "3"
    assert frame_ranges([0, 1, 2, 5, 9, 10]) == "0–2, 5, 9–10"
    assert frame_ranges([0, 2, 4, 6], limit=2) == "0, 2, …"


def test_rows_show_each_object_and_update_in_place() -> None:
    panel = ObjectsPanel()
    assert panel.empty.layout.display != "none"
    panel.update([info(1, "dog", tracked=150), info(2)])
    assert panel.empty.layout.display == "none"
    r1, r2 = panel.row(1), panel.row(2)
    assert r1 is not None and r2 is not None
    assert r1.name.value == "dog" and r2.name.value == "" and r2.name.placeholder == "object 2"
    assert "#74ff52" in r1.swatch.value
    assert (
        "points on 0–2, 7" in r1.where.value and "tracked on 150 frames (0–149)" in r1.where.value
    )
    assert "not yet" in r2.where.value
    box = r1.box
    panel.update([info(2, hidden=True), info(1, "big dog")])
    assert panel.row(1) is r1 and r1.box is box  # same widgets
    assert r1.name.value == "big dog"
    assert r2.hide.value is True and r2.hide.description == "Show"
    assert panel.list.children == (r2.box, r1.box)
    panel.update([info(2)])
    assert panel.row(1) is None and panel.list.children == (r2.box,)
    panel.close()


def test_user_actions_are_reported_and_updates_are_not() -> None:
    events: list[tuple[str, object, object]] = []
    errors: list[str] = []

    def delete(oid: object) -> None:
        events.append(("delete", oid, None))
        raise RuntimeError("no connection")

    panel = ObjectsPanel(
        on_rename=lambda oid, text: events.append(("rename", oid, text)),
        on_hide=lambda oid, hidden: events.append(("hide", oid, hidden)),
        on_delete=delete,
        on_error=lambda exc: errors.append(str(exc)),
    )
    panel.update([info(4, "cat")])
    panel.update([info(4, "kitten", hidden=True)])  # the model changed: nothing reported
    assert events == []
    row = panel.row(4)
    assert row is not None
    row.name.value = "tabby"
    row.hide.value = False
    row.delete.click()
    assert events == [("rename", 4, "tabby"), ("hide", 4, False), ("delete", 4, None)]
    assert errors == ["no connection"]
    panel.close()
