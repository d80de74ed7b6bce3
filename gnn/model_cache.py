"""Loaded models kept while their files are unchanged, shared by every thread that diagnoses.

The live view diagnoses every few seconds and the GUI from worker threads; opening an ONNX
Runtime session each time would cost more than the inference. ORT sessions may be run from
several threads at once, so one loaded model serves them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from gnn.runtime import LoadedModel, ProviderChoice, load_model

# (resolved path, mtime ns, size, provider, threads): a replaced file is a new model; a model
# held in memory (a workspace's registry) is keyed ("stored:<identity>", 0, 0, provider, threads)
_CacheKey = tuple[str, int, int, str, int | None]


class ModelCache:
    """The last ``size`` models loaded, each reused while its file is unchanged.

    A model is keyed on its file (resolved path, modification time, size) and how it was
    opened (provider, threads); the oldest entry goes when a new one does not fit. A lock
    makes lookups and loads safe across threads; a model being loaded is loaded once.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: dict[_CacheKey, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(
        self, path: Path | str, *, provider: ProviderChoice = "auto", threads: int | None = None
    ) -> LoadedModel:
        """The model at ``path``, loaded with ``provider`` and ``threads`` unless kept already."""
        file = Path(path).expanduser()
        try:
            stat = file.stat()
            key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size, provider, threads)
        except OSError:
            return load_model(file, provider=provider, threads=threads)  # raises the clear error
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = load_model(file, provider=provider, threads=threads)
                while len(self._models) >= self.size:
                    self._models.pop(next(iter(self._models)))
                self._models[key] = model
            return model

    def get_stored(
        self,
        identity: str,
        load: Callable[[], LoadedModel],
        *,
        provider: ProviderChoice = "auto",
        threads: int | None = None,
    ) -> LoadedModel:
        """The model held in memory that ``identity`` names, loaded by ``load()`` unless kept
        already. ``identity`` must change whenever what ``load`` returns would: the registry
        uses its origin, the bytes' sha256 and the card's (the card sets the window length)."""
        key = (f"stored:{identity}", 0, 0, provider, threads)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = load()
                while len(self._models) >= self.size:
                    self._models.pop(next(iter(self._models)))
                self._models[key] = model
            return model


MODEL_CACHE = ModelCache(size=2)  # the one the engine uses: two models, e.g. CPU and CUDA


def cached_model(
    path: Path | str, *, provider: ProviderChoice = "auto", threads: int | None = None
) -> LoadedModel:
    """The model at ``path`` from the engine's shared :data:`MODEL_CACHE`."""
    return MODEL_CACHE.get(path, provider=provider, threads=threads)
