"""The card of a learned normal (:mod:`training.normal`): what it was fitted on, how, and its
calibration, as JSON and Markdown."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from gnn.anomaly import AnomalyCalibration
from gnn.graph import GraphSpec, profile_sha256
from ingestion.profiles import EquipmentProfile
from training.normal_calibration import WindowChoice
from training.normal_data import FitData, present_samples

if TYPE_CHECKING:
    from training.normal import FitEpoch, FitOptions, FitSelection


def fitted_text(spans: Sequence[tuple[datetime, datetime]]) -> str:
    parts = [f"{a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M} UTC" for a, b in spans[:3]]
    return ", ".join(parts) + (f" and {len(spans) - 3} more" if len(spans) > 3 else "")


def _data_digest(data: FitData) -> str:
    """sha256 of the samples the fit read (float32, in sensor and time order)."""
    digest = hashlib.sha256()
    for s in data.stretches:
        digest.update(s.series.start.isoformat().encode())
        for k in sorted(s.series.values):
            digest.update(k.encode())
            digest.update(np.ascontiguousarray(s.series.values[k]).tobytes())
    return digest.hexdigest()


def normal_card(
    *,
    equipment_id: str,
    profile: EquipmentProfile,
    spec: GraphSpec,
    model_id: str,
    model_version: str,
    selection: FitSelection,
    options: FitOptions,
    data: FitData,
    choice: WindowChoice,
    calibration: AnomalyCalibration,
    figures: dict[str, Any],
    history: Sequence[FitEpoch],
    stopped: str,
    hardware: dict[str, Any],
    parity: float,
    linear_only: dict[str, float] | None,
    n_windows: int,
    seconds: float,
) -> dict[str, Any]:
    rate = options.rate_hz
    # samples with data: gaps and left-out labelled faults do not count
    train_samples = sum(present_samples(s.series, 0, s.split, data.masked) for s in data.stretches)
    held_samples = sum(
        present_samples(s.series, s.split, s.series.length, data.masked) for s in data.stretches
    )
    last_val = next((h.val_loss for h in reversed(history) if h.val_loss is not None), None)
    metrics: dict[str, Any] = {"held_out": figures}
    if linear_only is not None:
        metrics["held_out"]["linear_part_mse"] = round(linear_only["linear_part_mse"], 6)
    if last_val is not None:
        metrics["held_out"]["final_val_loss"] = round(last_val, 6)
    return {
        "card_version": 1,
        "kind": "anomaly",
        "model_id": model_id,
        "model_version": model_version,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "equipment_id": equipment_id,
        "profile_id": profile.id,
        "profile_sha256": profile_sha256(spec),
        "architecture": "learned normal: every sensor predicted one step ahead from its own "
        "past and its graph neighbours' present and past values — a closed-form linear part "
        "plus a temporal GNN (GATv2 over the component graph per step, LSTM per node, a GATv2 "
        "layer over the neighbours' present values); anomaly score = whitened prediction "
        "error, smoothed, against thresholds calibrated on held-out normal data",
        "grades": "nothing: components are healthy / warning / critical from their calibrated "
        "anomaly score; components without sensors are not assessed",
        "data": {
            "selection": selection.describe(),
            "ranges": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in data.spans],
            "digest": _data_digest(data),
            "digest_of": "the samples read (float32 per sensor at the model's rate), sha256",
            "rate_hz": rate,
            "train_samples": int(train_samples),
            "held_out_samples": int(held_samples),
            "train_windows": int(n_windows),
            "excluded": list(data.excluded),
            "masked_sensors": list(data.masked),
            "warnings": list(data.warnings),
        },
        "window": {
            "kind": "sliding",
            "rate_hz": rate,
            "length_s": calibration.window / rate,
            "stride_s": calibration.stride / rate,
            "train_stride_s": (
                max(1, round(options.stride_s * rate))
                if options.stride_s
                else max(1, calibration.window // 4)
            )
            / rate,
            "how": choice.how,
        },
        "hyperparameters": options.model_dump(mode="json"),
        "calibration": {
            "budget": calibration.budget,
            "margin": calibration.margin,
            "smoothing_samples": calibration.smoothing,
            "debounce_samples": calibration.debounce,
            "thresholds": calibration.thresholds,
            "learned_ranges": {k: list(v) for k, v in calibration.ranges.items()},
        },
        "metrics": metrics,
        "training": {
            "seconds": round(seconds, 2),
            "epochs_run": len(history),
            "stopped": stopped,
            "history": [h.__dict__ for h in history],
            "hardware": hardware,
            "onnx_parity_max_abs_diff": parity,
        },
        "notes": [
            "Learned without labels from data said to be normal: it flags what differs from "
            "that data, whatever the cause; it names no fault type.",
            f"Thresholds are the {100 * (1 - calibration.budget):g} % quantile of the score on "
            f"the last {options.holdout:.0%} of the fit stretch (never on labels), times "
            f"{calibration.margin:g} for what lies beyond it.",
        ],
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card of a fitted model in words (card.md)."""
    data, window, cal = card["data"], card["window"], card["calibration"]
    lines = [
        f"# {card['model_id']} {card['model_version']} — learned normal of {card['equipment_id']}",
        "",
        f"Profile `{card['profile_id']}` (graph sha256 {card['profile_sha256'][:12]}…), created "
        f"{card['created_utc']}.",
        "",
        card["architecture"] + ".",
        "",
        "## Data",
        f"- {data['selection']}: {data['train_samples']:,} samples to train on, "
        f"{data['held_out_samples']:,} held out to calibrate, at {data['rate_hz']:g} Hz",
        f"- digest {data['digest'][:16]}… ({data['digest_of']})",
        *(f"- left out: {e}" for e in data["excluded"]),
        *(f"- warning: {w}" for w in data["warnings"]),
        "",
        "## Window and calibration",
        f"- window {window['length_s']:g} s ({window['how']}), diagnosis stride "
        f"{window['stride_s']:g} s",
        f"- false-alarm budget {100 * cal['budget']:g} % on held-out normal data, margin "
        f"×{cal['margin']:g}; smoothing {cal['smoothing_samples']} samples, debounce "
        f"{cal['debounce_samples']} samples",
        "",
        "## Training",
        f"- {card['training']['epochs_run']} epochs ({card['training']['stopped']}), "
        f"{card['training']['seconds']:.1f} s on {card['training']['hardware'].get('device')}",
        f"- ONNX parity {card['training']['onnx_parity_max_abs_diff']:.1e}",
        "",
        "## Notes",
        *(f"- {n}" for n in card["notes"]),
        "",
    ]
    return "\n".join(lines)
