"""Loading a ``.pt`` file from a user's folder: tensors and plain values only, and an error
that never repeats torch's advice to load it with ``weights_only=False`` (which would run any
code the file carries)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch


def load_weights(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU.

    Raises:
        ValueError: a sentence on why the file cannot be read (for the caller's own message).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            "it holds Python objects or code besides weights, which HydroDiag never loads "
            "(do not open it with other tools either unless you trust where it came from)"
        ) from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        if "weights_only" in first:
            first = type(exc).__name__
        raise ValueError(f"it is damaged or not a PyTorch file ({first[:120]})") from None
    except Exception as exc:  # torch raises many kinds for a foreign or corrupt file
        raise ValueError(f"it is not a PyTorch weights file ({type(exc).__name__})") from None
