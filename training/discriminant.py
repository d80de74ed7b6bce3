"""Closed-form neighbourhood discriminants for components without sensors.

A component without sensors (the accumulator bank of the reference rig) can only be graded
from its neighbours' signals. The gradient-trained grade head does this badly across blocks of
cycles: each condition of such a component occurs in few long runs, and a discriminative
learner separates those runs along directions that drift between them (42.9 % accumulator
accuracy on 5-fold blocked CV; logistic regression and an MLP on the same inputs do no
better). Linear discriminant analysis — class means whitened by the pooled within-class
covariance — suppresses exactly those directions, because the conditions of the other
components and the oil temperature vary *within* each accumulator class.

So for every graded node without sensors, :func:`fit_discriminants` fits an LDA on the Fourier
moments (``TemporalGNN.discriminant_features``) of the nodes within ``hops`` hops of it in the
component graph — the graph decides which signals are evidence — and writes it into the
model's discriminant buffers. The result is exported with the rest of the model: ONNX Runtime
computes it in the same graph, from the same inputs.

Grades are an ordered severity scale, and by default (``scale="ordinal"``) a node without
sensors is graded on one least-squares severity score rather than by one mean per grade: the
grades on either side of a grade then inform it, which is what carries it into operating
regimes where that grade was never seen (:func:`_fit_ordinal`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from gnn.graph import GraphSpec
from gnn.model import TemporalGNN
from training.config import DiscriminantNodes, DiscriminantScale
from training.datasets import blocked_folds

log = logging.getLogger(__name__)

# Logit of a grade never seen in training: exp() of it is 0 in float32, so it is never chosen.
UNSEEN_GRADE_LOGIT = -1.0e4


@dataclass(frozen=True)
class FittedDiscriminant:
    """What was fitted for one node (for the model card)."""

    component: str
    neighbourhood: tuple[str, ...]  # components whose signals it reads
    features: int  # moment features used (non-constant in training)
    grades: tuple[int, ...]  # grades seen in training
    train_accuracy: float
    combined: bool = False  # added to the neural head (node with sensors) or replacing it
    temperature: float = 1.0  # its logits are divided by this (calibrated on held-out blocks)
    held_out_accuracy: float = float("nan")  # blocked CV of the discriminant on training data
    scale: str = "nominal"  # "ordinal": one severity score; "nominal": one mean per grade
    # sensor id -> accuracy on held-out training blocks with that sensor missing (a node
    # without sensors; empty otherwise): what its grade is worth without the sensor on data it
    # was not fitted on, where its in-sample accuracy hardly notices (training.train)
    held_out_without: dict[str, float] = field(default_factory=dict)
    radius: int = 0  # graph hops of the neighbourhood it reads
    # radius -> accuracy on the inner folds it was chosen by (empty when not chosen)
    radius_scores: dict[int, float] = field(default_factory=dict)


def neighbourhood(spec: GraphSpec, node: int, hops: int) -> list[int]:
    """Nodes within ``hops`` undirected hops of ``node`` (itself included), in node order."""
    adjacent: dict[int, set[int]] = {k: set() for k in range(spec.num_nodes)}
    for src, dst in spec.edge_index().T:
        adjacent[int(src)].add(int(dst))
        adjacent[int(dst)].add(int(src))
    reached, frontier = {node}, {node}
    for _ in range(hops):
        frontier = {m for k in frontier for m in adjacent[k]} - reached
        reached |= frontier
    return sorted(reached)


def sensorless_nodes(spec: GraphSpec) -> list[int]:
    return [k for k in range(spec.num_nodes) if not spec.sensors_of_node(k)]


@torch.no_grad()
def fit_discriminants(
    model: TemporalGNN,
    spec: GraphSpec,
    x: torch.Tensor,
    mask: torch.Tensor,
    grades: np.ndarray,
    fault_types: Sequence[str],
    node_faults: dict[str, str],
    *,
    hops: int,
    nodes: DiscriminantNodes = "sensorless",
    offset_floor: float = 0.0,
    noise_floor: float = 0.0,
    scale: DiscriminantScale = "nominal",
    inner_folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    batch_size: int = 256,
) -> list[FittedDiscriminant]:
    """Fit and install a discriminant for every graded node without sensors (and, with
    ``nodes="graded"``, one added to the neural head of every graded node with sensors).

    Args:
        model: built with ``discriminant_frequencies`` > 0; its buffers are written.
        spec: the graph the model was trained on (normalisation fitted).
        x: normalised training inputs ``[W, N, T, F]`` (``gnn.graph.build_inputs``).
        mask: their presence mask.
        grades: int64 ``[W, N]`` training grades, -1 where unlabelled.
        fault_types: the model's fault types (order of its fault outputs).
        node_faults: component id -> its fault type in the labels.
        hops: neighbourhood radius in the component graph for a node without sensors;
            a node with sensors uses ``hops - 1`` (its nearest evidence is itself, not a
            neighbour, so both reach one hop beyond their nearest sensors).
        nodes: which graded nodes get one.
        offset_floor: std of a per-window sensor offset the discriminant must tolerate, in
            normalised units (a share of each sensor's std); see :func:`moment_floor`.
        noise_floor: std of per-sample sensor noise it must tolerate, likewise.
        scale: how a node *without* sensors is graded — ``"ordinal"`` (:func:`_fit_ordinal`)
            or ``"nominal"`` (:func:`_fit_lda`). Nodes with sensors are always nominal: their
            discriminant only sharpens a neural head that already separates the grades.
        inner_folds: (train, validation) indices into the windows; when given, each node's
            radius is chosen between its radius above and one hop less by the
            discriminant's accuracy on these folds (:func:`_choose_radius`) — on the
            reference rig, leave-one-run-out inside the training windows.
        batch_size: windows per feature batch.

    Returns:
        one record per fitted node (empty if no graded node lacks sensors).
    """
    blind = set(sensorless_nodes(spec))
    candidates = range(spec.num_nodes) if nodes == "graded" else sorted(blind)
    targets = [k for k in candidates if (grades[:, k] >= 0).any()]
    if not targets:
        return []
    model.eval()
    features = torch.cat(
        [
            model.discriminant_features(x[lo : lo + batch_size], mask[lo : lo + batch_size])
            for lo in range(0, x.shape[0], batch_size)
        ]
    ).double()  # [W, N * per_node]
    per_node = features.shape[1] // spec.num_nodes
    all_floor = np.tile(
        _node_floor(model, spec.num_features, x.shape[2], offset_floor, noise_floor),
        spec.num_nodes,
    )
    fitted = []
    for node in targets:
        component = spec.node_ids[node]
        combine = node not in blind
        fit = _fit_ordinal if scale == "ordinal" and not combine else _fit_lda
        radius = max(hops - 1, 0) if combine else hops
        radius_scores: dict[int, float] = {}
        if inner_folds is not None and radius > 1:
            radius, radius_scores = _choose_radius(
                spec,
                node,
                (radius - 1, radius),
                features,
                grades[:, node],
                all_floor,
                per_node,
                model.num_grades,
                fit,
                inner_folds,
            )
        hood = neighbourhood(spec, node, radius)
        columns = np.concatenate([np.arange(k * per_node, (k + 1) * per_node) for k in hood])
        known = grades[:, node] >= 0
        u = features[known][:, columns].numpy()
        y = grades[known, node]
        classes = np.unique(y)
        if classes.size < 2:
            log.warning("%s: one grade in training, no discriminant fitted", component)
            continue
        floor = all_floor[columns]
        w, b, used = fit(u, y, model.num_grades, floor)
        temperature, held_out = _temperature(u, y, model.num_grades, floor, fit=fit)
        without = (
            _held_out_without(
                u, y, model.num_grades, floor, fit, _sensor_columns(spec, model, hood, per_node)
            )
            if not combine
            else {}
        )
        weight = torch.zeros(features.shape[1], model.num_grades, dtype=torch.float64)
        weight[torch.from_numpy(columns[used])] = torch.from_numpy(w / temperature)
        unseen = ~np.isin(np.arange(model.num_grades), classes)
        bias = torch.from_numpy(np.where(unseen, UNSEEN_GRADE_LOGIT, b / temperature))
        accuracy = float((np.argmax(u[:, used] @ w + b, axis=1) == y).mean())
        fault = node_faults.get(component)
        fault_index = (
            list(fault_types).index(fault) if fault is not None and fault in fault_types else None
        )
        model.set_discriminant(node, weight.float(), bias.float(), fault_index, combine=combine)
        fitted.append(
            FittedDiscriminant(
                component=component,
                neighbourhood=tuple(spec.node_ids[k] for k in hood),
                features=int(used.sum()),
                grades=tuple(int(g) for g in classes),
                train_accuracy=accuracy,
                combined=combine,
                temperature=temperature,
                held_out_accuracy=held_out,
                scale="ordinal" if fit is _fit_ordinal else "nominal",
                held_out_without=without,
                radius=radius,
                radius_scores=radius_scores,
            )
        )
        log.info(
            "%s: %s discriminant over %s (%d features), training accuracy %.3f, held-out blocks "
            "%.3f, temperature %.3g",
            component,
            fitted[-1].scale,
            ",".join(spec.node_ids[k] for k in hood),
            int(used.sum()),
            accuracy,
            held_out,
            temperature,
        )
    return fitted


def _choose_radius(
    spec: GraphSpec,
    node: int,
    radii: Sequence[int],
    features: torch.Tensor,
    grades: np.ndarray,
    floor: np.ndarray,
    per_node: int,
    n_grades: int,
    fit: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[int, dict[int, float]]:
    """The radius among ``radii`` whose discriminant grades ``folds``' validation windows best
    (the smaller one on a tie), with every candidate's accuracy there.

    The radius decides which sensors are evidence, and the wider one reads sensors whose
    relation to the node is only statistical: on the rig, a 2-hop cooler discriminant reads
    the relief valve's PS4, which happens to sit at 0 bar while the cooler runs at 3 or 20 %
    and at 10 bar at 100 %; held out, the run where PS4 was between read the healthy cooler
    as degraded (38.6 % right). Chosen on folds inside the training windows, so a
    cross-validation of the whole fit measures the choice too.
    """
    y_all = grades
    scores: dict[int, float] = {}
    for radius in radii:
        hood = neighbourhood(spec, node, radius)
        columns = np.concatenate([np.arange(k * per_node, (k + 1) * per_node) for k in hood])
        u = features[:, columns].numpy()
        right = scored = 0
        for train, val in folds:
            train = train[y_all[train] >= 0]
            val = val[y_all[val] >= 0]
            if np.unique(y_all[train]).size < 2 or not len(val):
                continue
            w, b, used = fit(u[train], y_all[train], n_grades, floor[columns])
            right += int(((u[val][:, used] @ w + b).argmax(axis=1) == y_all[val]).sum())
            scored += len(val)
        scores[radius] = right / scored if scored else float("nan")
    finite = {r: v for r, v in scores.items() if v == v}
    if not finite:
        return max(radii), scores
    best = max(finite.values())
    return min(r for r, v in finite.items() if v == best), scores


def _sensor_columns(
    spec: GraphSpec, model: TemporalGNN, hood: Sequence[int], per_node: int
) -> dict[str, np.ndarray]:
    """Sensor id -> its columns among a neighbourhood's discriminant features (the moments of
    its channels and, with the change moments, of their changes), for the sensors in ``hood``.
    """
    moments = 2 * model.discriminant_frequencies + 1
    offsets = {node: k * per_node for k, node in enumerate(hood)}
    out = {}
    for sensor in spec.sensors:
        if sensor.node not in offsets:
            continue
        channels = list(spec.feature_channels(sensor.slot))
        if model.discriminant_variation:
            channels += [spec.num_features + c for c in channels]
        out[sensor.id] = np.concatenate(
            [offsets[sensor.node] + c * moments + np.arange(moments) for c in channels]
        )
    return out


def _held_out_without(
    u: np.ndarray,
    y: np.ndarray,
    n_grades: int,
    floor: np.ndarray,
    fit: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]],
    columns: dict[str, np.ndarray],
    n_folds: int = 5,
    block: int = 100,
) -> dict[str, float]:
    """Accuracy on held-out blocks of the training windows with each sensor missing (its
    columns 0, as a masked sensor's moments are): a node without sensors is graded from
    many neighbours, and on its own training windows a missing one hardly shows — the fit
    has memorised them — while on new runs it can halve the accuracy."""
    n_folds = min(n_folds, -(-len(y) // block))
    if n_folds < 2:
        return {}
    right = dict.fromkeys(columns, 0)
    scored = 0
    for train, val in blocked_folds(len(y), n_folds, block):
        if np.unique(y[train]).size < 2 or not len(val):
            continue
        w, b, used = fit(u[train], y[train], n_grades, floor)
        where = np.flatnonzero(used)
        for sensor, cols in columns.items():
            z = u[val].copy()
            z[:, cols] = 0.0
            right[sensor] += int(((z[:, where] @ w + b).argmax(axis=1) == y[val]).sum())
        scored += len(val)
    return {sensor: r / scored for sensor, r in right.items()} if scored else {}


def _node_floor(
    model: TemporalGNN, num_features: int, steps: int, offset_floor: float, noise_floor: float
) -> np.ndarray:
    """The variance floor of one node's discriminant features, in the model's feature order:
    its moments (:func:`moment_floor`), then their step-to-step changes when the model reads
    them (:func:`variation_floor`)."""
    floor = moment_floor(
        num_features, model.discriminant_frequencies, steps, offset_floor, noise_floor
    )
    if not model.discriminant_variation:
        return floor
    variation = variation_floor(num_features, model.discriminant_frequencies, steps, noise_floor)
    return np.concatenate([floor, variation])


def _fit_lda(
    u: np.ndarray, y: np.ndarray, n_grades: int, floor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LDA logits as ``u[:, used] @ weight + bias`` for all ``n_grades`` grades.

    Gaussian classes with one shared covariance: the pooled within-class covariance of ``u``
    plus ``diag(floor)``, the variance that sensor errors the training data does not show
    (offsets, noise; see :func:`moment_floor`) would add. Without a floor, LDA leans on
    directions that are almost constant in training — a 0.05 l/min flow offset then moved
    an accumulator grade.

    Returns ``(weight [d_used, G], bias [G], used)``: ``used`` drops features constant in
    training (absent slots); grades not in ``y`` get :data:`UNSEEN_GRADE_LOGIT`.
    """
    used = _varying(u)
    z = u[:, used]
    classes, counts = np.unique(y, return_counts=True)
    means = np.stack([z[y == c].mean(axis=0) for c in classes])  # [C, d]
    centred = z - means[np.searchsorted(classes, y)]
    cov = _floored(centred.T @ centred / len(z), floor[used] if floor is not None else None)
    coef = np.linalg.solve(cov, means.T).T  # [C, d]
    intercept = -0.5 * (coef * means).sum(axis=1) + np.log(counts / counts.sum())
    return (*_grade_logits(coef, intercept, classes, n_grades), used)


def _varying(u: np.ndarray) -> np.ndarray:
    """Mask of the features not constant in training (absent slots carry nothing)."""
    spread = u.std(axis=0)
    return np.asarray(spread > 1e-9 * max(float(spread.max()), 1e-30))


def _floored(cov: np.ndarray, floor: np.ndarray | None) -> np.ndarray:
    """``cov`` plus ``diag(floor)`` (see :func:`moment_floor`) and a whisker of ridge that
    keeps it invertible."""
    cov[np.diag_indices_from(cov)] += (floor if floor is not None else 0.0) + 1e-9 * float(
        np.trace(cov)
    ) / len(cov)
    return cov


def _grade_logits(
    coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, n_grades: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(weight [d, G], bias [G])`` from per-seen-grade ``coef [C, d]`` and ``intercept [C]``.

    Centred over the seen grades (softmax is unchanged): their logits then sum to 0 for every
    window, so the largest is >= 0 and an unseen grade's :data:`UNSEEN_GRADE_LOGIT` can never
    win.
    """
    coef = coef - coef.mean(axis=0)
    intercept = intercept - intercept.mean()
    weight = np.zeros((coef.shape[1], n_grades))
    bias = np.full(n_grades, UNSEEN_GRADE_LOGIT)
    for row, grade in enumerate(classes):
        weight[:, int(grade)] = coef[row]
        bias[int(grade)] = float(intercept[row])
    return weight, bias


def _severity_score(
    z: np.ndarray, y: np.ndarray, floor: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """Least-squares score of the grade index: ``(direction [d], offset)``, covariance floored."""
    target = y.astype(np.float64)
    mean = z.mean(axis=0)
    centred = z - mean
    cov = _floored(centred.T @ centred / len(z), floor)
    direction = np.linalg.solve(cov, centred.T @ (target - target.mean()) / len(z))
    return direction, float(target.mean() - mean @ direction)


def _fit_ordinal(
    u: np.ndarray,
    y: np.ndarray,
    n_grades: int,
    floor: np.ndarray | None = None,
    *,
    held_out_means: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordinal discriminant: one severity score, then the nearest grade on it.

    Condition grades are an ordered scale, and the signature of a worsening component moves
    its neighbours' signals further along (much) the same direction. A least-squares score
    ``s = u @ w`` of the grade index (covariance floored like :func:`_fit_lda`) uses that
    order: a grade's evidence also comes from the grades on either side of it, so the score
    carries over to operating regimes where one grade was never seen — where a nominal LDA,
    with an unrelated mean per grade, has nothing to go on. On the reference rig's
    accumulator this took blocked-CV grade accuracy from 86.5 % to 93.7 %.

    Each seen grade ``g`` gets the mean ``m_g`` of its windows' scores; the grade
    likelihood is Gaussian in the score with the pooled within-grade variance ``v``, so the
    logits ``(m_g s - m_g² / 2) / v`` are linear in ``u`` — the same form as LDA's and the
    same model buffers. Grades are equally likely a priori (the nearest mean wins).

    With ``held_out_means`` (default) those means and the variance come from scores of
    blocked inner folds — each window scored by a fit that did not see its block — rather
    than from the fit's own scores. A fit spreads the grades it was fitted on further apart
    than it will spread new windows, so cut points between in-sample means read the extreme
    grades of new windows one grade towards the middle: on the rig's accumulator that was 89
    of 104 blocked-CV errors, and held-out cut points took it from 94.2 % to 95.6 %.

    Returns:
        ``(weight [d_used, G], bias [G], used)`` as :func:`_fit_lda`.
    """
    used = _varying(u)
    z = u[:, used]
    floor_used = floor[used] if floor is not None else None
    direction, offset = _severity_score(z, y, floor_used)
    score = z @ direction + offset
    if held_out_means:
        # Where the windows of each grade score on blocks the score was not fitted on: fitted
        # scores spread the grades further apart than new windows do (the fit has seen their
        # noise), so cut points from them leave the extreme grades pulled towards the middle.
        n_folds = min(5, -(-len(y) // 100))
        if n_folds >= 2:
            for train, val in blocked_folds(len(y), n_folds, 100):
                w, c = _severity_score(z[train], y[train], floor_used)
                score[val] = z[val] @ w + c
    classes = np.unique(y)
    means = np.array([score[y == c].mean() for c in classes])
    variance = float(np.mean((score - means[np.searchsorted(classes, y)]) ** 2))
    variance = max(variance, 1e-12 * float(np.var(score)) + 1e-30)
    coef = np.outer(means, direction) / variance  # [C, d]
    intercept = (means * offset - 0.5 * means**2) / variance
    return (*_grade_logits(coef, intercept, classes, n_grades), used)


def moment_floor(
    n_channels: int, frequencies: int, length: int, offset: float, noise: float
) -> np.ndarray:
    """Variance a sensor offset (std ``offset``) and white noise (std ``noise`` per sample)
    add to each Fourier moment of ``TemporalGNN.discriminant_features``, in normalised units.

    An offset moves only the plain mean (a constant has no sin/cos moment over a whole
    window); noise adds ``noise² / T`` to the mean and about half of that to sin/cos moments.

    Returns:
        ``[n_channels * (2K + 1)]``, laid out like the features (channel-major).
    """
    per_channel = np.full(2 * frequencies + 1, noise**2 / (2 * length))
    per_channel[0] = offset**2 + noise**2 / length
    return np.tile(per_channel, n_channels)


def variation_floor(n_channels: int, frequencies: int, length: int, noise: float) -> np.ndarray:
    """Like :func:`moment_floor`, for the moments of ``|x[t] - x[t-1]|``
    (``TemporalGNN.discriminant_features`` with ``discriminant_variation``).

    An offset cancels in a difference. The floor models the sensor's error on each step's
    change as white with variance ``2 noise²`` — what white sample noise of std ``noise``
    gives at the highest moments (its differences are anti-correlated, so less at the low
    ones), and what a slowly wandering sensor gives at all of them. Where the signal moves,
    that adds ``2 noise²`` to each step's absolute change (``2 noise² / T`` to the plain mean,
    half of that to each sin/cos moment); where it rests, it biases the mean by
    ``E|N(0, 2 noise²)| = 2 noise / sqrt(pi)`` — which differs between installations as
    their noise does, so it counts as an offset.

    Returns:
        ``[n_channels * (2K + 1)]``, laid out like :func:`moment_floor`.
    """
    per_channel = np.full(2 * frequencies + 1, noise**2 / length)
    per_channel[0] = (2 * noise / np.sqrt(np.pi)) ** 2 + 2 * noise**2 / length
    return np.tile(per_channel, n_channels)


def _temperature(
    u: np.ndarray,
    y: np.ndarray,
    n_grades: int,
    floor: np.ndarray | None = None,
    n_folds: int = 5,
    block: int = 100,
    fit: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] = _fit_lda,
) -> tuple[float, float]:
    """Temperature of the LDA logits from blocked cross-validation on the training windows.

    LDA's posteriors are over-confident far from the training runs: unscaled, a wrong
    discriminant outvotes a right neural head, and the health score of a node without sensors
    claims certainty it does not have. The logits are divided by the temperature that
    minimises the log-loss on held-out blocks (temperature scaling, Guo et al. 2017).

    Returns:
        ``(temperature, held-out accuracy)``; ``(1.0, nan)`` with too few blocks.
    """
    n_folds = min(n_folds, -(-len(y) // block))
    if n_folds < 2:
        return 1.0, float("nan")
    logits, truth = [], []
    for train, val in blocked_folds(len(y), n_folds, block):
        if np.unique(y[train]).size < 2 or not len(val):
            continue
        w, b, used = fit(u[train], y[train], n_grades, floor)
        seen = np.isin(y[val], np.unique(y[train]))  # an unseen grade cannot be learnt
        logits.append(u[val][seen][:, used] @ w + b)
        truth.append(y[val][seen])
    if not logits:
        return 1.0, float("nan")
    z, t = np.concatenate(logits), np.concatenate(truth)
    accuracy = float((z.argmax(axis=1) == t).mean())
    best, best_loss = 1.0, np.inf
    for temperature in np.logspace(-1, 4, 101):
        scaled = z / temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        log_p = scaled[np.arange(len(t)), t] - np.log(np.exp(scaled).sum(axis=1))
        loss = -float(log_p.mean())
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best, accuracy
