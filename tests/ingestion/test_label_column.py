"""`ingest csv --label-column`: a log's 0/1 or text label column becomes the equipment's labels
(component '*'), never a sensor; condition-grade readers leave those labels out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingestion.catalog import EQUIPMENT_LABEL
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvFormatError, CsvOptions
from ingestion.csv_sniff import sniff_csv
from ingestion.profiles import load_profile
from ingestion.queries import cycle_labels, sliding_windows
from ingestion.workspace import open_workspace


def _log(path: Path, labels: list[str]) -> Path:
    rows = ["time,PS1,TS1,anomaly"]
    for k, label in enumerate(labels):
        rows.append(f"2026-01-01T00:00:{k:02d},{100 + k},40,{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _labels(store: object) -> list[tuple[object, ...]]:
    return store.query(  # type: ignore[attr-defined, no-any-return]
        "SELECT component_id, epoch(start_ts)::BIGINT % 60, epoch(end_ts)::BIGINT % 60, grade, "
        "raw_value, origin FROM labels ORDER BY start_ts"
    )


def test_a_zero_one_column_becomes_label_ranges_and_is_not_a_sensor(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    csv = _log(tmp_path / "log.csv", ["0", "0", "1", "1", "1", "0"])
    with open_workspace(tmp_path / "ws.duckdb") as store:
        summary = ingest_csv(
            store, csv, equipment_id="rig", profile=rig, options=CsvOptions(label_column="anomaly")
        )
        assert summary.labels == 3
        assert set(summary.sensors) == {"PS1", "TS1"}
        assert _labels(store) == [
            (EQUIPMENT_LABEL, 0, 2, 0, "normal", "log"),
            (EQUIPMENT_LABEL, 2, 5, 1, "1", "log"),
            (EQUIPMENT_LABEL, 5, 6, 0, "normal", "log"),  # the last ends one step on
        ]
        # condition grades (training, `diagnose --labels`) do not see them
        w = sliding_windows(
            store,
            "rig",
            ["PS1"],
            start="2026-01-01",
            end="2026-01-01T00:00:06",
            length_s=2,
            stride_s=2,
        )
        assert cycle_labels(store, "rig", w) == {}
    plan = sniff_csv(csv, rig, CsvOptions(label_column="anomaly"))
    assert "labels (0/1 or text" in plan.describe()


def test_text_labels_keep_their_words_and_blank_cells_are_unlabelled(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    csv = _log(tmp_path / "log.csv", ["normal", "valve closed", "valve closed", "", "OK", "ok"])
    with open_workspace(tmp_path / "ws.duckdb") as store:
        summary = ingest_csv(
            store, csv, equipment_id="rig", profile=rig, options=CsvOptions(label_column="4")
        )
        assert [r[1:5] for r in _labels(store)] == [
            (0, 1, 0, "normal"),
            (1, 3, 1, "valve closed"),
            (4, 6, 0, "normal"),
        ]
        assert any("1 empty label cell" in w for w in summary.warnings)


def test_force_reimport_replaces_the_labels_and_long_logs_are_refused(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    csv = _log(tmp_path / "log.csv", ["0", "1", "1", "0"])
    options = CsvOptions(label_column="anomaly")
    with open_workspace(tmp_path / "ws.duckdb") as store:
        ingest_csv(store, csv, equipment_id="rig", profile=rig, options=options)
        ingest_csv(store, csv, equipment_id="rig", profile=rig, options=options, force=True)
        assert len(_labels(store)) == 3
        long = tmp_path / "long.csv"
        long.write_text(
            "time,sensor,value,anomaly\n2026-01-02T00:00:00,PS1,100,0\n"
            "2026-01-02T00:00:01,PS1,101,1\n",
            encoding="utf-8",
        )
        before = store.query("SELECT count(*) FROM sources")[0][0]
        with pytest.raises(CsvFormatError, match="--label-column works on wide logs"):
            ingest_csv(store, long, equipment_id="rig", options=options)
        assert store.query("SELECT count(*) FROM sources")[0][0] == before
        assert np.array(_labels(store)).shape[0] == 3
