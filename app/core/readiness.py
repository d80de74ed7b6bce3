"""Whether an equipment can be diagnosed now, and if not, the sentence that says why. Qt-free.

The main window asks this off the GUI thread whenever the equipment changes: it enables F5
("Diagnose last 30 min") only when there is data and a model that fits the equipment's
profile, and otherwise puts the reason in the headline and on the disabled action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from app.core import queries
from app.core.gui_words import for_gui
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store

if TYPE_CHECKING:
    from gnn.runtime import ProviderChoice


@dataclass(frozen=True)
class Readiness:
    equipment_id: str
    profile_id: str
    data_range: tuple[datetime, datetime] | None  # first and last sample, UTC
    model_text: str = ""  # "zema-rig-gatv2-lstm 1.6.0" when a model fits
    model_problem: str | None = None  # why no model can diagnose it (for the app's words)

    @property
    def can_diagnose(self) -> bool:
        return self.data_range is not None and self.model_problem is None

    @property
    def reason(self) -> str:
        """Why a diagnosis cannot run now ('' when it can)."""
        if self.model_problem is not None:
            return f"No model for this profile ({self.profile_id}): {self.model_problem}"
        if self.data_range is None:
            return (
                f"No data for {self.equipment_id} yet: import a log (Ctrl+I) or record a "
                "live feed (Ctrl+L) first."
            )
        return ""


def check_readiness(
    store: Store, equipment_id: str, *, provider: ProviderChoice = "auto"
) -> Readiness:
    """Data range and model fit of ``equipment_id`` (loads the model: run it off the GUI
    thread; the engine keeps the loaded model for the diagnosis that follows)."""
    from gnn.engine import check_model

    profile = queries.equipment_profile(store, equipment_id)
    span = queries.data_range(store, equipment_id)
    try:
        model = check_model(store, equipment_id, provider=provider)
    except HydroDiagError as exc:
        # "…/model.onnx: model X was trained for …": the file's path is for a developer
        problem = re.sub(r"^\S+\.onnx: ", "", for_gui(str(exc)))
        return Readiness(equipment_id, profile.id, span, model_problem=problem)
    return Readiness(
        equipment_id, profile.id, span, model_text=f"{model.model_id} {model.model_version}"
    )
