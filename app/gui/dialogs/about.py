"""AboutDialog: app, model and ONNX Runtime versions and the inference providers available."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import __version__


def _dist_version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def ort_providers() -> list[str]:
    """Execution providers ONNX Runtime offers here (imports onnxruntime, never torch)."""
    try:
        import onnxruntime as ort

        return list(ort.get_available_providers())
    except Exception:  # an ORT that fails to load must not break the About box
        return []


def _model_file() -> str:
    from gnn.graph import default_model_path

    path = default_model_path()
    return f"{path}" if path.exists() else f"{path} (missing: train and export one)"


def _default_model() -> str:
    """The installed default model by its card: id, version and its grade accuracy on new
    runs (leave-one-run-out; blocked CV for a card from before it) — what an engineer should
    know before trusting a grade (reads card.json, not the model)."""
    from gnn.graph import default_model_path
    from gnn.runtime import read_model_card

    model = default_model_path()
    card = read_model_card(model)
    if card is None or "model_id" not in card or "model_version" not in card:
        return f"no readable model card beside {model}"
    text = f"{card['model_id']} {card['model_version']}"
    metrics = card.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    key, what = (
        ("runs_cv", "grade accuracy on new runs (leave-one-run-out)")
        if "runs_cv" in metrics
        else ("blocked_cv", "blocked-CV grade accuracy")
    )
    cv = metrics.get(key, {})
    scores = ", ".join(f"{c} {100 * v['accuracy']:.1f} %" for c, v in cv.items() if "accuracy" in v)
    return f"{text} — {what} {scores}" if scores else text


def about_facts(model_text: str = "", provider: str = "") -> list[tuple[str, str]]:
    from gnn.gpu import cuda_status

    providers = ort_providers()
    status = cuda_status()
    return [
        ("HydroDiag", __version__),
        ("Default model", _default_model()),
        ("Model of this diagnosis", model_text or "none run yet"),
        ("Model file", _model_file()),
        ("Last inference provider", provider or "—"),
        ("ONNX Runtime", _dist_version("onnxruntime-gpu", "onnxruntime")),
        ("Providers available", ", ".join(providers) or "none"),
        ("GPU inference", "possible: " + status.reason if status.usable else status.reason),
        ("Qt / PySide6", pyside_version),
        ("pyqtgraph", _dist_version("pyqtgraph")),
        ("DuckDB", _dist_version("duckdb")),
        ("Python", f"{platform.python_version()} on {platform.system()} {platform.machine()}"),
    ]


class AboutDialog(QDialog):
    def __init__(
        self, parent: QWidget | None = None, *, model_text: str = "", provider: str = ""
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About HydroDiag")
        self.facts = about_facts(model_text, provider)
        rows = "".join(
            f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in self.facts
        )
        label = QLabel(
            "<h3>HydroDiag</h3><p>Offline diagnosis of hydraulic equipment: a temporal graph "
            "neural network (GATv2 + LSTM) run through ONNX Runtime.</p>"
            f"<table>{rows}</table>"
        )
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)
