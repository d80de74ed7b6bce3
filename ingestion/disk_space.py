"""A disk that fills while the workspace is written: said as a sentence with the space needed,
instead of a read error or a traceback (the import's transaction has rolled back by then)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Final

from ingestion.errors import HydroDiagError

WORKSPACE_PER_LOG_BYTE: Final = 0.4
"""Room an import needs per byte of CSV: the workspace grows by about a quarter of the log's size
(tests/benchmarks/bench_scale.py: 119 MB for a 458 MB log, view pyramid included) and DuckDB
writes its write-ahead log and spills beside it."""

_MARKERS: Final = ("no space left", "file too large", "disk full", "not enough space")


class DiskFullError(HydroDiagError):
    """The disk (or the file size limit) ran out while writing; nothing was written."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from or during) is a full disk."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EFBIG):
            return True
        if any(marker in str(seen).lower() for marker in _MARKERS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full_error(workspace: Path | None, log: Path) -> DiskFullError:
    """The sentence: which disk, how much the import needs, how much is free now."""
    where = workspace.parent if workspace is not None else Path.cwd()
    need = log.stat().st_size * WORKSPACE_PER_LOG_BYTE
    free = shutil.disk_usage(where).free
    return DiskFullError(
        f"{log}: the disk filled while importing into {workspace or 'the workspace'}; nothing "
        f"was imported and the workspace is as it was. The import needs about "
        f"{_size(need)} free on {where} ({_size(free)} free now): free some space there, or "
        "use a workspace on another disk (--workspace)."
    )


def _size(count: float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"
