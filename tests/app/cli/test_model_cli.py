"""`hydrodiag model ...` and `hydrodiag train --equipment` on real workspace files, end to end."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from gnn.registry import builtin_models
from ingestion.workspace import open_workspace
from tests.gnn.test_engine import base  # noqa: F401  (module fixture: workspace + model files)
from tests.gnn.test_registry import variant

BUILTIN = builtin_models()[0].key if builtin_models() else None


@pytest.fixture
def ws(base: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811
    copy = tmp_path / "ws.duckdb"
    shutil.copy(base[0], copy)
    return copy


@pytest.fixture
def plain_model(base: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811
    """rig-fit 1.0.0 (the contract model) as a model.onnx with its card.json."""
    path = tmp_path / "fit" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(variant(base[1], "1.0.0"))
    card = {"kind": "anomaly", "created_utc": "2026-12-01T08:00:00Z", "metrics": {"f1": 0.8}}
    (path.parent / "card.json").write_text(json.dumps(card))
    return path


class _Terminal:
    """stdin as a terminal (or not), for the removal prompt."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _registry(ws: Path) -> tuple[list[Any], list[Any]]:
    with open_workspace(ws, read_only=True) as store:
        models = store.query("SELECT id, version, sha256 FROM models ORDER BY id, version")
        activations = store.query("SELECT * FROM model_activations ORDER BY id")
    return models, activations


def run(ws: Path, *argv: str) -> int:
    return main(["--workspace", str(ws), *argv])


def test_a_session_import_activate_diagnose_export_remove(
    ws: Path,
    plain_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BUILTIN is not None
    assert run(ws, "model", "list") == 0
    out = capsys.readouterr().out
    assert "(0 stored, 1 built in)" in out
    assert f"{BUILTIN}" in out and "built-in" in out and "rig (default)" in out

    assert run(ws, "model", "import", str(plain_model), "-e", "rig", "--activate") == 0
    out = capsys.readouterr().out
    assert f"imported rig-fit@1.0.0 (anomaly, profile zema-test-rig) from {plain_model}" in out
    assert "equipment rig now uses rig-fit@1.0.0." in out

    assert run(ws, "model", "list", "-e", "rig") == 0
    out = capsys.readouterr().out
    assert "equipment rig uses rig-fit@1.0.0, activated" in out
    assert "activation history of rig" in out and "imported and activated; in effect" in out

    assert run(ws, "diagnose", "-e", "rig", "--cycles", "1:5", "--provider", "cpu") == 0
    assert "model rig-fit 1.0.0 on CPUExecutionProvider" in capsys.readouterr().out

    assert run(ws, "model", "show", "rig-fit") == 0
    out = capsys.readouterr().out
    assert out.startswith("model rig-fit@1.0.0\n")
    assert "origin      imported" in out and "in use by   rig (active)" in out
    assert "diagnoses   1 stored in this workspace" in out and "metrics       (1" in out
    assert run(ws, "model", "show", "rig-fit@1.0.0", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["card"]["metrics"] == {"f1": 0.8} and shown["in_use_by"] == ["rig (active)"]

    export = tmp_path / "out" / "rig-fit.hdmodel"
    assert run(ws, "model", "export", "rig-fit@1.0.0", "--out", str(export)) == 0
    assert f"wrote {export}" in capsys.readouterr().out and export.is_file()

    # removing the active model: refused off a terminal without --yes, asked on one
    before = _registry(ws)
    monkeypatch.setattr(sys, "stdin", _Terminal(False))
    assert run(ws, "model", "remove", "rig-fit@1.0.0") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model rig-fit@1.0.0 is the active model of rig: add --yes")
    assert f"rig would use {BUILTIN} (built-in)" in err
    monkeypatch.setattr(sys, "stdin", _Terminal(True))
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run(ws, "model", "remove", "rig-fit@1.0.0") == 1
    assert "nothing removed." in capsys.readouterr().out
    assert _registry(ws) == before
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "y")
    assert run(ws, "model", "remove", "rig-fit@1.0.0") == 0
    assert asked and "is the active model of rig" in asked[0]
    out = capsys.readouterr().out
    assert (
        "removed rig-fit@1.0.0." in out and f"equipment rig now uses {BUILTIN} (built-in)." in out
    )

    # the export brings it back; activate, rollback, and rollback with nothing left
    assert run(ws, "model", "import", str(export)) == 0
    out = capsys.readouterr().out
    assert "imported rig-fit@1.0.0" in out
    assert "activate it with `hydrodiag model activate rig-fit@1.0.0 --equipment ID`" in out
    assert run(ws, "model", "activate", "rig-fit", "-e", "rig") == 0
    assert (
        f"equipment rig now uses rig-fit@1.0.0 (was {BUILTIN} (built-in))."
        in capsys.readouterr().out
    )
    assert run(ws, "model", "activate", "rig-fit", "-e", "rig") == 0
    assert "already uses rig-fit@1.0.0; nothing changed." in capsys.readouterr().out
    assert run(ws, "model", "rollback", "-e", "rig") == 0
    assert f"rolled back from rig-fit@1.0.0 to {BUILTIN} (built-in)." in capsys.readouterr().out
    assert run(ws, "model", "rollback", "-e", "rig") == 1
    assert "has no activated model to roll back" in capsys.readouterr().err
    assert run(ws, "model", "remove", "rig-fit@1.0.0") == 0  # not active: no question
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["remove", "zema-rig-gatv2-lstm"], "ships with HydroDiag and cannot be removed"),
        (["activate", "nope@1", "-e", "rig"], "no model 'nope@1' in this workspace"),
        (["activate", "zema-rig-gatv2-lstm", "-e", "press-9"], "no equipment 'press-9'"),
        (["show", "a@b@c"], "is not a model reference: write ID or ID@VERSION"),
        (["import", "JUNK", "-e", "rig"], "JUNK: not a usable ONNX model"),
        (["import", "MISSING.hdmodel"], "MISSING.hdmodel: file does not exist."),
        (["import", "PLAIN", "--activate"], "say which equipment to activate it for"),
    ],
)
def test_bad_input_is_a_sentence_and_changes_nothing(
    ws: Path,
    plain_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    junk = tmp_path / "junk.hdmodel"
    junk.write_bytes(b"\x08\x01not a model")
    names = {"JUNK": str(junk), "MISSING.hdmodel": str(tmp_path / "MISSING.hdmodel")}
    names["PLAIN"] = str(plain_model)
    argv = [names.get(a, a) for a in argv]
    message = message.replace("JUNK", str(junk)).replace(
        "MISSING.hdmodel", str(tmp_path / "MISSING.hdmodel")
    )
    before = _registry(ws)
    assert run(ws, "model", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert _registry(ws) == before


def test_list_as_json_and_without_a_workspace(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(ws, "model", "list", "-e", "rig", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["in_use"] == {"rig": {"model": str(BUILTIN), "activated": False}}
    assert body["history"] == [] and body["models"][0]["origin"] == "builtin"
    missing = tmp_path / "none.duckdb"
    assert run(missing, "model", "list") == 1
    assert "no workspace there yet" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.slow
def test_train_from_an_equipment_registers_the_model(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = ["--epochs", "1", "--hidden", "4", "--heads", "1", "--seed", "0"]
    train = ["train", "--equipment", "rig", *tiny]
    assert run(ws, *train, "--out", str(tmp_path / "a"), "--activate") == 0
    out = capsys.readouterr().out
    assert f"registered rig-gatv2-lstm@1.0.0 in {ws}" in out
    assert "equipment rig now uses rig-gatv2-lstm@1.0.0" in out
    assert run(ws, "diagnose", "-e", "rig", "--cycles", "1:3", "--provider", "cpu") == 0
    assert "model rig-gatv2-lstm 1.0.0 on" in capsys.readouterr().out

    # a taken version is refused before any training; without one, the next is taken
    assert run(ws, *train, "--out", str(tmp_path / "b"), "--model-version", "1.0.0") == 1
    assert "already holds model rig-gatv2-lstm@1.0.0: give another --model-version" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "b").exists()
    assert run(ws, *train, "--out", str(tmp_path / "c"), "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "registered rig-gatv2-lstm@1.0.1" in out
    assert "activate it with `hydrodiag model activate rig-gatv2-lstm@1.0.1 --equipment rig`" in out
    with open_workspace(ws, read_only=True) as store:
        rows = store.query("SELECT version, origin, kind, card->>'$.model_version' FROM models")
    assert sorted(rows) == [
        ("1.0.0", "trained", "graded", "1.0.0"),
        ("1.0.1", "trained", "graded", "1.0.1"),
    ]
    assert run(ws, "train", "--uci", str(tmp_path), "--out", str(tmp_path / "d"), "--activate") == 1
    assert "--activate registers the model for a workspace equipment" in capsys.readouterr().err
