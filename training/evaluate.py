"""Honest evaluation: blocked cross-validation of the model and the baselines on the same folds,
and scoring of an exported ONNX model on any UCI-layout folder through ONNX Runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets import (
    LabelledWindows,
    blocked_folds,
    condition_runs,
    run_folds,
    runs_component,
)

N_GRADES = 4


def confusion(truth: np.ndarray, pred: np.ndarray, n: int = N_GRADES) -> np.ndarray:
    """[n, n] counts, rows = true grade, columns = predicted grade (unlabelled rows skipped)."""
    out = np.zeros((n, n), dtype=np.int64)
    ok = (truth >= 0) & (pred >= 0)
    np.add.at(out, (truth[ok], pred[ok]), 1)
    return out


def scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 over the grades present in ``truth``, confusion matrix."""
    return confusion_scores(confusion(truth, pred))


def confusion_scores(cm: np.ndarray) -> dict[str, Any]:
    """:func:`scores` of a confusion matrix (rows = true grade)."""
    total = int(cm.sum())
    present = [g for g in range(N_GRADES) if cm[g].sum() > 0]
    f1s = []
    for g in present:
        tp = cm[g, g]
        prec = tp / cm[:, g].sum() if cm[:, g].sum() else 0.0
        rec = tp / cm[g].sum()
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return {
        "accuracy": float(np.trace(cm) / total) if total else float("nan"),
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "n": total,
        "confusion": cm.tolist(),
        "grades_present": present,
    }


Grader = Callable[[LabelledWindows], dict[str, np.ndarray]]
"""Per graded component of the windows: grades ``[W]`` (int, -1 = not graded) or grade
log-probabilities ``[W, G]`` (a row of NaN = not graded)."""
Method = Callable[[LabelledWindows], Grader]
"""Fit on a fold's training windows; the grader then grades any windows."""
Conditions = Callable[[LabelledWindows, LabelledWindows], Mapping[str, LabelledWindows]]
"""(training windows, validation windows) -> named altered copies of the validation windows
(a sensor offset, samples missing), graded besides the clean ones."""
Cells = dict[str, dict[str, dict[str, np.ndarray]]]  # method -> component -> confusions


@dataclass(frozen=True)
class Scheme:
    """Which windows each fold validates on."""

    name: str  # "runs" (leave-one-run-out) or "blocked"
    description: str
    folds: list[tuple[np.ndarray, np.ndarray]]  # (train index, validation index) per fold


def blocked_scheme(n_windows: int, n_folds: int = 5, block_size: int = 100) -> Scheme:
    """Blocked k-fold (:func:`training.datasets.blocked_folds`)."""
    return Scheme(
        "blocked",
        f"blocked {n_folds}-fold: contiguous blocks of {block_size} windows, "
        f"block b validated in fold b mod {n_folds}",
        blocked_folds(n_windows, n_folds, block_size),
    )


def runs_scheme(
    windows: LabelledWindows, component: str | None = None, n_folds: int | None = None
) -> Scheme:
    """Leave-one-run-out over the runs of constant condition of ``component`` (default:
    :func:`training.datasets.runs_component`), see :func:`training.datasets.run_folds`."""
    from ingestion.errors import HydroDiagError

    comp = component or runs_component(windows)
    if comp not in windows.grades:
        raise HydroDiagError(
            f"--runs-of {comp}: no such graded component; the labels grade "
            f"{', '.join(windows.grades)}."
        )
    folds = run_folds(windows.grades[comp], n_folds)
    runs = condition_runs(windows.grades[comp])
    grouped = "" if n_folds is None else f", run r validated in fold r mod {n_folds}"
    return Scheme(
        "runs",
        f"leave-one-run-out: {int(runs.max()) + 1} runs of constant {comp} condition "
        f"(maximal stretches of consecutive windows){grouped}",
        folds,
    )


def as_log_probs(output: np.ndarray) -> np.ndarray | None:
    """A grader's output as log-probabilities, or None when it gave grades only."""
    a = np.asarray(output)
    return a.astype(np.float64) if a.ndim == 2 else None


def as_grades(output: np.ndarray) -> np.ndarray:
    """A grader's output as grades, -1 where it did not grade."""
    a = np.asarray(output)
    if a.ndim == 1:
        return a.astype(np.int64)
    graded = np.isfinite(a).any(axis=1)
    return np.where(graded, np.nan_to_num(a, nan=-np.inf).argmax(axis=1), -1).astype(np.int64)


def cross_validate(
    windows: LabelledWindows,
    methods: Mapping[str, Method],
    *,
    scheme: Scheme | None = None,
    n_folds: int = 5,
    block_size: int = 100,
    folds: Sequence[int] | None = None,
    conditions: Conditions | None = None,
    reference: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method is fitted on the same training windows of each fold and grades the rest.

    Args:
        windows: labelled windows in time order.
        methods: name -> fit; its grader returns grades or log-probabilities.
        scheme: the folds; default blocked ``n_folds``-fold over blocks of ``block_size``.
        folds: run only these folds (0-based); :func:`merge_reports` joins such runs.
        conditions: altered copies of each fold's validation windows to grade as well; their
            confusion matrices go to the report's ``conditions``.
        reference: the method whose graded windows the others are also scored on under the
            conditions (a method may leave a window ungraded when a sensor it needs is
            missing; the others are then compared with it on the same windows).

    Returns:
        A JSON-ready dict: per method and component, accuracy/macro-F1/confusion over all
        validation windows of the folds run, per-fold accuracies, the wrong windows, the
        held-out log-probabilities when the method gives them (``log_probs``: ``[window id,
        fold, true grade, log p0 … log p3]``), seconds per method, and the wall time.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    scheme = scheme or blocked_scheme(windows.n_windows, n_folds, block_size)
    run = list(folds) if folds is not None else list(range(len(scheme.folds)))
    bad = [k + 1 for k in run if not 0 <= k < len(scheme.folds)]
    if bad:
        raise ValueError(f"no fold {bad} in {len(scheme.folds)} folds of {scheme.description}")
    components = list(windows.grades)
    preds = {
        m: {c: np.full(windows.n_windows, -1, dtype=np.int64) for c in components} for m in methods
    }
    log_probs: dict[str, dict[str, np.ndarray]] = {m: {} for m in methods}
    per_fold: dict[str, dict[str, list[float]]] = {m: {c: [] for c in components} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    evaluated = np.zeros(windows.n_windows, dtype=bool)
    fold_of = np.full(windows.n_windows, -1, dtype=np.int64)
    altered: dict[str, Cells] = {}
    for k in run:
        train_idx, val_idx = scheme.folds[k]
        train, val = windows.subset(train_idx), windows.subset(val_idx)
        evaluated[val_idx] = True
        fold_of[val_idx] = k + 1
        copies = dict(conditions(train, val)) if conditions is not None else {}
        graded_by: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for name, method in methods.items():
            t0 = time.perf_counter()
            grader = method(train)
            out = grader(val)
            for c in components:
                grades = as_grades(out[c])
                preds[name][c][val_idx] = grades
                lp = as_log_probs(out[c])
                if lp is not None:
                    held = log_probs[name].setdefault(
                        c, np.full((windows.n_windows, N_GRADES), np.nan)
                    )
                    held[val_idx] = lp
                known = val.grades[c] >= 0  # windows of a log need not label every component
                hits = grades[known] == val.grades[c][known]
                per_fold[name][c].append(float(hits.mean()) if known.any() else float("nan"))
            for label, copy in copies.items():
                graded_by.setdefault(label, {})[name] = {
                    c: as_grades(g) for c, g in grader(copy).items() if c in components
                }
            seconds[name] += time.perf_counter() - t0
            log(
                f"fold {k + 1}/{len(scheme.folds)} {name:>10}: "
                + "  ".join(f"{c} {100 * per_fold[name][c][-1]:.1f}" for c in components)
                + f"  ({time.perf_counter() - t0:.0f} s)"
            )
        for label, by_method in graded_by.items():
            _add_condition(altered.setdefault(label, {}), by_method, val, reference)
    results: dict[str, Any] = {}
    for name in methods:
        results[name] = {}
        for c in components:
            entry = {
                **scores(windows.grades[c][evaluated], preds[name][c][evaluated]),
                "per_fold_accuracy": per_fold[name][c],
                "errors": _errors(windows, windows.grades[c], preds[name][c], evaluated),
            }
            if c in log_probs[name]:
                entry["log_probs"] = _log_prob_rows(
                    windows, windows.grades[c], log_probs[name][c], fold_of
                )
            results[name][c] = entry
    report: dict[str, Any] = {
        "scheme": scheme.description,
        "scheme_name": scheme.name,
        "n_folds": len(scheme.folds),
        "folds_run": [k + 1 for k in run],
        "n_windows_evaluated": int(evaluated.sum()),
        "methods": results,
        "seconds": seconds,
        "wall_seconds": time.perf_counter() - started,
        # the processor time this process got: on a busy shared machine the wall time says
        # more about the neighbours than about the run
        "process_seconds": time.process_time() - cpu_started,
    }
    if altered:
        report["conditions"] = {
            label: {m: {c: cms for c, cms in comps.items()} for m, comps in by.items()}
            for label, by in _as_lists(altered).items()
        }
        report["reference_method"] = reference
    return report


def _add_condition(
    into: Cells,
    by_method: Mapping[str, Mapping[str, np.ndarray]],
    val: LabelledWindows,
    reference: str | None,
) -> None:
    """Add one fold's grades under one condition to its confusion matrices: ``own`` over the
    windows the method graded, ``on_reference`` over those the reference method graded,
    and ``windows`` (the labelled windows, graded or not)."""
    for name, comps in by_method.items():
        for c, grades in comps.items():
            truth = val.grades[c]
            labelled = truth >= 0
            ref = (
                by_method[reference][c] >= 0
                if reference is not None and reference in by_method
                else np.ones(len(truth), dtype=bool)
            )
            cell = into.setdefault(name, {}).setdefault(
                c,
                {
                    "own": np.zeros((N_GRADES, N_GRADES), np.int64),
                    "on_reference": np.zeros((N_GRADES, N_GRADES), np.int64),
                    "windows": np.zeros(1, np.int64),
                },
            )
            cell["own"] += confusion(truth, grades)
            cell["on_reference"] += confusion(np.where(ref, truth, -1), grades)
            cell["windows"] += int(labelled.sum())


def _as_lists(altered: Mapping[str, Any]) -> dict[str, Any]:
    return {
        label: {
            m: {
                c: {
                    "confusion": cell["own"].tolist(),
                    "confusion_on_reference": cell["on_reference"].tolist(),
                    "windows": int(cell["windows"][0]),
                }
                for c, cell in comps.items()
            }
            for m, comps in by.items()
        }
        for label, by in altered.items()
    }


def _log_prob_rows(
    windows: LabelledWindows, truth: np.ndarray, log_probs: np.ndarray, fold_of: np.ndarray
) -> list[list[float]]:
    """``[window id, fold, true grade, log p0 … log p3]`` of every labelled, graded validation
    window (log-probabilities rounded to 1e-4 and floored at -50: what calibration needs; the
    fold, 1-based, lets it be fitted on the other folds)."""
    rows = []
    graded = (fold_of > 0) & (truth >= 0) & np.isfinite(log_probs).any(axis=1)
    for i in np.flatnonzero(graded):
        lp = np.maximum(np.nan_to_num(log_probs[i], nan=-50.0, neginf=-50.0), -50.0)
        rows.append(
            [
                int(windows.window_ids[i]),
                int(fold_of[i]),
                int(truth[i]),
                *(round(float(v), 4) for v in lp),
            ]
        )
    return rows


def _errors(
    windows: LabelledWindows, truth: np.ndarray, pred: np.ndarray, evaluated: np.ndarray
) -> list[list[int]]:
    """``[window id, true grade, predicted grade]`` of every wrong validation window: which
    cycles a method gets wrong says more than its accuracy (runs, regimes, transitions)."""
    wrong = np.flatnonzero(evaluated & (truth >= 0) & (pred != truth))
    return [[int(windows.window_ids[i]), int(truth[i]), int(pred[i])] for i in wrong]


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report from :func:`cross_validate` runs over disjoint folds of the same data
    (``evaluate cv --only-folds``, e.g. one process per core): confusion matrices add up,
    per-fold accuracies are listed in fold order.

    Raises:
        ValueError: if the runs share a fold, or differ in scheme, methods or components.
    """
    if not reports:
        raise ValueError("no reports to merge")
    first = reports[0]
    folds = [k for r in reports for k in r["folds_run"]]
    if len(set(folds)) != len(folds):
        raise ValueError(f"the reports share folds: {sorted(folds)}")
    for r in reports[1:]:
        if r["scheme"] != first["scheme"]:
            raise ValueError(f"different schemes: {first['scheme']!r} and {r['scheme']!r}")
        if {m: list(v) for m, v in r["methods"].items()} != {
            m: list(v) for m, v in first["methods"].items()
        }:
            raise ValueError("the reports score different methods or components")
    order = sorted(range(len(folds)), key=folds.__getitem__)
    methods: dict[str, Any] = {}
    for name, comps in first["methods"].items():
        methods[name] = {}
        for c in comps:
            cm = sum(np.asarray(r["methods"][name][c]["confusion"]) for r in reports)
            fold_acc = [a for r in reports for a in r["methods"][name][c]["per_fold_accuracy"]]
            methods[name][c] = {
                **confusion_scores(np.asarray(cm)),
                "per_fold_accuracy": [fold_acc[i] for i in order],
            }
            for key in ("errors", "log_probs"):
                if all(key in r["methods"][name][c] for r in reports):
                    methods[name][c][key] = sorted(
                        e for r in reports for e in r["methods"][name][c][key]
                    )
    merged = {k: v for k, v in first.items() if k not in ("methods", "seconds", "conditions")}
    merged.update(
        folds_run=sorted(folds),
        n_windows_evaluated=sum(int(r["n_windows_evaluated"]) for r in reports),
        methods=methods,
        seconds={m: sum(r["seconds"][m] for r in reports) for m in first["seconds"]},
    )
    if "wall_seconds" in first:
        # processes side by side: the merged run took as long as its slowest part
        merged["wall_seconds"] = max(float(r.get("wall_seconds", 0.0)) for r in reports)
        merged["cpu_process_seconds"] = sum(float(r.get("wall_seconds", 0.0)) for r in reports)
    if all("process_seconds" in r for r in reports):
        merged["process_seconds"] = [float(r["process_seconds"]) for r in reports]
    if all("conditions" in r for r in reports):
        merged["conditions"] = _merge_conditions([r["conditions"] for r in reports])
    if all("command" in r for r in reports):
        merged["command"] = " && ".join(r["command"] for r in reports)
    return merged


def _merge_conditions(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``conditions`` of several runs: confusion matrices and window counts add up."""
    if any(set(p) != set(parts[0]) for p in parts):
        raise ValueError("the reports graded different conditions")
    out: dict[str, Any] = {}
    for label, by in parts[0].items():
        out[label] = {}
        for m, comps in by.items():
            out[label][m] = {}
            for c in comps:
                cells = [p[label][m][c] for p in parts]
                out[label][m][c] = {
                    "confusion": np.sum([x["confusion"] for x in cells], axis=0).tolist(),
                    "confusion_on_reference": np.sum(
                        [x["confusion_on_reference"] for x in cells], axis=0
                    ).tolist(),
                    "windows": sum(int(x["windows"]) for x in cells),
                }
    return out


def table(report: Mapping[str, Any]) -> str:
    """Target × method accuracy table (percent) of a :func:`cross_validate` report."""
    methods = list(report["methods"])
    components = list(next(iter(report["methods"].values())))
    width = max(12, *(len(m) + 2 for m in methods))
    lines = ["component".ljust(12) + "".join(m.rjust(width) for m in methods)]
    for c in components:
        lines.append(
            c.ljust(12)
            + "".join(
                f"{100 * report['methods'][m][c]['accuracy']:.2f}".rjust(width) for m in methods
            )
        )
    return "\n".join(lines)


def evaluate_onnx(
    model_path: Path,
    windows: LabelledWindows,
    *,
    provider: str = "cuda",
    batch_size: int = 128,
    pool: Sequence[int] = (),
) -> dict[str, Any]:
    """Run an exported model over labelled windows with ONNX Runtime and score every graded node.

    With ``pool``, each component is also scored as diagnoses over that many consecutive
    windows (ids one apart, one true grade) would grade it: the most likely grade of their
    mean probability (``pooled``; ``training.calibration.pooled_accuracy``)."""
    from gnn.graph import build_inputs
    from gnn.runtime import load_model
    from training.calibration import HeldOut, pooled_accuracy

    model = load_model(model_path, provider=provider)  # type: ignore[arg-type]
    spec = model.graph_spec
    t0 = time.perf_counter()
    x, mask = build_inputs(spec, windows.values)
    out = model.run(x, mask, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    components: dict[str, Any] = {}
    for c in model.graded_components:
        if c not in windows.grades:
            continue
        j = spec.node_ids.index(c)
        pred = out.grade_probs[:, j].argmax(-1).astype(np.int64)
        every = np.ones(windows.n_windows, dtype=bool)
        components[c] = {
            **scores(windows.grades[c], pred),
            "errors": _errors(windows, windows.grades[c], pred, every),
        }
        if pool:
            probs = out.grade_probs[:, j].astype(np.float64)
            known = windows.grades[c] >= 0
            held = HeldOut(
                windows.window_ids[known],
                np.ones(int(known.sum()), dtype=np.int64),
                windows.grades[c][known],
                np.log(np.maximum(probs[known], 1e-30)),
            )
            components[c]["pooled"] = {str(n): pooled_accuracy(held, probs[known], n) for n in pool}
    return {
        "model": str(model_path),
        "model_id": model.model_id,
        "model_version": model.model_version,
        "provider_requested": provider,
        "provider": model.provider,
        "provider_note": model.provider_note,
        "n_windows": windows.n_windows,
        "seconds": seconds,
        "components": components,
    }
