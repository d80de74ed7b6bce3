"""Which fault types the model reports for which component: the model's own mapping, or for an
older model file without it, one inferred (with a warning, once per model)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping

from gnn import contract
from gnn.runtime import LoadedModel
from ingestion.workspace import Store

log = logging.getLogger(__name__)


class _SeenOnce:
    """Keys met before, safe across threads (the GUI diagnoses from worker threads)."""

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()

    def first_time(self, key: Hashable) -> bool:
        """True the first time ``key`` is asked about, False ever after."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


_INFERRED_WARNED = _SeenOnce()  # (model path, version, source) warned about


def fault_components(store: Store, equipment_id: str, model: LoadedModel) -> dict[str, list[str]]:
    """{component: fault types the model was trained on for it}, in the model's fault order.

    From the model's metadata ``hydrodiag.fault_components`` (written by the exporter, checked
    by :func:`gnn.runtime.load_model` and against the profile). Only for a model exported
    before that key existed is the mapping inferred (:func:`_inferred_fault_components`), with
    a logged warning saying so.
    """
    if model.fault_components is not None:
        out: dict[str, list[str]] = {}
        for fault in model.fault_types:
            for comp in model.fault_components.get(fault, ()):
                out.setdefault(comp, []).append(fault)
        return out
    out, source = _inferred_fault_components(store, equipment_id, model)
    key = (str(model.path), model.model_version, source)
    if _INFERRED_WARNED.first_time(key):  # once per model and source, not every live refresh
        log.warning(
            "%s: model %s %s has no %s metadata (exported before it existed); which "
            "component a fault type belongs to is inferred %s. Re-export it with `hydrodiag export-onnx` to "
            "make the mapping explicit.",
            model.path,
            model.model_id,
            model.model_version,
            contract.META_FAULT_COMPONENTS,
            source,
        )
    return out


def _inferred_fault_components(
    store: Store, equipment_id: str, model: LoadedModel
) -> tuple[dict[str, list[str]], str]:
    """The pre-metadata inference: model card, else the equipment's labels, else everything."""
    raw = model.card.get("fault_components") if model.card else None
    trained = set(model.fault_types)
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        # either {fault: [components]} or {component: [faults]}
        for key, values in raw.items():
            items = [values] if isinstance(values, str) else list(values or [])
            if key in trained:
                for comp in items:
                    out.setdefault(str(comp), []).append(str(key))
            else:
                out.setdefault(str(key), []).extend(str(v) for v in items if v in trained)
        return out, "from the model card's fault_components"
    rows = (
        store.cursor()
        .execute(
            "SELECT DISTINCT component_id, fault_type FROM labels "
            "WHERE equipment_id = ? AND fault_type IS NOT NULL ORDER BY 1, 2",
            [equipment_id],
        )
        .fetchall()
    )
    for comp, fault in rows:
        if fault in trained and comp in model.graded_components:
            out.setdefault(comp, []).append(fault)
    if out:
        return out, f"from equipment {equipment_id!r}'s labels"
    everything = {c: list(model.fault_types) for c in model.graded_components}
    return everything, "from nothing (no labels): every fault type on every graded component"
