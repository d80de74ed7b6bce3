"""The project's vendored data for tests and benchmarks: the UCI 1 Hz cycles in
``data/uci-hydraulic-1hz.tar.xz`` (data/README.md), unpacked once into ``build/test-data/``."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ingestion.uci_archive import uci_folder

REPO = Path(__file__).resolve().parent.parent
UCI_ARCHIVE = REPO / "data" / "uci-hydraulic-1hz.tar.xz"
UNPACKED = REPO / "build" / "test-data" / "uci-hydraulic-1hz"


def unpacked_uci() -> Path:
    """The UCI folder, unpacked from the archive when the archive changed since the last time."""
    digest = hashlib.sha256(UCI_ARCHIVE.read_bytes()).hexdigest()
    stamp = UNPACKED / ".archive-sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return UNPACKED
    staging = UNPACKED.with_name(UNPACKED.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with uci_folder(UCI_ARCHIVE) as folder:
        shutil.copytree(folder, staging)
    (staging / stamp.name).write_text(digest)
    shutil.rmtree(UNPACKED, ignore_errors=True)
    staging.rename(UNPACKED)
    return UNPACKED
