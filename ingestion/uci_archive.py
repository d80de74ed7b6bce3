"""UCI-layout data straight from its archive: the project's vendored copy
(``data/uci-hydraulic-1hz.tar.xz``) and the zip UCI distributes both read without unpacking by
hand. :func:`uci_folder` yields a folder for either a folder or an archive.
"""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingestion.errors import HydroDiagError

ARCHIVE_SUFFIXES = (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar", ".zip")
# A UCI folder is tens of MB (the full 100 Hz original about 1 GB); refuse archive bombs.
MAX_UNPACKED_BYTES = 4 << 30


class UciArchiveError(HydroDiagError):
    """An archive that cannot be read as UCI-layout data."""


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


@contextmanager
def uci_folder(path: Path | str) -> Iterator[Path]:
    """``path`` itself when it is a folder; for an archive, a temporary folder holding its files
    (descending into a single top-level folder), removed afterwards."""
    path = Path(path)
    if not is_archive(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="hydrodiag-uci-") as tmp:
        target = Path(tmp)
        _extract(path, target)
        entries = [p for p in target.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir():
            target = entries[0]
        yield target


def _extract(archive: Path, target: Path) -> None:
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                _check_size(archive, sum(i.file_size for i in zf.infolist()))
                for info in zf.infolist():
                    name = Path(info.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise UciArchiveError(
                            f"{archive}: refused: it holds a file outside its own folder "
                            f"({info.filename})."
                        )
                zf.extractall(target)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                _check_size(archive, sum(m.size for m in members))
                # the "data" filter refuses links out, absolute paths, devices and odd modes
                tf.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise UciArchiveError(
            f"{archive}: cannot unpack it ({exc}). Give the folder that holds PS1.txt, FS1.txt, "
            "... or an intact .zip / .tar.xz of it."
        ) from None


def _check_size(archive: Path, unpacked: int) -> None:
    if unpacked > MAX_UNPACKED_BYTES:
        raise UciArchiveError(
            f"{archive}: unpacks to {unpacked / 1e9:.1f} GB, more than UCI-layout data needs "
            f"({MAX_UNPACKED_BYTES / 1e9:.0f} GB at most); unpack it yourself and give the folder."
        )
