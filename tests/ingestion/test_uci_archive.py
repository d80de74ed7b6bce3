"""UCI-layout data read straight from an archive: the vendored .tar.xz and a .zip as UCI ships
it import exactly as their folder does; a damaged or hostile archive is refused with a sentence
and nothing written."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest

from ingestion.uci import read_uci_folder
from ingestion.uci_archive import UciArchiveError
from ingestion.uci_import import ingest_uci
from ingestion.workspace import open_workspace
from tests.data import UCI_ARCHIVE
from tests.ingestion.test_csv_ingest import snapshot
from tests.ingestion.test_uci_read import write_uci_folder


def test_the_vendored_archive_reads_as_its_folder(uci_dir: Path) -> None:
    from_archive = read_uci_folder(UCI_ARCHIVE)
    from_folder = read_uci_folder(uci_dir)
    assert from_archive.n_cycles == from_folder.n_cycles == 1805
    assert list(from_archive.sensors) == list(from_folder.sensors)
    for sensor, values in from_folder.sensors.items():
        assert (from_archive.sensors[sensor] == values).all(), sensor


@pytest.mark.parametrize("kind", ["zip", "tar.xz"])
def test_an_archive_imports_like_its_folder(tmp_path: Path, kind: str) -> None:
    folder = write_uci_folder(tmp_path / "uci", n_cycles=6)
    archive = tmp_path / f"uci.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for f in folder.iterdir():
                zf.write(f, f"uci/{f.name}")
    else:
        with tarfile.open(archive, "w:xz") as tf:
            tf.add(folder, arcname="uci")
    with open_workspace(tmp_path / "ws.duckdb") as store:
        first = ingest_uci(store, archive, equipment_id="rig")
        assert first.cycles == 6 and first.uri == str(archive.resolve())
        # the same data as a folder is the same import: skipped, by its digest
        again = ingest_uci(store, folder, equipment_id="rig")
        assert again.skipped is not None and again.sha256 == first.sha256


def test_damaged_and_hostile_archives_are_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.tar.xz"
    damaged.write_bytes(UCI_ARCHIVE.read_bytes()[:50_000])
    escaping = tmp_path / "escaping.zip"
    with zipfile.ZipFile(escaping, "w") as zf:
        zf.writestr("../PS1.txt", "1\t2\n")
    with open_workspace(tmp_path / "ws.duckdb") as store:
        before = snapshot(store)
        with pytest.raises(UciArchiveError, match=r"damaged\.tar\.xz: cannot unpack it"):
            ingest_uci(store, damaged, equipment_id="rig")
        with pytest.raises(
            UciArchiveError, match=r"a file outside its own folder \(\.\./PS1\.txt\)"
        ):
            ingest_uci(store, escaping, equipment_id="rig")
        assert snapshot(store) == before
    assert not (tmp_path.parent / "PS1.txt").exists()
