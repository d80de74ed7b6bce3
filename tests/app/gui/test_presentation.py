"""The presentation vocabulary shared by the app and the PDF: statuses, priorities, positions."""

from __future__ import annotations

import pytest

from app.core.presentation import (
    PRIORITY_COLORS,
    PRIORITY_RANK,
    PRIORITY_SYMBOLS,
    STATUS_STYLES,
    schematic_positions,
)
from gnn.results import Priority, Status
from ingestion.profiles import EquipmentProfile, load_profile


def _without_positions(profile: EquipmentProfile, ids: set[str]) -> EquipmentProfile:
    components = [
        c.model_copy(update={"position": None}) if c.id in ids else c for c in profile.components
    ]
    return profile.model_copy(update={"components": components})


def test_every_status_and_priority_has_one_look() -> None:
    assert set(STATUS_STYLES) == set(Status)
    glyphs = [s.glyph for s in STATUS_STYLES.values()]
    words = [s.word for s in STATUS_STYLES.values()]
    assert len(set(glyphs)) == len(glyphs) and len(set(words)) == len(words)
    assert STATUS_STYLES[Status.CRITICAL].label == "✖ CRITICAL"
    for table in (PRIORITY_RANK, PRIORITY_COLORS, PRIORITY_SYMBOLS):
        assert set(table) == set(Priority)
    assert sorted(Priority, key=PRIORITY_RANK.__getitem__)[0] == Priority.URGENT


def test_schematic_positions_keep_the_profile_and_grid_the_rest() -> None:
    profile = load_profile("zema-test-rig")
    placed = schematic_positions(profile)
    assert placed == {c.id: tuple(map(float, c.position or ())) for c in profile.components}

    missing = {"T", "H1", "F1", "MP2"}
    partial = schematic_positions(_without_positions(profile, missing))
    for comp in profile.components:
        if comp.id not in missing:
            assert partial[comp.id] == placed[comp.id]
    lowest_placed = max(y for cid, (_, y) in partial.items() if cid not in missing)
    slots = [partial[cid] for cid in missing]
    assert len(set(slots)) == len(slots)  # one slot each
    assert all(y >= lowest_placed + 1.3 for _, y in slots)  # below the schematic

    nothing = schematic_positions(_without_positions(profile, set(profile.component_ids)))
    n = len(profile.components)
    assert len(set(nothing.values())) == n
    assert {x for x, _ in nothing.values()} == {float(i) for i in range(4)}  # ceil(sqrt(11))


@pytest.mark.gui
def test_graph_view_places_nodes_where_the_schematic_says(qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.gui.views.component_graph import SCALE_X, SCALE_Y, ComponentGraphView

    profile = _without_positions(load_profile("zema-test-rig"), {"T", "H1"})
    view = ComponentGraphView()
    qtbot.addWidget(view)
    view.set_profile(profile)
    for cid, (x, y) in schematic_positions(profile).items():
        pos = view.nodes[cid].pos()
        assert (pos.x(), pos.y()) == pytest.approx((x * SCALE_X, y * SCALE_Y))
