"""Why inference runs on the GPU or not, in one sentence for the headline, the About box and the CLI.

ONNX Runtime's CUDA provider loads the NVIDIA driver and the CUDA and cuDNN libraries only when a
session starts, and falls back to the CPU quietly when one is missing; a PyInstaller bundle does
not carry them either. :func:`cuda_status` finds which piece is missing (the provider in this
build, the driver, the CUDA runtime, cuBLAS, cuDNN) so that the fallback is never silent.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
from dataclasses import dataclass
from functools import cache

CUDA_PROVIDER = "CUDAExecutionProvider"
# Tests and the bundle's smoke test: pretend this library (a key of LIBRARIES) cannot be loaded.
SIMULATE_MISSING_ENV = "HYDRODIAG_SIMULATE_MISSING_CUDA"


@dataclass(frozen=True)
class Library:
    key: str
    name: str  # in words, as the user would search for it
    files: tuple[str, ...]  # what the dynamic loader is asked for on this OS


# What ONNX Runtime 1.2x's CUDA 12 build loads, in the order it needs them.
if sys.platform == "win32":
    LIBRARIES = (
        Library("driver", "the NVIDIA GPU driver", ("nvcuda.dll",)),
        Library("cudart", "the CUDA 12 runtime", ("cudart64_12.dll",)),
        Library("cublas", "cuBLAS 12", ("cublas64_12.dll", "cublasLt64_12.dll")),
        Library("cudnn", "cuDNN 9", ("cudnn64_9.dll",)),
    )
else:
    LIBRARIES = (
        Library("driver", "the NVIDIA GPU driver", ("libcuda.so.1",)),
        Library("cudart", "the CUDA 12 runtime", ("libcudart.so.12",)),
        Library("cublas", "cuBLAS 12", ("libcublas.so.12", "libcublasLt.so.12")),
        Library("cudnn", "cuDNN 9", ("libcudnn.so.9",)),
    )


@dataclass(frozen=True)
class CudaStatus:
    usable: bool  # every piece is there (a session may still fail to start: see gnn.runtime)
    reason: str  # a sentence: what runs where, and why


def _loadable(file: str) -> bool:
    try:
        ctypes.CDLL(file)
    except OSError:
        return False
    return True


@cache
def cuda_status() -> CudaStatus:
    """Whether ONNX Runtime can run on an NVIDIA GPU here, and if not, which piece is missing."""
    simulated = os.environ.get(SIMULATE_MISSING_ENV, "").strip().lower()
    if simulated:
        lib = next((lib for lib in LIBRARIES if lib.key == simulated), LIBRARIES[-1])
        return _missing(lib, simulated=True)
    import onnxruntime as ort

    if CUDA_PROVIDER not in ort.get_available_providers():
        return CudaStatus(
            False,
            "running on the CPU: this build of HydroDiag has no GPU support (ONNX Runtime "
            "without CUDA); install the GPU build to use an NVIDIA GPU",
        )
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:  # CUDA and cuDNN from the nvidia-* wheels, where installed
        # best effort, and it prints its complaints: the check below names what is missing
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            preload(directory="")
    for lib in LIBRARIES:
        if not any(_loadable(f) for f in lib.files):
            return _missing(lib)
    return CudaStatus(True, "an NVIDIA GPU with CUDA 12 and cuDNN 9 is available")


def _missing(lib: Library, *, simulated: bool = False) -> CudaStatus:
    what = " (simulated)" if simulated else ""
    if lib.key == "driver":
        return CudaStatus(
            False, f"running on the CPU: no NVIDIA GPU driver found ({lib.files[0]}){what}"
        )
    return CudaStatus(
        False,
        f"running on the CPU: CUDA GPU found but {lib.name} is missing ({lib.files[0]}){what}; "
        "install it (docs/packaging.md) to use the GPU",
    )
