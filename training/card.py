"""Model cards: what a model was trained on, how, and how well it does — JSON and Markdown."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gnn.graph import profile_sha256
from training.datasets import LabelledWindows
from training.train import TrainResult


def build_card(
    result: TrainResult,
    windows: LabelledWindows,
    *,
    model_id: str,
    model_version: str,
    command: str,
    cv_report: Mapping[str, Any] | None = None,
    other_reports: Sequence[Mapping[str, Any]] = (),
    calibration: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The card of a trained model. ``cv_report`` is the validation the card leads with (and
    its targets and baselines verdicts); ``other_reports`` are shown beside it (the blocked
    cross-validation beside leave-one-run-out); ``calibration`` is
    ``training.calibration.calibration_section`` of the validation the grade probabilities
    were calibrated on."""
    spec = result.spec
    metrics: dict[str, Any] = {}
    for report in [*([cv_report] if cv_report is not None else []), *other_reports]:
        metrics.update(validation_metrics(report))
    if calibration:
        # the expected calibration error of the shown grade's probability on new runs
        metrics["calibration_ece"] = {
            c: v["calibrated"]["ece"] for c, v in calibration["components"].items()
        }
    last = result.history[result.best_epoch - 1] if result.history else None
    if last is not None and last.val_accuracy:
        metrics["early_stopping_validation"] = dict(last.val_accuracy)
    return {
        "card_version": 1,
        "model_id": model_id,
        "model_version": model_version,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": "GATv2 (per time step, edge-type embeddings) x L + LSTM per node; "
        "heads: condition grade, fault types, one-step forecast"
        + (
            "; closed-form linear discriminants of graph neighbourhoods' Fourier moments "
            "grade components without sensors (and add to the neural grade of the others "
            "when configured)"
            if result.discriminants
            else ""
        ),
        "hparams": result.model.hparams(),
        "profile": {"id": spec.profile_id, "sha256": profile_sha256(spec)},
        # what the engine cuts continuous logs into for this model (gnn.engine reads it)
        "window": {
            "kind": "cycle" if windows.stride_s is None else "sliding",
            "rate_hz": windows.rate_hz,
            "length_s": windows.length / windows.rate_hz,
            "stride_s": windows.stride_s,
        },
        "graded_components": list(result.graded_components),
        "fault_types": list(result.fault_types),
        "data": {
            "sources": [s.__dict__ for s in windows.sources],
            "windows": windows.n_windows,
            "window_length": windows.length,
            "first_window_id": int(windows.window_ids.min()) if windows.n_windows else None,
            "last_window_id": int(windows.window_ids.max()) if windows.n_windows else None,
            "train_windows": result.n_train,
            "early_stopping_windows": result.n_val,
            "split": (
                f"early stopping on {result.n_val} windows in whole blocks of 100"
                if result.n_val
                else f"all {result.n_train} windows trained on for a fixed number of epochs "
                "(chosen by blocked cross-validation)"
            ),
        },
        "training": {
            "command": command,
            "config": result.config.model_dump(),
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "seconds": round(result.seconds, 1),
            "hardware": result.hardware,
            "history": [
                {
                    "epoch": r.epoch,
                    "train_loss": round(r.train_loss, 5),
                    "val_loss": None if r.val_loss is None else round(r.val_loss, 5),
                }
                for r in result.history
            ],
        },
        "metrics": metrics,
        "cross_validation": _compact(cv_report) if cv_report is not None else None,
        "other_validations": [_compact(r) for r in other_reports],
        "calibration": dict(calibration) if calibration else None,
        "normalisation_mode": spec.normalisation,
        "normalisation": {
            s.id: {"mean": s.mean, "std": s.std}
            | (
                {"phase_mean": list(s.phase_mean), "phase_std": list(s.phase_std)}
                if s.phase_mean is not None and s.phase_std is not None
                else {}
            )
            for s in spec.sensors
        },
        "forecast_error_reference": result.forecast_reference,
        "discriminants": [
            {
                "component": d.component,
                "neighbourhood": list(d.neighbourhood),
                "features": d.features,
                "grades": list(d.grades),
                "train_accuracy": round(d.train_accuracy, 4),
                "combined": d.combined,
                "scale": d.scale,
                "temperature": round(d.temperature, 4),
                "held_out_accuracy": None
                if d.held_out_accuracy != d.held_out_accuracy  # NaN: too few blocks
                else round(d.held_out_accuracy, 4),
                "radius": d.radius,
                "radius_scores": {str(r): round(v, 4) for r, v in d.radius_scores.items()},
                "held_out_without": {s: round(a, 4) for s, a in d.held_out_without.items()},
            }
            for d in result.discriminants
        ],
        # with a cross-validation, the verdicts against targets and baselines come first, as
        # attach_cross_validation writes them
        "notes": (target_notes(cv_report) if cv_report is not None else []) + list(notes or []),
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    lines = [
        f"# Model card: {card['model_id']} {card['model_version']}",
        "",
        f"- Architecture: {card['architecture']}",
        f"- Profile: `{card['profile']['id']}` (graph sha256 `{card['profile']['sha256'][:16]}…`)",
        f"- Graded components: {', '.join(card['graded_components'])}",
        f"- Fault types: {', '.join(card['fault_types'])}",
        f"- Created: {card['created_utc']}",
        "",
        "## Data",
        "",
    ]
    data = card["data"]
    for s in data["sources"]:
        lines.append(f"- {s['kind']}: `{s['path']}` — {s['detail']}, sha256 `{s['sha256']}`")
    lines += [
        f"- Windows: {data['windows']} × {data['window_length']} samples "
        f"(ids {data['first_window_id']}–{data['last_window_id']})"
        + _window_line(card.get("window")),
        f"- Split: {data['split']}",
        "",
        "## Training",
        "",
        f"- Command: `{card['training']['command']}`",
        f"- Epochs run: {card['training']['epochs_run']} (kept: {card['training']['best_epoch']})",
        f"- Time: {card['training']['seconds']:.0f} s on {card['training']['hardware']['processor']} "
        f"({card['training']['hardware']['threads']} torch "
        f"thread{'' if card['training']['hardware']['threads'] == 1 else 's'}, "
        f"device {card['training']['hardware']['device']})",
        f"- Config: `{json.dumps(card['training']['config'])}`",
        "",
    ]
    of_what = (
        "Fourier moments of the signals and of their absolute step-to-step changes"
        if card["training"]["config"].get("discriminant_variation")
        else "Fourier moments"
    )
    for d in card.get("discriminants", []):
        ordinal = d.get("scale") == "ordinal"
        how = (
            "neural head + linear discriminant (logits added)"
            if d.get("combined")
            else f"{'ordinal' if ordinal else 'linear'} discriminant (no sensors of its own)"
        )
        fitted = (
            "a least-squares severity score, nearest grade mean on it"
            if ordinal
            else "pooled within-class covariance"
        )
        chosen = d.get("radius_scores") or {}
        radius = (
            f" ({d['radius']} hop{'s' if d['radius'] != 1 else ''}, chosen by leave-one-run-out "
            "inside the training windows: "
            + ", ".join(
                f"{r} hop{'s' if str(r) != '1' else ''} {100 * v:.1f} %" for r, v in chosen.items()
            )
            + ")"
            if chosen
            else ""
        )
        lines += [
            f"- Grade of {d['component']}: {how}; the discriminant ({fitted}, fitted in closed "
            f"form after training) reads {d['features']} {of_what} of "
            f"{', '.join(d['neighbourhood'])}{radius}; its training accuracy "
            f"{100 * d['train_accuracy']:.1f} %"
            + (
                f", {100 * d['held_out_accuracy']:.1f} % on held-out training blocks; logits "
                f"divided by {d['temperature']:.3g} (temperature fitted on those blocks)"
                if d.get("held_out_accuracy") is not None
                else ""
            ),
        ]
    if card.get("discriminants"):
        lines.append("")
    lines += _held_out_lines(card)
    reports = [r for r in [card.get("cross_validation"), *card.get("other_validations", [])] if r]
    for report in reports:
        lines += _validation_lines(report)
    if card.get("calibration"):
        lines += _calibration_lines(card["calibration"])
    mode = card.get("normalisation_mode", "global")
    lines += ["## Input normalisation (per sensor)", ""]
    if mode != "global":
        lines += [
            f"Mode `{mode}`: per sensor and time step of the cycle (mean/std tables of the "
            "training cycles in card.json and the model metadata; windows of another length "
            "use the global statistics below).",
            "",
        ]
    lines += ["| sensor | mean | std |", "|---|---|---|"]
    for sid, st in card["normalisation"].items():
        lines.append(f"| {sid} | {st['mean']:.4g} | {st['std']:.4g} |")
    lines += _dependence_lines(card.get("sensor_dependence"))
    if card.get("notes"):
        lines += ["", "## Notes and weaknesses", ""]
        lines += [f"- {n}" for n in card["notes"]]
    return "\n".join(lines) + "\n"


def write_card(out_dir: Path, card: Mapping[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "card.json").write_text(json.dumps(card, indent=2, default=float), encoding="utf-8")
    (out_dir / "card.md").write_text(card_markdown(card), encoding="utf-8")


# Acceptance targets of the reference rig (grade accuracy on blocked cross-validation).
TARGETS: dict[str, float] = {"C1": 0.995, "V10": 0.995, "MP1": 0.995, "ACC": 0.97}


def target_notes(cv_report: Mapping[str, Any], model_method: str = "gnn") -> list[str]:
    """Sentences saying, per component, whether the model met its target and beat the baselines."""
    methods = cv_report["methods"]
    if model_method not in methods:
        return []
    notes = []
    for c, res in methods[model_method].items():
        acc = res["accuracy"]
        target = TARGETS.get(c)
        what = (
            "new-run accuracy" if cv_report.get("scheme_name") == "runs" else "blocked-CV accuracy"
        )
        parts = [f"{c}: {what} {100 * acc:.2f} %"]
        if target is not None:
            gap = 100 * (target - acc)
            parts.append(
                f"meets the {100 * target:.1f} % target"
                if gap <= 0
                else f"MISSES the {100 * target:.1f} % target by {gap:.2f} pp"
            )
        for other, ores in methods.items():
            if other == model_method:
                continue
            diff = 100 * (acc - ores[c]["accuracy"])
            verdict = "beats" if diff > 0 else ("ties" if diff == 0 else "LOSES to")
            parts.append(f"{verdict} {other} ({100 * ores[c]['accuracy']:.2f} %, {diff:+.2f} pp)")
        notes.append("; ".join(parts))
    return notes


def attach_cross_validation(
    model_dir: Path, cv_report: Mapping[str, Any], extra_notes: list[str] | None = None
) -> dict[str, Any]:
    """Put a cross-validation report (and target/baseline verdicts) into an existing card.

    A report of the scheme the card leads with (or the first one) becomes its lead, with the
    verdicts; one of another scheme goes beside it, replacing an earlier one of that scheme.
    """
    card: dict[str, Any] = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    lead = card.get("cross_validation")
    scheme = cv_report.get("scheme_name", "blocked")
    others = [
        r for r in card.get("other_validations", []) if r.get("scheme_name", "blocked") != scheme
    ]
    card.setdefault("metrics", {}).update(validation_metrics(cv_report))
    if lead is None or lead.get("scheme_name", "blocked") == scheme:
        card["cross_validation"] = _compact(cv_report)
        notes = [
            n for n in card.get("notes", []) if not n.startswith(("C1:", "V10:", "MP1:", "ACC:"))
        ]
        card["notes"] = target_notes(cv_report) + notes + list(extra_notes or [])
    else:
        others.append(_compact(cv_report))
        card["notes"] = list(card.get("notes", [])) + list(extra_notes or [])
    card["other_validations"] = others
    write_card(model_dir, card)
    return card


def _window_line(window: Mapping[str, Any] | None) -> str:
    """How the windows were cut, for the Markdown card (older cards have no entry)."""
    if not window:
        return ""
    how = (
        "one per load cycle"
        if window["kind"] == "cycle"
        else f"sliding, every {window['stride_s']:g} s"
    )
    return f", {window['length_s']:g} s at {window['rate_hz']:g} Hz, {how}"


def _dependence_lines(dependence: Mapping[str, Any] | None) -> list[str]:
    """The sensors each grade needs (older cards have no entry)."""
    if not dependence:
        return []
    lines = ["", "## Sensors each grade needs", "", f"{dependence['what'].capitalize()}.", ""]
    lines += ["| component | all sensors | needs (accuracy without it) |", "|---|---|---|"]
    for comp, row in dependence["accuracy"].items():
        needs = dependence["required"].get(comp, {})
        listed = ", ".join(f"{s} ({100 * a:.0f} %)" for s, a in needs.items()) or "—"
        lines.append(f"| {comp} | {100 * row['all']:.1f} % | {listed} |")
    return lines


def _held_out_lines(card: Mapping[str, Any]) -> list[str]:
    """What the card can say about new data: early-stopping blocks, or that it has nothing.

    The blocked cross-validation, when attached, follows as its own section.
    """
    metrics = card.get("metrics") or {}
    if card.get("cross_validation"):
        return []
    if metrics.get("early_stopping_validation"):
        held = ", ".join(
            f"{c} {100 * a:.1f} %" for c, a in metrics["early_stopping_validation"].items()
        )
        return [
            "## Held-out evaluation",
            "",
            f"Grade accuracy on the held-out early-stopping blocks (best epoch): {held}. No "
            "blocked cross-validation or baselines: train with `--cv 5`, or run `hydrodiag "
            "evaluate cv ... --attach-to` this folder.",
            "",
        ]
    return [
        "## Held-out evaluation",
        "",
        "None: the model was trained on all its windows and not cross-validated, so nothing "
        "here says how it does on new data. Train with `--cv 5` (blocked cross-validation "
        "of this configuration and the LDA baselines first), or run `hydrodiag evaluate cv "
        "... --attach-to` this folder.",
        "",
    ]


def validation_metrics(report: Mapping[str, Any], method: str = "gnn") -> dict[str, Any]:
    """``{"runs_cv" | "blocked_cv": {component: {accuracy, macro_f1}}}`` of a report (reports
    from before leave-one-run-out existed are blocked)."""
    key = "runs_cv" if report.get("scheme_name") == "runs" else "blocked_cv"
    model = report["methods"].get(method, {})
    return {
        key: {c: {"accuracy": v["accuracy"], "macro_f1": v["macro_f1"]} for c, v in model.items()}
    }


def _compact(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report as the card keeps it: without the held-out log-probabilities, and with the
    robustness summary instead of a confusion matrix per altered copy (both stay in the
    report's own JSON beside the model; the card would grow by megabytes)."""
    out = {k: v for k, v in report.items() if k != "conditions"}
    if report.get("conditions"):
        from training.robustness import summarise

        out["robustness"] = summarise(report)  # the confusions per copy stay in the report
    out["methods"] = {
        m: {c: {k: v for k, v in r.items() if k != "log_probs"} for c, r in comps.items()}
        for m, comps in report["methods"].items()
    }
    return out


def _scheme_title(report: Mapping[str, Any]) -> str:
    return (
        "Validation on new runs (leave-one-run-out)"
        if report.get("scheme_name") == "runs"
        else "Blocked cross-validation"
    )


def _validation_lines(cv: Mapping[str, Any]) -> list[str]:
    """A validation report's section: accuracy of the model and the baselines, macro-F1,
    confusion matrices, and — when it graded altered copies — the robustness table."""
    methods = list(cv["methods"])
    comps = list(cv["methods"][methods[0]])
    wall = cv.get("wall_seconds")
    lines = [
        f"## {_scheme_title(cv)} (grade accuracy, %)",
        "",
        f"Scheme: {cv['scheme']}; folds run: {cv['folds_run']}; "
        f"{cv['n_windows_evaluated']} windows scored"
        + (f"; {wall / 60:.1f} min" if wall else "")
        + ".",
        "",
        "| component | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for c in comps:
        lines.append(
            f"| {c} | "
            + " | ".join(f"{100 * cv['methods'][m][c]['accuracy']:.2f}" for m in methods)
            + " |"
        )
    lines += [
        "",
        "Macro-F1 (model): "
        + ", ".join(f"{c} {cv['methods'][methods[0]][c]['macro_f1']:.3f}" for c in comps),
        "",
        "Per fold (model, %): "
        + "; ".join(
            f"{c} "
            + " / ".join(
                f"{100 * a:.1f}" for a in cv["methods"][methods[0]][c]["per_fold_accuracy"]
            )
            for c in comps
        ),
        "",
        "Confusion matrices (model; rows true grade 0–3, columns predicted):",
        "",
    ]
    for c in comps:
        lines.append(f"- {c}: `{cv['methods'][methods[0]][c]['confusion']}`")
    lines.append("")
    if cv.get("robustness") or cv.get("conditions"):
        from training.robustness import summarise

        summary = cv.get("robustness") or summarise(cv)
        lines += [
            "Robustness on the same folds: clean; with one sensor offset by ±1 % of its spread "
            "(the worst of the 2 × 17 copies); with data missing (the worst of the cases of "
            "`bench_missing_data.py`: samples at random, outages, each sensor missing). A "
            "method may leave a window ungraded when a sensor it needs is missing (the model "
            "does, as the engine does); the others are scored on the windows it graded.",
            "",
            "| component | method | clean | worst offset | worst missing data (share graded) |",
            "|---|---|---|---|---|",
        ]
        for c in comps:
            for m in methods:
                row = summary[m][c]
                off = row.get("offset_worst")
                miss = row.get("missing_worst")
                lines.append(
                    f"| {c} | {m} | {100 * row['clean']:.2f} | "
                    + (f"{100 * off['accuracy']:.2f} ({off['copy']})" if off else "—")
                    + " | "
                    + (
                        f"{100 * miss['accuracy']:.2f} ({miss['case']}, "
                        f"{100 * miss['graded']:.0f} %)"
                        if miss
                        else "—"
                    )
                    + " |"
                )
        lines.append("")
    return lines


def _calibration_lines(section: Mapping[str, Any]) -> list[str]:
    """The card's confidence section: temperatures, ECE before and after, the reliability
    table and diagram, grade ranges, and diagnoses pooled over consecutive windows."""
    lines = [
        "## Confidence (calibration on new runs)",
        "",
        f"Grade probabilities are temperature-scaled per component on the held-out windows of "
        f"{section['scheme']}. Expected calibration error (ECE) of the shown grade's "
        "probability: uncalibrated, and calibrated with the temperature fitted on the other "
        "folds only (each fold's windows never enter their own temperature). Grade ranges: "
        f"the smallest run of adjacent grades holding {100 * section['range_level']:.0f} % of "
        'the calibrated probability ("grade 0–1" where one grade is not enough).',
        "",
        "![reliability diagram](reliability.png)",
        "",
        "| component | temperature | ECE uncalibrated | ECE calibrated | range holds the "
        "true grade | ranges of 2+ grades | diagnosis over 10 / 30 windows |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, v in section["components"].items():
        pooled = v.get("pooled_accuracy", {})
        lines.append(
            f"| {c} | {v['temperature']:.3g} | {100 * v['uncalibrated']['ece']:.2f} % | "
            f"{100 * v['calibrated']['ece']:.2f} % | "
            f"{100 * v['grade_ranges']['coverage']:.1f} % | "
            f"{100 * v['grade_ranges']['wider_than_one']:.1f} % | "
            + " / ".join(
                f"{100 * pooled[k]:.1f} %" if pooled.get(k) == pooled.get(k) else "—"
                for k in ("10", "30")
            )
            + " |"
        )
    lines += ["", "Reliability table (calibrated; windows, mean probability, share right):", ""]
    for c, v in section["components"].items():
        cells = [
            f"{b['low']:.1f}–{b['high']:.1f}: {b['n']}, {b['confidence']:.3f}, {b['accuracy']:.3f}"
            for b in v["calibrated"]["bins"]
            if b["n"]
        ]
        lines.append(f"- {c}: " + "; ".join(cells))
    lines.append("")
    return lines
