"""GraphSpec from profiles and the torch-free input pipeline shared by training and inference."""

from __future__ import annotations

import numpy as np
import pytest

from gnn.graph import (
    CLIP,
    EDGE_TYPES,
    MAX_FILLED_GAP,
    NODE_TYPES,
    GraphSpec,
    build_inputs,
    default_model_path,
    fill_short_gaps,
    profile_sha256,
)
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile, validate_profile_data


@pytest.fixture
def rig() -> GraphSpec:
    return GraphSpec.from_profile(load_profile("zema-test-rig"))


def test_rig_graph_layout(rig: GraphSpec) -> None:
    profile = load_profile("zema-test-rig")
    assert rig.node_ids == profile.component_ids
    assert rig.num_nodes == 11
    # 15 connections in both directions + 11 self loops
    assert rig.num_edges == 2 * 15 + 11
    ei = rig.edge_index()
    assert ei.shape == (2, 41) and ei.dtype == np.int64
    # every connection appears in both directions with forward/reverse types
    for conn in profile.connections:
        s, t = rig.node_ids.index(conn.source), rig.node_ids.index(conn.target)
        fwd = [e for e in rig.edges if (e.source, e.target) == (s, t)]
        rev = [e for e in rig.edges if (e.source, e.target) == (t, s)]
        # parallel connections (T->MP1 suction, MP1->T drain) stay separate edges
        assert f"{conn.kind.value}:forward" in {EDGE_TYPES[e.type_id] for e in fwd}
        assert f"{conn.kind.value}:reverse" in {EDGE_TYPES[e.type_id] for e in rev}
    assert sum(EDGE_TYPES[e.type_id] == "self" for e in rig.edges) == 11
    # node types follow the closed ComponentType vocabulary
    acc = rig.node_ids.index("ACC")
    assert NODE_TYPES[int(rig.node_type()[acc])] == "accumulator"
    assert rig.sensors_of_node(acc) == ()
    # MP1 carries PS1, FS1, VS1, SE; C1 carries TS2, TS4 (two temperature slots), CE, CP
    c1 = rig.node_ids.index("C1")
    slots_c1 = {s.id: rig.slots[s.slot] for s in rig.sensors_of_node(c1)}
    assert (slots_c1["TS2"].quantity, slots_c1["TS2"].index) == ("temperature", 0)
    assert (slots_c1["TS4"].quantity, slots_c1["TS4"].index) == ("temperature", 1)
    # no two sensors share a (node, slot)
    assert len({(s.node, s.slot) for s in rig.sensors}) == 17
    # F = one slot per (quantity, k): pressure 1, flow 1, temperature 2, vib 1, power 1, eff 1, virtual 1
    assert rig.num_features == 8


def test_json_round_trip_and_sha(rig: GraphSpec) -> None:
    fitted = rig.with_normalisation({"PS1": (150.0, 10.0), "TS1": (45.0, 0.0)})
    again = GraphSpec.from_json(fitted.to_json())
    assert again == fitted
    assert again.sensor("PS1").mean == 150.0
    assert again.sensor("TS1").std == 1.0  # degenerate std replaced, never divides by 0
    # the hash identifies the structure, not the statistics
    assert profile_sha256(fitted) == profile_sha256(rig)
    assert len(profile_sha256(rig)) == 64
    with pytest.raises(Exception, match="frozen"):
        rig.profile_id = "other"


def test_sha_changes_with_topology() -> None:
    data = load_profile("zema-test-rig").model_dump(mode="json")
    base = profile_sha256(GraphSpec.from_profile(validate_profile_data(data)))
    data["connections"] = data["connections"][:-1]
    assert profile_sha256(GraphSpec.from_profile(validate_profile_data(data))) != base


def test_fill_short_gaps_interpolates_short_runs_and_leaves_long_ones() -> None:
    nan = np.nan
    a = np.array(
        [
            [nan, 1.0, 2.0, nan, 4.0, nan, nan, nan, nan, nan, nan, 11.0, nan],
            [nan] * 13,  # nothing to interpolate from
            list(range(13)),  # nothing missing
        ]
    )
    out = fill_short_gaps(a, max_gap=5)
    # edges take the nearest sample, a single gap the line between its neighbours
    assert out[0, :5].tolist() == [1.0, 1.0, 2.0, 3.0, 4.0]
    assert np.isnan(out[0, 5:11]).all()  # six missing: longer than 5, left missing
    assert out[0, 11:].tolist() == [11.0, 11.0]
    assert np.isnan(out[1]).all() and out[2].tolist() == list(range(13))
    assert np.isnan(a[0, 0])  # the input is not modified
    clean = np.ones((2, 4))
    assert fill_short_gaps(clean) is clean  # nothing missing: no copy
    assert fill_short_gaps(a, max_gap=0) is a


def test_build_inputs_normalises_and_masks(rig: GraphSpec) -> None:
    spec = rig.with_normalisation({"PS1": (100.0, 10.0), "TS2": (50.0, 2.0)})
    b, t = 3, 7
    ps1 = np.full((b, t), 110.0)
    ps1[1, :6] = np.nan  # a gap longer than MAX_FILLED_GAP stays masked
    ps1[2, 3] = np.inf  # a short one is interpolated: 110 either side
    ps1[2, 4] = 130.0
    ts2 = np.full((b, t), 46.0)
    ts2[0, 0] = 1e9  # wild value is clipped
    x, mask = build_inputs(spec, {"PS1": ps1, "TS2": ts2, "UNKNOWN": np.zeros((b, t))})
    assert x.shape == mask.shape == (b, 11, t, spec.num_features)
    assert x.dtype == mask.dtype == np.float32
    s = spec.sensor("PS1")
    assert x[0, s.node, 0, s.slot] == pytest.approx(1.0)
    assert MAX_FILLED_GAP < 6
    assert (mask[1, s.node, :6, s.slot] == 0).all() and (x[1, s.node, :6, s.slot] == 0).all()
    assert mask[2, s.node, 3, s.slot] == 1 and x[2, s.node, 3, s.slot] == pytest.approx(2.0)
    s2 = spec.sensor("TS2")
    assert x[0, s2.node, 1, s2.slot] == pytest.approx(-2.0)
    assert x[0, s2.node, 0, s2.slot] == CLIP
    # absent sensors and the sensorless accumulator are fully masked
    assert mask[:, spec.node_ids.index("ACC")].sum() == 0
    fs1 = spec.sensor("FS1")
    assert mask[:, fs1.node, :, fs1.slot].sum() == 0
    assert mask.sum() == 2 * b * t - 6
    assert np.all(x[mask == 0] == 0)


def test_build_inputs_single_window_and_errors(rig: GraphSpec) -> None:
    x, _ = build_inputs(rig, {"PS1": np.arange(5.0)})
    assert x.shape == (1, 11, 5, rig.num_features)
    with pytest.raises(HydroDiagError, match="differs"):
        build_inputs(rig, {"PS1": np.zeros((2, 5)), "PS2": np.zeros((2, 6))})
    with pytest.raises(HydroDiagError, match="has data"):
        build_inputs(rig, {"NOPE": np.zeros((2, 5))})


def test_fit_normalisation(rig: GraphSpec) -> None:
    a = np.array([[1.0, 3.0, np.nan]])
    spec = rig.fit_normalisation({"PS1": a})
    assert spec.sensor("PS1").mean == pytest.approx(2.0)
    assert spec.sensor("PS1").std == pytest.approx(1.0)


def test_default_model_path_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    assert default_model_path().name == "model.onnx"
    monkeypatch.setenv("HYDRODIAG_MODEL", "/x/y.onnx")
    assert str(default_model_path()) == "/x/y.onnx"


def test_phase_normalisation(rig: GraphSpec) -> None:
    # two "cycles" of 3 steps: a waveform (10, 20, 30) plus a per-cycle offset of -1 / +1
    ps1 = np.array([[9.0, 19.0, 29.0], [11.0, 21.0, 31.0]])
    ps2 = np.array([[5.0, 5.0, 5.0], [5.0, 5.0, np.nan]])  # constant step: std floored
    glob = rig.fit_normalisation({"PS1": ps1, "PS2": ps2})
    spec = glob.fit_phase_normalisation({"PS1": ps1, "PS2": ps2})
    assert spec.normalisation == "phase" and spec.num_features == rig.num_features
    s = spec.sensor("PS1")
    assert s.phase_mean == pytest.approx((10.0, 20.0, 30.0))
    assert s.phase_std == pytest.approx((1.0, 1.0, 1.0))
    assert min(spec.sensor("PS2").phase_std or ()) > 0
    # statistics travel as JSON; the profile hash ignores them and the mode
    assert GraphSpec.from_json(spec.to_json()) == spec
    assert profile_sha256(spec) == profile_sha256(rig)
    x, mask = build_inputs(spec, {"PS1": ps1, "PS2": ps2})
    assert x[:, s.node, :, s.slot] == pytest.approx(np.array([[-1.0] * 3, [1.0] * 3]))
    p2 = spec.sensor("PS2")
    # the missing last step takes its neighbour's 5.0 (a short gap), which is the step's mean
    assert np.all(x[:, p2.node, :, p2.slot] == 0) and mask[1, p2.node, 2, p2.slot] == 1
    # a window of another length falls back to the global statistics
    x5, _ = build_inputs(spec, {"PS1": np.full((1, 5), 20.0)})
    x5g, _ = build_inputs(glob, {"PS1": np.full((1, 5), 20.0)})
    assert np.array_equal(x5, x5g)
    # both: the global slots first, the phase slots behind them
    both = glob.fit_phase_normalisation({"PS1": ps1}, "global+phase")
    assert both.num_features == 2 * rig.num_features
    xb, mb = build_inputs(both, {"PS1": ps1})
    xg, _ = build_inputs(glob, {"PS1": ps1})
    f = rig.num_features
    assert np.array_equal(xb[..., :f], xg)
    assert xb[:, s.node, :, f + s.slot] == pytest.approx(x[:, s.node, :, s.slot])
    assert mb[..., f:].sum() == mb[..., :f].sum() == 6
    # a sensor's data sits in exactly the channels feature_channels names (what masking a
    # sensor out, as training's sensor dependence does, has to clear)
    for mode_spec, masks in ((glob, build_inputs(glob, {"PS1": ps1})[1]), (both, mb)):
        used = np.flatnonzero(masks[:, s.node].any(axis=(0, 1)))
        assert used.tolist() == mode_spec.feature_channels(s.slot)
    # "global" clears the tables
    cleared = spec.fit_phase_normalisation({}, "global")
    assert cleared.normalisation == "global" and cleared.sensor("PS1").phase_mean is None
