"""The closed-form neighbourhood discriminant for components without sensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from gnn.graph import GraphSpec, build_inputs
from gnn.model import TemporalGNN
from ingestion.profiles import load_profile
from training.discriminant import (
    FittedDiscriminant,
    fit_discriminants,
    neighbourhood,
    sensorless_nodes,
)
from training.export import (
    PARITY_TOLERANCE,
    ModelMeta,
    default_parity_cases,
    export_onnx,
    load_checkpoint,
    parity_check,
    save_checkpoint,
)

T = 30
FAULTS = ("accumulator_precharge_loss", "valve_switching_lag")


@pytest.fixture(scope="module")
def rig() -> GraphSpec:
    return GraphSpec.from_profile(load_profile("zema-test-rig"))


def _windows(n: int, seed: int, nuisance_scale: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sensor windows where the (sensorless) accumulator grade bends PS2's waveform a little
    while a nuisance condition moves PS2 and PS1 a lot — LDA's case, not a classifier's."""
    rng = np.random.default_rng(seed)
    grade = rng.integers(0, 4, n)
    nuisance = rng.normal(0, nuisance_scale, n)
    t = np.arange(T) / T
    shape = np.sin(2 * np.pi * t)
    values = {
        "PS2": 120
        + 8 * nuisance[:, None]
        + 0.6 * grade[:, None] * shape
        + rng.normal(0, 0.3, (n, T)),
        "PS1": 150 + 5 * nuisance[:, None] + rng.normal(0, 0.5, (n, T)),
        "PS3": 2 + rng.normal(0, 0.1, (n, T)),
        "TS1": 45 + rng.normal(0, 1, (n, T)),
    }
    return values, grade


def _model(spec: GraphSpec, **kw: int) -> TemporalGNN:
    torch.manual_seed(0)
    return TemporalGNN(
        spec.num_features, num_fault_types=len(FAULTS), hidden_channels=8, heads=2, **kw
    ).eval()


def _fitted(rig: GraphSpec) -> tuple[TemporalGNN, GraphSpec]:
    values, grade = _windows(400, seed=0, nuisance_scale=1.0)
    spec = rig.fit_normalisation(values)
    x, mask = build_inputs(spec, values)
    grades = np.full((len(grade), spec.num_nodes), -1, dtype=np.int64)
    grades[:, spec.node_ids.index("ACC")] = grade
    model = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=6)
    fitted = fit_discriminants(
        model,
        spec,
        torch.from_numpy(x),
        torch.from_numpy(mask),
        grades,
        FAULTS,
        {"ACC": "accumulator_precharge_loss", "V10": "valve_switching_lag"},
        hops=1,
    )
    assert [f.component for f in fitted] == ["ACC"]
    assert fitted[0].neighbourhood == ("V10", "ACC", "LV")
    return model, spec


def test_neighbourhood_of_the_accumulator_follows_the_graph(rig: GraphSpec) -> None:
    acc = rig.node_ids.index("ACC")
    assert [rig.node_ids[k] for k in sensorless_nodes(rig)] == ["ACC"]
    assert {rig.node_ids[k] for k in neighbourhood(rig, acc, 1)} == {"ACC", "V10", "LV"}
    assert {rig.node_ids[k] for k in neighbourhood(rig, acc, 2)} == {
        "ACC",
        "V10",
        "LV",
        "MP1",
        "T",
    }


def test_discriminant_grades_a_sensorless_node_across_nuisance_shifts(rig: GraphSpec) -> None:
    model, spec = _fitted(rig)
    acc = spec.node_ids.index("ACC")
    # Held-out windows with a wider nuisance spread than training: the grade must still hold.
    values, grade = _windows(300, seed=1, nuisance_scale=1.5)
    x, mask = (torch.from_numpy(a) for a in build_inputs(spec, values))
    with torch.no_grad():
        out = model(x, mask, *(torch.from_numpy(a) for a in _static(spec)))
    pred = out.grade_logits[:, acc].argmax(-1).numpy()
    assert (pred == grade).mean() >= 0.9
    # The node's own fault follows its grade: P(fault) = 1 - P(grade 0); other types untouched.
    p0 = torch.softmax(out.grade_logits[:, acc], -1)[:, 0]
    torch.testing.assert_close(torch.sigmoid(out.fault_logits[:, acc, 0]), 1 - p0)
    # Every other node is exactly the neural model's (same weights, gate 0).
    plain = _model(spec)
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("disc_")}
    )
    with torch.no_grad():
        ref = plain(x, mask, *(torch.from_numpy(a) for a in _static(spec)))
    others = [k for k in range(spec.num_nodes) if k != acc]
    torch.testing.assert_close(out.grade_logits[:, others], ref.grade_logits[:, others])
    torch.testing.assert_close(out.fault_logits[:, acc, 1], ref.fault_logits[:, acc, 1])


def test_a_plain_classifier_head_is_what_the_discriminant_replaces(rig: GraphSpec) -> None:
    """Sanity of the fixture: the accumulator's neural head (untrained) is near chance."""
    model, spec = _fitted(rig)
    values, grade = _windows(300, seed=1, nuisance_scale=1.5)
    x, mask = (torch.from_numpy(a) for a in build_inputs(spec, values))
    model.disc_gate.zero_()
    with torch.no_grad():
        out = model(x, mask, *(torch.from_numpy(a) for a in _static(spec)))
    assert (
        out.grade_logits[:, spec.node_ids.index("ACC")].argmax(-1).numpy() == grade
    ).mean() < 0.5


def _export_and_reload(
    model: TemporalGNN, spec: GraphSpec, values: dict[str, np.ndarray], tmp_path: Path
) -> TemporalGNN:
    """Export ``model`` (checked, parity on random graphs of several T and on ``values``'
    windows) and return it saved and loaded back as a checkpoint."""
    meta = ModelMeta(
        model_id="test-disc",
        model_version="0.0.1",
        graph_spec=spec,
        fault_types=FAULTS,
        graded_components=("ACC",),
        forecast_reference={},
    )
    path = export_onnx(model, meta, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    cases = default_parity_cases(spec, graph_agnostic=False)
    cases.append((*build_inputs(spec, values), *_static(spec)))
    assert len({c[0].shape[2] for c in cases}) >= 3
    for case, report in zip(cases, parity_check(model, path, cases), strict=True):
        assert max(report.values()) <= PARITY_TOLERANCE, (case[0].shape, report)
    save_checkpoint(tmp_path / "m.pt", model, meta, {})
    again, _, _ = load_checkpoint(tmp_path / "m.pt")
    torch.testing.assert_close(again.disc_weight, model.disc_weight)
    assert again.disc_gate.tolist() == model.disc_gate.tolist()
    return again


def test_export_parity_and_checkpoint_keep_the_discriminant(rig: GraphSpec, tmp_path: Path) -> None:
    model, spec = _fitted(rig)
    values, _ = _windows(5, seed=2, nuisance_scale=1.0)
    again = _export_and_reload(model, spec, values, tmp_path)
    assert again.discriminant_frequencies == 6
    assert not again.discriminant_variation


def test_discriminant_needs_the_node_count() -> None:
    with pytest.raises(ValueError, match="num_nodes"):
        TemporalGNN(8, num_fault_types=1, discriminant_frequencies=4)


def _static(spec: GraphSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return spec.node_type(), spec.edge_index(), spec.edge_type()


def test_graded_mode_adds_a_discriminant_to_nodes_with_sensors(rig: GraphSpec) -> None:
    values, grade = _windows(400, seed=0, nuisance_scale=1.0)
    spec = rig.fit_normalisation(values)
    x, mask = (torch.from_numpy(a) for a in build_inputs(spec, values))
    acc, v10 = spec.node_ids.index("ACC"), spec.node_ids.index("V10")
    grades = np.full((len(grade), spec.num_nodes), -1, dtype=np.int64)
    grades[:, acc] = grade
    grades[:, v10] = (values["PS1"].mean(1) > 150).astype(np.int64)  # the nuisance, seen by PS1
    model = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=6)
    plain = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=6)
    fitted = fit_discriminants(
        model,
        spec,
        x,
        mask,
        grades,
        FAULTS,
        {"V10": "valve_switching_lag"},
        hops=2,
        nodes="graded",
    )
    assert {f.component: f.combined for f in fitted} == {"V10": True, "ACC": False}
    v10_fit = next(f for f in fitted if f.component == "V10")
    assert set(v10_fit.neighbourhood) == {"MP1", "V10", "ACC", "LV"}  # hops - 1 = 1
    assert model.disc_gate[v10] == 2.0 and model.disc_gate[acc] == 1.0
    static = [torch.from_numpy(a) for a in _static(spec)]
    with torch.no_grad():
        both = model(x, mask, *static)
        neural = plain(x, mask, *static)
        disc = (
            torch.einsum("bd,dg->bg", model.discriminant_features(x, mask), model.disc_weight[v10])
            + model.disc_bias[v10]
        )
    torch.testing.assert_close(both.grade_logits[:, v10], neural.grade_logits[:, v10] + disc)
    assert (both.grade_logits[:, v10].argmax(-1).numpy() == grades[:, v10]).mean() > 0.95
    # The valve's own fault follows the combined grade.
    p0 = torch.softmax(both.grade_logits[:, v10], -1)[:, 0]
    torch.testing.assert_close(torch.sigmoid(both.fault_logits[:, v10, 1]), 1 - p0)


def test_temperature_tames_an_overconfident_discriminant() -> None:
    """Many noise features and few windows: raw LDA logits claim near-certainty on held-out
    blocks where it is often wrong; the calibrated temperature must soften them."""
    from training.discriminant import _fit_lda, _temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    u = np.column_stack([y + rng.normal(0, 0.8, 600), rng.normal(size=(600, 150))])
    temperature, held_out = _temperature(u, y, n_grades=4)
    assert 0.6 < held_out < 0.95  # informative but far from perfect
    assert temperature > 1.5
    w, b, used = _fit_lda(u, y, n_grades=4)
    assert used.all() and w.shape == (151, 4)
    assert b[2] == b[3] == -1.0e4  # grades never seen cannot win


def test_seen_grades_always_outscore_unseen_ones() -> None:
    """Raw LDA logits can all be far below zero; centred, an unseen grade never wins."""
    from training.discriminant import _fit_lda

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 500)
    u = np.column_stack([1e3 + y + rng.normal(0, 0.3, 500), rng.normal(size=(500, 20)) + 5e2])
    w, b, used = _fit_lda(u, y, n_grades=4)
    far = np.vstack([u * 3, -u, u + 1e4])  # far outside the training range
    logits = far[:, used] @ w + b
    assert (logits.argmax(axis=1) != 3).all()
    np.testing.assert_allclose(logits[:, :3].sum(axis=1), 0.0, atol=1e-6 * np.abs(logits).max())


@pytest.mark.parametrize(
    ("scale", "variation"), [("nominal", False), ("ordinal", False), ("ordinal", True)]
)
def test_noise_floor_keeps_the_accumulator_grade_through_a_small_sensor_offset(
    uci_dir: Path, scale: str, variation: bool
) -> None:
    """Real rig cycles: without a floor, a 0.05 l/min flow offset (1.7 % of FS1's spread, well
    inside a flow meter's tolerance) moves many accumulator grades; with it, almost none."""
    from training.datasets import from_uci_folder, grade_matrix

    windows = from_uci_folder(uci_dir).subset(np.arange(0, 1800, 2))
    base = GraphSpec.from_profile(load_profile("zema-test-rig"))
    spec = base.fit_normalisation(windows.values)
    x, mask = build_inputs(spec, windows.values)
    shifted = {**windows.values, "FS1": windows.values["FS1"] + 0.05}
    xs, ms = build_inputs(spec, shifted)
    acc = spec.node_ids.index("ACC")
    static = [torch.from_numpy(a) for a in _static(spec)]
    changed = {}
    for floor in (0.0, 1.0):
        model = _model(
            spec,
            num_nodes=spec.num_nodes,
            discriminant_frequencies=16,
            discriminant_variation=variation,
        )
        fit_discriminants(
            model,
            spec,
            torch.from_numpy(x),
            torch.from_numpy(mask),
            grade_matrix(windows, spec.node_ids),
            FAULTS,
            {},
            hops=2,
            offset_floor=0.01 * floor,
            noise_floor=0.005 * floor,
            scale=scale,  # type: ignore[arg-type]
        )
        with torch.no_grad():
            a = model(torch.from_numpy(x), torch.from_numpy(mask), *static).grade_logits
            b = model(torch.from_numpy(xs), torch.from_numpy(ms), *static).grade_logits
        changed[floor] = float((a[:, acc].argmax(-1) != b[:, acc].argmax(-1)).float().mean())
    assert changed[0.0] > 0.05, changed  # the brittleness the floor is for
    assert changed[1.0] < 0.01, changed


def test_ordinal_discriminant_picks_the_nearest_grade_mean_on_one_score() -> None:
    """Its logits are linear in the features (the model's buffers) and rank the grades by the
    distance of the window's score to each grade's mean — the nearest wins; unseen never."""
    from training.discriminant import _fit_ordinal

    rng = np.random.default_rng(5)
    y = rng.choice([0, 1, 3], 900)
    u = np.column_stack([y + rng.normal(0, 0.2, 900), rng.normal(size=(900, 8)), np.full(900, 4.0)])
    w, b, used = _fit_ordinal(u, y, n_grades=4)
    assert not used[-1] and w.shape == (9, 4)  # a constant column carries nothing
    assert b[2] == -1.0e4 and (w[:, 2] == 0).all()  # grade 2 was never seen
    logits = u[:, used] @ w + b
    assert (logits.argmax(axis=1) != 2).all()
    np.testing.assert_allclose(logits[:, [0, 1, 3]].sum(axis=1), 0.0, atol=1e-8)
    # All seen grades' weights are one direction times their mean: the logits are rank one.
    assert np.linalg.matrix_rank(w[:, [0, 1, 3]] - w[:, [0, 1, 3]].mean(axis=1, keepdims=True)) <= 1
    assert (logits.argmax(axis=1) == y).mean() > 0.95


def test_ordinal_scale_grades_the_accumulator_in_a_regime_that_grade_was_never_seen_in(
    uci_dir: Path,
) -> None:
    """Real rig cycles: cycles 1801-1900 (row block 15) are the only accumulator grade 1
    (115 bar) with a healthy cooler. Held out, the nominal LDA has no mean for that grade in
    that regime and mistakes many; the ordinal score places them between the grades around
    it, which it saw there."""
    from training.datasets import from_uci_folder, grade_matrix

    windows = from_uci_folder(uci_dir)
    held_out = np.arange(1500, 1600)
    train = windows.subset(np.setdiff1d(np.arange(windows.n_windows), held_out))
    test = windows.subset(held_out)
    spec = GraphSpec.from_profile(load_profile("zema-test-rig")).fit_normalisation(train.values)
    acc = spec.node_ids.index("ACC")
    truth = grade_matrix(test, spec.node_ids)[:, acc]
    assert set(truth) == {1}
    x, mask = (torch.from_numpy(a) for a in build_inputs(spec, train.values))
    xt, mt = (torch.from_numpy(a) for a in build_inputs(spec, test.values))
    static = [torch.from_numpy(a) for a in _static(spec)]
    accuracy = {}
    for scale in ("nominal", "ordinal"):
        model = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=16)
        (fitted,) = fit_discriminants(
            model,
            spec,
            x,
            mask,
            grade_matrix(train, spec.node_ids),
            FAULTS,
            {},
            hops=2,
            nodes="sensorless",
            offset_floor=0.01,
            noise_floor=0.005,
            scale=scale,
        )
        assert fitted.scale == scale
        with torch.no_grad():
            logits = model(xt, mt, *static).grade_logits[:, acc]
        accuracy[scale] = float((logits.argmax(-1).numpy() == truth).mean())
    assert accuracy["ordinal"] >= 0.9, accuracy
    assert accuracy["nominal"] <= accuracy["ordinal"] - 0.1, accuracy


def test_held_out_cut_points_stop_pulling_the_extreme_grades_to_the_middle() -> None:
    """Few windows, many features: the fit's own scores spread the grades wider than new
    windows' scores, so in-sample cut points read new extreme grades as the next one in.
    Cut points from blocked inner folds recover them without costing the rest."""
    from training.discriminant import _fit_ordinal

    def windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 4, n)
        return np.column_stack([y + rng.normal(0, 0.9, n), rng.normal(size=(n, 250))]), y

    for seed in range(3):
        u, y = windows(600, seed)
        new, truth = windows(3000, 100 + seed)
        extreme = (truth == 0) | (truth == 3)
        right = {}
        for held_out in (False, True):
            w, b, used = _fit_ordinal(u, y, 4, held_out_means=held_out)
            right[held_out] = (new[:, used] @ w + b).argmax(axis=1) == truth
        assert right[True][extreme].mean() >= right[False][extreme].mean() + 0.04
        assert right[True].mean() >= right[False].mean() - 0.01


def _fluctuating(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The accumulator grade shows only in how hard PS2 fluctuates, at a phase that differs
    from window to window: every linear moment of the window averages to zero over phases."""
    rng = np.random.default_rng(seed)
    grade = rng.integers(0, 4, n)
    t = np.arange(T) / T
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    swing = (1 + grade[:, None]) * np.sin(2 * np.pi * 3 * t + phase)
    values = {
        "PS2": 120 + swing + rng.normal(0, 0.3, (n, T)),
        "PS1": 150 + rng.normal(0, 0.5, (n, T)),
        "PS3": 2 + rng.normal(0, 0.1, (n, T)),
        "TS1": 45 + rng.normal(0, 1, (n, T)),
    }
    return values, grade


def test_variation_moments_grade_what_linear_moments_cannot(rig: GraphSpec, tmp_path: Path) -> None:
    train, grade = _fluctuating(400, seed=0)
    test, truth = _fluctuating(400, seed=1)
    spec = rig.fit_normalisation(train)
    acc = spec.node_ids.index("ACC")
    grades = np.full((len(grade), spec.num_nodes), -1, dtype=np.int64)
    grades[:, acc] = grade
    static = [torch.from_numpy(a) for a in _static(spec)]
    accuracy = {}
    for variation in (False, True):
        model = _model(
            spec,
            num_nodes=spec.num_nodes,
            discriminant_frequencies=6,
            discriminant_variation=variation,
        )
        x, mask = (torch.from_numpy(a) for a in build_inputs(spec, train))
        fit_discriminants(
            model, spec, x, mask, grades, FAULTS, {}, hops=1, scale="ordinal", offset_floor=0.01
        )
        xt, mt = build_inputs(spec, test)
        with torch.no_grad():
            out = model(torch.from_numpy(xt), torch.from_numpy(mt), *static)
        accuracy[variation] = float((out.grade_logits[:, acc].argmax(-1).numpy() == truth).mean())
    assert accuracy[False] < 0.5 < 0.9 < accuracy[True], accuracy
    # The shipped configuration exports with parity and survives a checkpoint.
    assert model.discriminant_variation
    five = {k: v[:5] for k, v in test.items()}
    assert _export_and_reload(model, spec, five, tmp_path).discriminant_variation


def test_checkpoints_from_before_the_variation_moments_load_without_them(rig: GraphSpec) -> None:
    model = _model(rig, num_nodes=rig.num_nodes, discriminant_frequencies=6)
    old = {k: v for k, v in model.hparams().items() if k != "discriminant_variation"}
    again = TemporalGNN(**old)  # type: ignore[arg-type]
    assert not again.discriminant_variation
    assert again.disc_weight.shape == (rig.num_nodes, rig.num_nodes * rig.num_features * 13, 4)
    again.load_state_dict(model.state_dict())


def test_variation_floor_is_what_sensor_noise_does_to_the_variation_moments() -> None:
    """Monte Carlo against :func:`variation_floor` (noise std s): white sample noise biases
    a resting signal's mean |x[t] - x[t-1]| by E|N(0, 2 s²)| = 2 s / sqrt(pi), the floor's
    mean term, and jitters a moving signal's moments by at most the floor; an error that
    wanders (white changes of variance 2 s²) jitters them by the floor at every frequency."""
    from gnn.model import fourier_moments
    from training.discriminant import variation_floor

    t, k, s = 60, 16, 0.005
    floor = variation_floor(1, k, t, s)
    rng = np.random.default_rng(0)
    white = torch.from_numpy(rng.normal(0, s, (4000, 1, t, 1)))
    wandering = torch.from_numpy(np.cumsum(rng.normal(0, np.sqrt(2) * s, (4000, 1, t, 1)), 2))
    ramp = torch.linspace(0, 3, t, dtype=torch.float64).view(1, 1, t, 1)

    def moments(x: torch.Tensor) -> np.ndarray:
        dx = (x[:, :, 1:] - x[:, :, :-1]).abs()
        dx = torch.cat([torch.zeros_like(dx[:, :, :1]), dx], dim=2)
        return fourier_moments(dx, k).reshape(len(x), -1).numpy()

    np.testing.assert_allclose(moments(white)[:, 0].mean() ** 2, floor[0], rtol=0.1)
    jitter = (moments(ramp + white) - moments(ramp)).var(axis=0)
    assert (jitter <= 1.1 * floor).all()
    assert jitter[1] < 0.01 * floor[1]  # differenced white noise: little at low frequencies
    jitter = (moments(ramp + wandering) - moments(ramp)).var(axis=0)
    np.testing.assert_allclose(jitter[1:], floor[1:], rtol=0.15)
    # the plain mean: a moving signal's changes average out; the floor's bias term dominates
    assert jitter[0] <= floor[0]


def test_held_out_blocks_say_which_sensors_a_sensorless_grade_needs(rig: GraphSpec) -> None:
    """The accumulator's grade lives in PS2 (on V10); PS3 (on LV) carries nothing: held out,
    the grade without PS2 falls to about chance, without PS3 it stays — and only PS2 becomes
    a sensor the engine will not grade the accumulator without."""
    from training.train import required_sensors

    values, grade = _windows(500, seed=4, nuisance_scale=1.0)
    spec = rig.fit_normalisation(values)
    x, mask = build_inputs(spec, values)
    grades = np.full((len(grade), spec.num_nodes), -1, dtype=np.int64)
    grades[:, spec.node_ids.index("ACC")] = grade
    model = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=6)
    (acc,) = fit_discriminants(
        model,
        spec,
        torch.from_numpy(x),
        torch.from_numpy(mask),
        grades,
        FAULTS,
        {"ACC": "accumulator_precharge_loss"},
        hops=1,
        scale="ordinal",
    )
    assert set(acc.held_out_without) == {"PS2", "PS3"}  # the sensors of V10, ACC and LV
    assert acc.held_out_accuracy > 0.9
    assert acc.held_out_without["PS2"] < 0.5
    assert acc.held_out_without["PS3"] > acc.held_out_accuracy - 0.02
    needs = required_sensors({"ACC": {"all": 1.0, "PS2": 0.99, "PS3": 1.0}}, 0.05, [acc])
    assert needs == {"ACC": {"PS2": acc.held_out_without["PS2"]}}


def test_the_radius_is_chosen_on_held_out_runs_not_on_a_coincidence(rig: GraphSpec) -> None:
    """The valve's grade shows in its own PS2; the relief valve's PS4, two hops away, tracks
    the grade exactly in seven runs and not in the eighth (a rig state that happened to
    coincide, as PS4 and the cooler did on the rig). Leave-one-run-out inside the training
    windows keeps the valve's discriminant at one hop."""
    from training.datasets import run_folds

    rng = np.random.default_rng(5)
    run_grades = [0, 1, 2, 3, 0, 1, 2, 3]
    grade = np.repeat(run_grades, 40)
    n = len(grade)
    ps4_level = 2.0 * grade.astype(float)
    ps4_level[5 * 40 : 6 * 40] = 2.0 * 2  # run 5 (grade 1) reads like grade 2
    values = {
        "PS2": 120 + 3.0 * grade[:, None] + rng.normal(0, 0.4, (n, T)),
        "PS4": ps4_level[:, None] + rng.normal(0, 0.05, (n, T)),
        "PS1": 150 + rng.normal(0, 0.5, (n, T)),
        "TS1": 45 + rng.normal(0, 1, (n, T)),
    }
    spec = rig.fit_normalisation(values)
    x, mask = build_inputs(spec, values)
    grades = np.full((n, spec.num_nodes), -1, dtype=np.int64)
    grades[:, spec.node_ids.index("V10")] = grade

    def fitted(**kw: object) -> list[FittedDiscriminant]:
        model = _model(spec, num_nodes=spec.num_nodes, discriminant_frequencies=2)
        return fit_discriminants(
            model,
            spec,
            torch.from_numpy(x),
            torch.from_numpy(mask),
            grades,
            FAULTS,
            {"V10": "valve_switching_lag"},
            hops=3,
            nodes="graded",
            offset_floor=0.01,
            **kw,  # type: ignore[arg-type]
        )

    (fixed,) = fitted()
    assert fixed.radius == 2 and "RV1" in fixed.neighbourhood and not fixed.radius_scores
    (chosen,) = fitted(inner_folds=run_folds(grade))
    assert chosen.radius == 1 and "RV1" not in chosen.neighbourhood
    assert set(chosen.radius_scores) == {1, 2}
    assert chosen.radius_scores[1] > chosen.radius_scores[2]
