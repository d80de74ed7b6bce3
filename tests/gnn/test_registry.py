"""The model registry (gnn.registry) on real workspace files and real ONNX Runtime sessions.

The models are the hand-built contract model of tests/gnn/test_runtime_models.py on the rig's
graph (it grades the cooler 2, the rest 0), in versions that differ only in their metadata, plus
one made for the excavator's profile.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import onnx
import onnx.helper as oh
import pytest

from gnn import contract
from gnn.engine import diagnose
from gnn.graph import MODEL_ENV, GraphSpec, profile_sha256
from gnn.registry import (
    ModelKey,
    NoModelError,
    RegistryError,
    activate,
    activation_history,
    active_model,
    builtin_models,
    export_model,
    fallback_after_removal,
    get_model,
    import_model,
    list_models,
    model_in_use,
    next_version,
    register_model,
    remove_model,
    rollback,
)
from gnn.runtime import ModelError
from ingestion.catalog import EquipmentError, ensure_equipment
from ingestion.model_registry import ARCHIVE_SUFFIX
from ingestion.profiles import load_profile
from ingestion.workspace import Store, open_workspace
from tests.gnn.test_engine import base  # noqa: F401  (module fixture: workspace + model files)
from tests.gnn.test_runtime_models import build_contract_model

CARD = {"kind": "graded", "created_utc": "2026-12-01T08:00:00Z", "metrics": {"acc": 0.9}}


def variant(model_file: Path, version: str, *, model_id: str = "rig-fit", **meta: str) -> bytes:
    """The contract model at ``model_file`` as ``model_id`` ``version`` (other bytes)."""
    model = onnx.load(str(model_file))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({contract.META_MODEL_ID: model_id, contract.META_MODEL_VERSION: version, **meta})
    del model.metadata_props[:]
    oh.set_model_props(model, props)
    return bytes(model.SerializeToString())


def excavator_model(version: str = "1.0.0") -> bytes:
    profile = load_profile("tracked-excavator")
    spec = GraphSpec.from_profile(profile)
    model = build_contract_model(
        profile_id=profile.id,
        profile_sha256=profile_sha256(spec),
        graph_spec=json.loads(spec.to_json()),
        graded_components=(),
        metadata={contract.META_MODEL_ID: "excavator-fit", contract.META_MODEL_VERSION: version},
    )
    return bytes(model.SerializeToString())


@pytest.fixture
def store(base: tuple[Path, Path], tmp_path: Path) -> Store:  # noqa: F811
    copy = tmp_path / "ws.duckdb"
    shutil.copy(base[0], copy)
    return open_workspace(copy)


@pytest.fixture
def model_file(base: tuple[Path, Path]) -> Path:  # noqa: F811
    return base[1]


def _rows(store: Store) -> tuple[list[Any], list[Any]]:
    """Everything the registry stores, to compare before and after a refused operation."""
    models = store.query("SELECT id, version, sha256, card FROM models ORDER BY id, version")
    activations = store.query("SELECT * FROM model_activations ORDER BY id")
    return models, activations


def test_register_list_and_get(store: Store, model_file: Path) -> None:
    builtin = builtin_models()
    assert [e.key for e in builtin] == [ModelKey("zema-rig-gatv2-lstm", builtin[0].version)]
    assert builtin[0].builtin and builtin[0].kind == "graded" and builtin[0].added_at is None

    reg = register_model(store, variant(model_file, "1.0.0"), CARD, origin="fitted")
    entry = reg.entry
    assert (
        reg.added
        and entry.key == ModelKey("rig-fit", "1.0.0")
        and str(entry.key) == "rig-fit@1.0.0"
    )
    assert entry.origin == "fitted" and entry.kind == "graded" and entry.card == CARD
    assert entry.profile_id == "zema-test-rig"
    assert entry.profile_sha256 == profile_sha256(
        GraphSpec.from_profile(load_profile("zema-test-rig"))
    )
    assert entry.created_at.isoformat() == "2026-12-01T08:00:00"  # the card's created_utc
    child = register_model(
        store, variant(model_file, "1.0.1"), None, origin="trained", parent=entry.key
    ).entry
    assert child.parent == entry.key and child.card is None

    assert [e.key for e in list_models(store)][1:] == [entry.key, child.key]
    assert len(list_models(store, equipment_id="rig")) == 3  # all made for the rig's profile
    assert get_model(store, "rig-fit@1.0.1") == child
    assert get_model(store, ModelKey("rig-fit", "1.0.0")) == entry
    with pytest.raises(
        RegistryError, match=r"model 'rig-fit' has several versions \(1.0.0, 1.0.1\)"
    ):
        get_model(store, "rig-fit")
    with pytest.raises(RegistryError, match="no model 'nope@1' in this workspace"):
        get_model(store, "nope@1")
    assert next_version(store, "rig-fit") == "1.0.2"
    assert next_version(store, "new-model") == "1.0.0"

    # the same bytes again store nothing; other bytes under a taken id and version are refused
    assert not register_model(store, variant(model_file, "1.0.0"), CARD, origin="fitted").added
    before = _rows(store)
    other = variant(model_file, "1.0.0", **{contract.META_GRADED_COMPONENTS: '["C1"]'})
    with pytest.raises(RegistryError, match=r"already holds a different model rig-fit@1.0.0"):
        register_model(store, other, CARD, origin="fitted")
    assert _rows(store) == before


def test_kind_comes_from_the_card_or_what_the_model_grades(store: Store, model_file: Path) -> None:
    nothing_graded = variant(model_file, "2.0.0", **{contract.META_GRADED_COMPONENTS: "[]"})
    assert register_model(store, nothing_graded, None, origin="fitted").entry.kind == "anomaly"
    stated = variant(model_file, "2.0.1")
    assert (
        register_model(store, stated, {"kind": "anomaly"}, origin="fitted").entry.kind == "anomaly"
    )
    assert (
        register_model(store, variant(model_file, "2.0.2"), None, origin="trained").entry.kind
        == "graded"
    )


def test_bad_bytes_or_a_foreign_card_store_nothing(store: Store, model_file: Path) -> None:
    before = _rows(store)
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        register_model(store, b"\x08\x01garbage", CARD, origin="fitted")
    with pytest.raises(ModelError, match=r"its card says model_version '9.9.9'"):
        register_model(
            store, variant(model_file, "1.0.0"), {"model_version": "9.9.9"}, origin="fitted"
        )
    edited = variant(model_file, "1.0.0", **{contract.META_PROFILE_SHA256: "f" * 64})
    with pytest.raises(ModelError, match="the file was edited"):
        register_model(store, edited, None, origin="fitted")
    with pytest.raises(RegistryError, match="built-in models are never stored"):
        register_model(store, variant(model_file, "1.0.0"), None, origin="builtin")
    with pytest.raises(EquipmentError, match="no equipment 'press-9'"):
        register_model(
            store, variant(model_file, "1.0.0"), None, origin="fitted", activate_for="press-9"
        )
    assert _rows(store) == before


def test_diagnose_uses_the_active_model_and_records_its_bytes(
    store: Store, model_file: Path
) -> None:
    builtin = builtin_models()[0]
    assert active_model(store, "rig") == builtin  # nothing activated: the built-in model
    assert model_in_use(store, "rig").activation is None

    entry = register_model(
        store, variant(model_file, "1.0.0"), CARD, origin="fitted", activate_for="rig"
    ).entry
    use = model_in_use(store, "rig")
    assert use.entry == entry and use.activation is not None
    assert use.activation.reason == "fitted and activated"

    d = diagnose(store, "rig", provider="cpu")
    assert (d.model.model_id, d.model.version, d.model.sha256) == ("rig-fit", "1.0.0", entry.sha256)
    assert d.model.path == f"{store.path}#rig-fit@1.0.0"
    assert d.component("C1").grade == 2  # the contract model's answer: it really ran
    row = store.query("SELECT model_id, model_sha256 FROM diagnoses WHERE id = ?", [d.id])
    assert row == [("rig-fit", entry.sha256)]

    # a model path given explicitly still wins over the active model
    d2 = diagnose(store, "rig", model_path=model_file, provider="cpu", save=False)
    assert d2.model.model_id == "test-model" and d2.model.path == str(model_file)


def test_activate_refuses_a_model_for_another_profile(store: Store, model_file: Path) -> None:
    with store.transaction() as con:
        ensure_equipment(con, "ex-1", load_profile("tracked-excavator"))
    excavator = register_model(store, excavator_model(), None, origin="fitted").entry
    assert excavator.kind == "anomaly"
    assert list_models(store, equipment_id="ex-1") == [excavator]
    before = _rows(store)
    with pytest.raises(
        RegistryError,
        match=r"model excavator-fit@1.0.0 was made for profile 'tracked-excavator', equipment "
        r"'rig' has profile 'zema-test-rig'\. Choose a model made for it",
    ):
        activate(store, "rig", excavator.key)
    with pytest.raises(RegistryError, match="made for profile 'zema-test-rig'"):
        activate(store, "ex-1", builtin_models()[0].key)
    assert _rows(store) == before
    activate(store, "ex-1", "excavator-fit")
    assert active_model(store, "ex-1") == excavator


def test_no_model_fits_is_a_sentence_naming_what_to_do(store: Store) -> None:
    with store.transaction() as con:
        ensure_equipment(con, "ex-1", load_profile("tracked-excavator"))
    assert active_model(store, "ex-1") is None
    with pytest.raises(NoModelError) as err:
        diagnose(store, "ex-1")
    message = str(err.value)
    assert message.startswith("no model fits equipment 'ex-1' (profile 'tracked-excavator')")
    assert "the built-in model is made for profile 'zema-test-rig'" in message
    assert "`hydrodiag fit --equipment ex-1 --from T --to T --activate`" in message
    assert "`hydrodiag model import FILE --equipment ex-1 --activate`" in message
    assert "`hydrodiag train --equipment ex-1" in message
    assert store.query("SELECT count(*) FROM diagnoses") == [(0,)]


def test_rollback_walks_back_through_the_history(store: Store, model_file: Path) -> None:
    builtin = builtin_models()[0]
    with pytest.raises(
        RegistryError, match="'rig' has no activated model to roll back: it uses zema-rig"
    ):
        rollback(store, "rig")
    a, b, c = (
        register_model(store, variant(model_file, v), None, origin="fitted").entry
        for v in ("1.0.0", "1.1.0", "1.2.0")
    )
    for entry in (a, b, c):
        activate(store, "rig", entry.key)
    activate(store, "rig", c.key)  # already active: no new row
    assert [h.model for h in activation_history(store, "rig")] == [a.key, b.key, c.key]

    assert rollback(store, "rig") == (c, b)
    assert rollback(store, "rig") == (b, a)
    assert rollback(store, "rig") == (a, builtin)  # before the first activation: the built-in
    assert active_model(store, "rig") == builtin
    with pytest.raises(RegistryError, match="no activated model to roll back"):
        rollback(store, "rig")
    history = activation_history(store, "rig")
    assert [h.ended_by for h in history] == ["rolled back"] * 3
    assert all(h.ended_at is not None for h in history)
    with pytest.raises(EquipmentError, match="no equipment 'nope'"):
        rollback(store, "nope")


def test_rollback_with_no_model_before_is_refused(store: Store) -> None:
    with store.transaction() as con:
        ensure_equipment(con, "ex-1", load_profile("tracked-excavator"))
    entry = register_model(
        store, excavator_model(), None, origin="fitted", activate_for="ex-1"
    ).entry
    before = _rows(store)
    with pytest.raises(
        RegistryError, match=r"nothing to roll back to — excavator-fit@1.0.0 is the first"
    ):
        rollback(store, "ex-1")
    assert _rows(store) == before and active_model(store, "ex-1") == entry


def test_remove_falls_back_to_the_previous_model(store: Store, model_file: Path) -> None:
    a = register_model(store, variant(model_file, "1.0.0"), None, origin="fitted").entry
    b = register_model(store, variant(model_file, "1.1.0"), None, origin="fitted").entry
    activate(store, "rig", a.key)
    activate(store, "rig", b.key)
    assert fallback_after_removal(store, b.key) == {"rig": a}
    assert fallback_after_removal(store, a.key) == {}  # not in effect: nobody loses it
    removal = remove_model(store, "rig-fit@1.1.0")
    assert removal.removed == b and removal.fallbacks == {"rig": a}
    assert active_model(store, "rig") == a
    assert [h.ended_by for h in activation_history(store, "rig")] == [None, "model removed"]
    assert [e.key for e in list_models(store) if not e.builtin] == [a.key]
    assert remove_model(store, a.key).fallbacks == {"rig": builtin_models()[0]}

    builtin = builtin_models()[0]
    with pytest.raises(RegistryError, match="ships with HydroDiag and cannot be removed"):
        remove_model(store, builtin.key)
    assert builtin_models() == [builtin] and Path(str(builtin.path)).is_file()


def test_a_builtin_activation_follows_the_shipped_model_to_its_new_version(store: Store) -> None:
    builtin = builtin_models()[0]
    store.con.execute(
        "INSERT INTO model_activations (equipment_id, model_id, model_version, builtin, "
        "activated_at, reason) VALUES ('rig', ?, '0.9.0', true, now(), 'activated')",
        [builtin.id],
    )
    assert active_model(store, "rig") == builtin
    assert model_in_use(store, "rig").activation is not None


def test_hydrodiag_model_stands_for_the_builtin_model_but_not_for_an_activated_one(
    store: Store, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, str(model_file))
    assert diagnose(store, "rig", provider="cpu", save=False).model.model_id == "test-model"
    register_model(store, variant(model_file, "1.0.0"), None, origin="fitted", activate_for="rig")
    assert diagnose(store, "rig", provider="cpu", save=False).model.model_id == "rig-fit"


def test_export_and_import_round_trip(store: Store, model_file: Path, tmp_path: Path) -> None:
    entry = register_model(
        store, variant(model_file, "1.0.0"), CARD, origin="fitted", parent=ModelKey("base", "1")
    ).entry
    file = export_model(store, entry.key, tmp_path)
    assert file == tmp_path / f"rig-fit-1.0.0{ARCHIVE_SUFFIX}"
    with pytest.raises(
        RegistryError, match=r"already exists. Choose another --out, or add --force"
    ):
        export_model(store, entry.key, file)
    assert export_model(store, entry.key, file, overwrite=True) == file

    other = tmp_path / "other.duckdb"
    store.con.execute("CHECKPOINT")  # the copy must hold the model, not leave it in the WAL
    shutil.copy(str(store.path), other)
    with open_workspace(other) as ws:
        remove_model(ws, entry.key)
        result = import_model(ws, file, equipment_id="rig", activate=True)
        got = result.entry
        assert result.added and result.activated
        assert (got.key, got.sha256, got.card, got.parent) == (
            entry.key,
            entry.sha256,
            CARD,
            entry.parent,
        )
        assert got.origin == "imported" and got.kind == "graded"
        assert (
            got.created_at == entry.created_at
            and got.note == f"imported from {file} (fitted model)"
        )
        assert active_model(ws, "rig") == got
        d = diagnose(ws, "rig", provider="cpu", save=False)
        assert d.model.sha256 == entry.sha256
        again = import_model(ws, file)
        assert not again.added and not again.activated

    # the built-in model's export imports as "already there", storing nothing
    builtin_file = export_model(store, builtin_models()[0].key, tmp_path / "b.hdmodel")
    assert import_model(store, builtin_file).entry == builtin_models()[0]

    # a plain model.onnx with its card.json beside it imports too
    plain = tmp_path / "plain" / "model.onnx"
    plain.parent.mkdir()
    plain.write_bytes(variant(model_file, "3.0.0"))
    (plain.parent / "card.json").write_text(json.dumps({"kind": "anomaly"}))
    imported = import_model(store, plain).entry
    assert imported.key == ModelKey("rig-fit", "3.0.0") and imported.kind == "anomaly"


def _damaged_exports(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Export files gone wrong in every way we can think of, with the message each must get."""
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])

    def rezip(name: str, **changes: bytes | None) -> Path:
        path = folder / f"{name}.hdmodel"
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in {**members, **changes}.items():
                if data is not None:
                    zf.writestr(member, data)
        return path

    truncated = folder / "truncated.hdmodel"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = folder / "report.pdf"
    foreign.write_bytes(b"%PDF-1.7 not a model at all")
    flipped = bytearray(members["model.onnx"])
    flipped[len(flipped) // 2] ^= 0xFF
    return {
        "truncated": (truncated, "the archive is damaged"),
        "foreign": (
            foreign,
            "It is neither a HydroDiag model export (.hdmodel) nor a HydroDiag model.onnx",
        ),
        "missing": (
            rezip("missing", **{"model.onnx": None}),
            "model.onnx missing from the archive",
        ),
        "flipped": (
            rezip("flipped", **{"model.onnx": bytes(flipped)}),
            "model.onnx does not match its manifest",
        ),
        "manifest": (
            rezip("manifest", **{"manifest.json": b"{not json"}),
            "manifest.json is not valid JSON",
        ),
        "other-format": (
            rezip(
                "other-format",
                **{"manifest.json": json.dumps({**manifest, "format": "x"}).encode()},
            ),
            "its manifest.json is not a hydrodiag-model manifest",
        ),
        "newer": (
            rezip(
                "newer", **{"manifest.json": json.dumps({**manifest, "format_version": 9}).encode()}
            ),
            "export format version 9; this HydroDiag reads version 1",
        ),
        "edited": (
            rezip(
                "edited", **{"manifest.json": json.dumps({**manifest, "version": "7.0.0"}).encode()}
            ),
            "its manifest describes model rig-fit@7.0.0",
        ),
        "card": (rezip("card", **{"card.json": b"[1, 2"}), "card.json is not valid JSON"),
        "absent": (folder / "absent.hdmodel", "file does not exist"),
    }


def test_a_damaged_or_foreign_file_is_refused_and_nothing_stored(
    store: Store, model_file: Path, tmp_path: Path
) -> None:
    entry = register_model(store, variant(model_file, "1.0.0"), CARD, origin="fitted").entry
    good = export_model(store, entry.key, tmp_path / "good.hdmodel")
    remove_model(store, entry.key)
    before = _rows(store)
    for name, (path, message) in _damaged_exports(good, tmp_path).items():
        with pytest.raises((RegistryError, ModelError)) as err:
            import_model(store, path, equipment_id="rig", activate=True)
        assert message in str(err.value), name
        assert str(path) in str(err.value), name
        assert _rows(store) == before, name
    assert import_model(store, good).added  # the good one still imports


def test_importing_a_model_for_another_profile_is_refused(store: Store, tmp_path: Path) -> None:
    plain = tmp_path / "excavator" / "model.onnx"
    plain.parent.mkdir()
    plain.write_bytes(excavator_model())
    before = _rows(store)
    with pytest.raises(
        RegistryError,
        match=r"model excavator-fit@1.0.0 was made for profile 'tracked-excavator', equipment "
        r"'rig' has profile 'zema-test-rig'",
    ):
        import_model(store, plain, equipment_id="rig")
    with pytest.raises(RegistryError, match="no equipment in this workspace has that profile"):
        import_model(store, plain)
    assert _rows(store) == before
    with store.transaction() as con:
        ensure_equipment(con, "ex-1", load_profile("tracked-excavator"))
    assert import_model(store, plain).added  # now some equipment can use it


def test_a_read_only_workspace_of_schema_v2_still_resolves_the_builtin_model(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.duckdb"
    with open_workspace(path) as ws, ws.transaction() as con:
        ensure_equipment(con, "rig", load_profile("zema-test-rig"))
        con.execute("DROP TABLE model_activations")  # as a v2 workspace has none
    with open_workspace(path, read_only=True) as ro:
        assert active_model(ro, "rig") == builtin_models()[0]
        assert [e.builtin for e in list_models(ro)] == [True]
