"""Make ``workspace-v2.duckdb.gz``: a small workspace written by HydroDiag at schema v2 (the
code of main before schema v3), gzipped (5 MB of mostly empty blocks -> 18 kB), kept in the
repository so that every later HydroDiag is tested against a file an engineer's laptop really
holds (``tests/ingestion/test_workspace_identity.py``).

Run it with the code that should write the file, e.g. a checkout of the commit before v3::

    git archive b4f2d05 | tar -x -C /tmp/hd-main
    PYTHONPATH=/tmp/hd-main HYDRODIAG_RESOURCES=/tmp/hd-main/resources \\
        .venv/bin/python tests/ingestion/data/make_fixture_workspace.py tests/ingestion/data/workspace-v2.duckdb.gz
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

from app.cli import main


def make(out: Path) -> None:
    """Write the workspace gzipped to ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "workspace.duckdb"
        folder = Path(tmp) / "uci"
        folder.mkdir()
        sensors = ["PS1", "PS2", "PS3", "PS4", "PS5", "PS6", "EPS1", "FS1", "FS2"]
        sensors += ["TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP", "SE"]
        for k, sensor in enumerate(sensors):
            rows = ["\t".join(f"{k + c + j / 60:.4f}" for j in range(60)) for c in range(3)]
            (folder / f"{sensor}.txt").write_text("\n".join(rows) + "\n")
        (folder / "profile.txt").write_text(
            "3\t100\t0\t130\t0\n20\t90\t1\t115\t1\n100\t80\t2\t100\t0\n"
        )
        log = Path(tmp) / "log.csv"
        log.write_text(
            "time,PS1,TS1\n"
            + "".join(f"2026-03-02T06:00:{s:02d},{100 + s},{40 + s / 10}\n" for s in range(30))
        )
        ws = ["--workspace", str(raw)]
        assert main([*ws, "ingest", "uci", str(folder), "--equipment", "rig"]) == 0
        assert main([*ws, "ingest", "csv", str(log), "--equipment", "rig"]) == 0
        with raw.open("rb") as src, gzip.open(out, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    os.environ.setdefault("HYDRODIAG_DATA_DIR", tempfile.mkdtemp())
    make(Path(sys.argv[1]))
