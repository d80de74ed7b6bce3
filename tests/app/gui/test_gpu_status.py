"""Never a silent fallback from the GPU: the headline and the About box say why inference runs on
the CPU, naming the missing piece (simulated here: this machine has no NVIDIA GPU)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.sample import SampleWorkspace
from app.gui.dialogs.about import AboutDialog
from app.gui.views.diagnosis_summary import DiagnosisSummaryBar
from gnn.gpu import SIMULATE_MISSING_ENV, cuda_status
from gnn.persist import load_diagnosis
from ingestion.workspace import open_workspace


@pytest.fixture
def missing_cudnn(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(SIMULATE_MISSING_ENV, "cudnn")
    cuda_status.cache_clear()
    yield
    cuda_status.cache_clear()


def test_about_box_names_the_missing_library(qtbot, missing_cudnn: None) -> None:  # type: ignore[no-untyped-def]
    dialog = AboutDialog(provider="CPUExecutionProvider")
    qtbot.addWidget(dialog)
    said = dict(dialog.facts)["GPU inference"]
    assert said.startswith("running on the CPU: CUDA GPU found but cuDNN 9 is missing")


def test_headline_says_why_the_cpu(qtbot, sample_template: SampleWorkspace) -> None:  # type: ignore[no-untyped-def]
    with open_workspace(sample_template.path, read_only=True) as store:
        diagnosis = load_diagnosis(store, sample_template.diagnoses[-1].id)
    note = "running on the CPU: CUDA GPU found but cuDNN 9 is missing (libcudnn.so.9) (simulated)"
    bar = DiagnosisSummaryBar()
    qtbot.addWidget(bar)
    bar.set_diagnosis(diagnosis.model_copy(update={"provider_note": note}))
    assert "Inference: CPU (CUDA GPU found but cuDNN 9 is missing)" in bar.model.text()
    assert note in bar.model.toolTip()
