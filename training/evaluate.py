"""Honest evaluation: blocked cross-validation of the model and the baselines on the same folds,
and scoring of an exported ONNX model on any UCI-layout folder through ONNX Runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets import LabelledWindows, blocked_folds

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


Predictor = Callable[[LabelledWindows, LabelledWindows], dict[str, np.ndarray]]


def cross_validate(
    windows: LabelledWindows,
    methods: Mapping[str, Predictor],
    *,
    n_folds: int = 5,
    block_size: int = 100,
    folds: Sequence[int] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Blocked k-fold: every method is fitted on the same training blocks, scored on the rest.

    Returns a JSON-ready dict: per method and component, accuracy/macro-F1/confusion over all
    validation windows of the folds run, per-fold accuracies, and seconds per method.
    """
    splits = blocked_folds(windows.n_windows, n_folds, block_size)
    run = list(folds) if folds is not None else list(range(n_folds))
    components = list(windows.grades)
    preds = {
        m: {c: np.full(windows.n_windows, -1, dtype=np.int64) for c in components} for m in methods
    }
    per_fold: dict[str, dict[str, list[float]]] = {m: {c: [] for c in components} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    evaluated = np.zeros(windows.n_windows, dtype=bool)
    for k in run:
        train_idx, val_idx = splits[k]
        train, val = windows.subset(train_idx), windows.subset(val_idx)
        evaluated[val_idx] = True
        for name, method in methods.items():
            t0 = time.perf_counter()
            fold_pred = method(train, val)
            seconds[name] += time.perf_counter() - t0
            for c in components:
                preds[name][c][val_idx] = fold_pred[c]
                known = val.grades[c] >= 0  # windows of a log need not label every component
                hits = fold_pred[c][known] == val.grades[c][known]
                acc = float(hits.mean()) if known.any() else float("nan")
                per_fold[name][c].append(acc)
            log(
                f"fold {k + 1}/{n_folds} {name:>10}: "
                + "  ".join(f"{c} {100 * per_fold[name][c][-1]:.1f}" for c in components)
                + f"  ({time.perf_counter() - t0:.0f} s)"
            )
    results: dict[str, Any] = {}
    for name in methods:
        results[name] = {
            c: {
                **scores(windows.grades[c][evaluated], preds[name][c][evaluated]),
                "per_fold_accuracy": per_fold[name][c],
                "errors": _errors(windows, windows.grades[c], preds[name][c], evaluated),
            }
            for c in components
        }
    return {
        "scheme": f"blocked {n_folds}-fold: contiguous blocks of {block_size} windows, "
        f"block b validated in fold b mod {n_folds}",
        "folds_run": [k + 1 for k in run],
        "n_windows_evaluated": int(evaluated.sum()),
        "methods": results,
        "seconds": seconds,
    }


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
            if all("errors" in r["methods"][name][c] for r in reports):
                methods[name][c]["errors"] = sorted(
                    e for r in reports for e in r["methods"][name][c]["errors"]
                )
    merged = {k: v for k, v in first.items() if k not in ("methods", "seconds")}
    merged.update(
        folds_run=sorted(folds),
        n_windows_evaluated=sum(int(r["n_windows_evaluated"]) for r in reports),
        methods=methods,
        seconds={m: sum(r["seconds"][m] for r in reports) for m in first["seconds"]},
    )
    if all("command" in r for r in reports):
        merged["command"] = " && ".join(r["command"] for r in reports)
    return merged


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
) -> dict[str, Any]:
    """Run an exported model over labelled windows with ONNX Runtime and score every graded node."""
    from gnn.graph import build_inputs
    from gnn.runtime import load_model

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
