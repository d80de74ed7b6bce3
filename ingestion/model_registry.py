"""The workspace's model registry, as stored: model rows with their ONNX bytes, activations,
and the one-file export format. Plain SQL and zip, no ONNX Runtime.

Checking that bytes are a usable model, built-in models, profile matching and loading live in
:mod:`gnn.registry`, the API everyone calls. Tables: ``models`` and ``model_activations``
(schema v3, :mod:`ingestion.schema`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import duckdb
from pydantic import BaseModel, ConfigDict, ValidationError

from ingestion.errors import HydroDiagError

ModelKind = Literal["graded", "anomaly"]
"""graded: grades component conditions (trained on labels); anomaly: learned a machine's normal
only and scores deviations from it."""
ModelOrigin = Literal["builtin", "trained", "fitted", "imported"]
"""builtin: shipped with HydroDiag (never stored); trained / fitted: made from this workspace's
data (``hydrodiag train`` / the label-free fit); imported: read from an export file."""
MODEL_KINDS: Final[tuple[ModelKind, ...]] = ("graded", "anomaly")
MODEL_ORIGINS: Final[tuple[ModelOrigin, ...]] = ("builtin", "trained", "fitted", "imported")

# How an activation ended (model_activations.ended_by).
ENDED_ROLLED_BACK: Final = "rolled back"
ENDED_REMOVED: Final = "model removed"

ARCHIVE_SUFFIX: Final = ".hdmodel"
ARCHIVE_FORMAT: Final = "hydrodiag-model"
ARCHIVE_FORMAT_VERSION: Final = 1
_MANIFEST, _ONNX, _CARD = "manifest.json", "model.onnx", "card.json"
MAX_MODEL_BYTES: Final = 1 << 30  # 1 GiB: far above any model of this family; refuses zip bombs


class RegistryError(HydroDiagError):
    """A model the registry cannot find, store, activate, export or import; the message says
    which model, file or equipment and what to do."""


class ModelKey(NamedTuple):
    """A model's identity in a workspace: its id and version (``id@version`` as text)."""

    id: str
    version: str

    def __str__(self) -> str:
        return f"{self.id}@{self.version}"


class ModelRecord(BaseModel):
    """One model a workspace knows: a stored one, or a built-in (shipped) one.

    ``card`` is whatever the trainer wrote (training data ranges and digest, hyper-parameters,
    validation figures, ...). ``path`` is the file of a built-in model (None for stored ones);
    ``added_at`` is None for built-ins (they are never added).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    kind: ModelKind
    profile_id: str
    profile_sha256: str
    sha256: str
    size_bytes: int
    card: dict[str, Any] | None = None
    parent: ModelKey | None = None
    origin: ModelOrigin
    created_at: datetime
    added_at: datetime | None = None
    note: str = ""
    path: str | None = None

    @property
    def key(self) -> ModelKey:
        return ModelKey(self.id, self.version)

    @property
    def builtin(self) -> bool:
        return self.origin == "builtin"

    @property
    def label(self) -> str:
        """``id@version``, marked when built in: what messages and tables show."""
        return f"{self.key}" + (" (built-in)" if self.builtin else "")


class ActivationRecord(BaseModel):
    """One activation of a model for an equipment; in effect while ``ended_at`` is None."""

    model_config = ConfigDict(frozen=True)

    id: int
    equipment_id: str
    model: ModelKey
    builtin: bool
    activated_at: datetime
    reason: str
    ended_at: datetime | None = None
    ended_by: str | None = None

    @property
    def in_effect(self) -> bool:
        return self.ended_at is None


# -- models -----------------------------------------------------------------------------------

_MODEL_COLUMNS = (
    "id, version, kind, profile_id, profile_sha256, sha256, size_bytes, card, parent_id, "
    "parent_version, origin, created_at, added_at, note"
)


def registry_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the workspace has the registry tables (a read-only v2 workspace does not)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'model_activations'"
    ).fetchone()
    return bool(row and row[0])


def _record(row: Sequence[Any]) -> ModelRecord:
    (
        mid,
        version,
        kind,
        profile_id,
        sha_p,
        sha,
        size,
        card,
        pid,
        pver,
        origin,
        created,
        added,
        note,
    ) = row
    return ModelRecord(
        id=mid,
        version=version,
        kind=kind,
        profile_id=profile_id,
        profile_sha256=sha_p,
        sha256=sha,
        size_bytes=int(size),
        card=json.loads(card) if card is not None else None,
        parent=ModelKey(pid, pver) if pid is not None and pver is not None else None,
        origin=origin,
        created_at=created,
        added_at=added,
        note=note,
    )


def insert_model(con: duckdb.DuckDBPyConnection, record: ModelRecord, onnx: bytes) -> None:
    """Store ``record`` with its ONNX bytes (checked by the caller, see gnn.registry)."""
    if record.builtin:
        raise ValueError("built-in models are never stored in the workspace")
    parent = record.parent
    con.execute(
        f"INSERT INTO models ({_MODEL_COLUMNS}, onnx) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            record.id,
            record.version,
            record.kind,
            record.profile_id,
            record.profile_sha256,
            record.sha256,
            record.size_bytes,
            json.dumps(record.card) if record.card is not None else None,
            parent.id if parent else None,
            parent.version if parent else None,
            record.origin,
            record.created_at,
            record.added_at,
            record.note,
            onnx,
        ],
    )


def select_models(
    con: duckdb.DuckDBPyConnection, *, model_id: str | None = None, profile_id: str | None = None
) -> list[ModelRecord]:
    """The stored models (without their bytes), oldest added first; optionally one id or one
    profile only."""
    if not registry_exists(con):
        return []
    sql = f"SELECT {_MODEL_COLUMNS} FROM models WHERE true"
    params: list[Any] = []
    if model_id is not None:
        sql += " AND id = ?"
        params.append(model_id)
    if profile_id is not None:
        sql += " AND profile_id = ?"
        params.append(profile_id)
    rows = con.execute(sql + " ORDER BY added_at, id, version", params).fetchall()
    return [_record(r) for r in rows]


def select_model(con: duckdb.DuckDBPyConnection, key: ModelKey) -> ModelRecord | None:
    if not registry_exists(con):
        return None
    row = con.execute(
        f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ? AND version = ?", [key.id, key.version]
    ).fetchone()
    return _record(row) if row else None


def select_model_by_sha(con: duckdb.DuckDBPyConnection, sha256: str) -> ModelRecord | None:
    if not registry_exists(con):
        return None
    row = con.execute(f"SELECT {_MODEL_COLUMNS} FROM models WHERE sha256 = ?", [sha256]).fetchone()
    return _record(row) if row else None


def select_onnx(con: duckdb.DuckDBPyConnection, key: ModelKey) -> bytes | None:
    """The stored ONNX bytes of ``key`` (None when it is not stored)."""
    if not registry_exists(con):
        return None
    row = con.execute(
        "SELECT onnx FROM models WHERE id = ? AND version = ?", [key.id, key.version]
    ).fetchone()
    return bytes(row[0]) if row else None


def delete_model(con: duckdb.DuckDBPyConnection, key: ModelKey) -> None:
    con.execute("DELETE FROM models WHERE id = ? AND version = ?", [key.id, key.version])


def count_diagnoses(con: duckdb.DuckDBPyConnection, key: ModelKey, sha256: str) -> int:
    """How many stored diagnoses this model made (by its bytes; by id and version for those
    stored before diagnoses recorded the bytes)."""
    if not registry_exists(con):
        sql, params = "model_id = ? AND model_version = ?", [key.id, key.version]
    else:
        sql = "model_sha256 = ? OR (model_sha256 IS NULL AND model_id = ? AND model_version = ?)"
        params = [sha256, key.id, key.version]
    row = con.execute(f"SELECT count(*) FROM diagnoses WHERE {sql}", params).fetchone()
    return int(row[0]) if row else 0


# -- activations --------------------------------------------------------------------------------

_ACTIVATION_COLUMNS = (
    "id, equipment_id, model_id, model_version, builtin, activated_at, reason, ended_at, ended_by"
)


def _activation(row: Sequence[Any]) -> ActivationRecord:
    aid, equipment_id, mid, version, builtin, activated, reason, ended, ended_by = row
    return ActivationRecord(
        id=int(aid),
        equipment_id=equipment_id,
        model=ModelKey(mid, version),
        builtin=bool(builtin),
        activated_at=activated,
        reason=reason,
        ended_at=ended,
        ended_by=ended_by,
    )


def insert_activation(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    key: ModelKey,
    *,
    builtin: bool,
    at: datetime,
    reason: str,
) -> int:
    """Make ``key`` the equipment's model from ``at`` on; returns the activation's id."""
    row = con.execute(
        "INSERT INTO model_activations (equipment_id, model_id, model_version, builtin, "
        "activated_at, reason) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        [equipment_id, key.id, key.version, builtin, at, reason],
    ).fetchone()
    assert row is not None
    return int(row[0])


def select_activations(
    con: duckdb.DuckDBPyConnection, equipment_id: str | None = None
) -> list[ActivationRecord]:
    """Activations (of one equipment, or all), oldest first; the one in effect for an
    equipment is its last with ``ended_at`` None."""
    if not registry_exists(con):
        return []
    sql = f"SELECT {_ACTIVATION_COLUMNS} FROM model_activations"
    params: list[Any] = []
    if equipment_id is not None:
        sql += " WHERE equipment_id = ?"
        params.append(equipment_id)
    return [_activation(r) for r in con.execute(sql + " ORDER BY id", params).fetchall()]


def current_activation(
    con: duckdb.DuckDBPyConnection, equipment_id: str
) -> ActivationRecord | None:
    """The activation in effect for the equipment (None: it has never had one, or every one
    was rolled back or lost its model)."""
    if not registry_exists(con):
        return None
    row = con.execute(
        f"SELECT {_ACTIVATION_COLUMNS} FROM model_activations "
        "WHERE equipment_id = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
        [equipment_id],
    ).fetchone()
    return _activation(row) if row else None


def end_activation(
    con: duckdb.DuckDBPyConnection, activation_id: int, *, at: datetime, by: str
) -> None:
    con.execute(
        "UPDATE model_activations SET ended_at = ?, ended_by = ? WHERE id = ?",
        [at, by, activation_id],
    )


def equipment_using(con: duckdb.DuckDBPyConnection, key: ModelKey) -> list[str]:
    """The equipment whose activation in effect is ``key``."""
    if not registry_exists(con):
        return []
    rows = con.execute(
        "SELECT equipment_id FROM model_activations a WHERE model_id = ? AND model_version = ? "
        "AND ended_at IS NULL AND id = (SELECT max(id) FROM model_activations b "
        "WHERE b.equipment_id = a.equipment_id AND b.ended_at IS NULL) ORDER BY equipment_id",
        [key.id, key.version],
    ).fetchall()
    return [str(r[0]) for r in rows]


def end_activations_of(
    con: duckdb.DuckDBPyConnection, key: ModelKey, *, at: datetime, by: str
) -> None:
    """End every activation of ``key`` still in effect (its model is going away)."""
    con.execute(
        "UPDATE model_activations SET ended_at = ?, ended_by = ? "
        "WHERE model_id = ? AND model_version = ? AND ended_at IS NULL",
        [at, by, key.id, key.version],
    )


# -- the export file ------------------------------------------------------------------------------


class ArchiveManifest(BaseModel):
    """``manifest.json`` of an export file: what the model is, so that an import can refuse a
    wrong one before opening it, and check that the bytes arrived whole."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal["hydrodiag-model"]
    format_version: int
    id: str
    version: str
    kind: ModelKind
    profile_id: str
    profile_sha256: str
    sha256: str
    size_bytes: int
    origin: ModelOrigin
    parent: ModelKey | None = None
    created_at: datetime
    exported_at: datetime
    note: str = ""


class ModelArchive(NamedTuple):
    """An export file read back: its manifest, ONNX bytes (sha256 checked) and card."""

    manifest: ArchiveManifest
    onnx: bytes
    card: dict[str, Any] | None


def write_archive(
    path: Path, record: ModelRecord, onnx: bytes, *, exported_at: datetime, overwrite: bool = False
) -> Path:
    """Write the one-file export of ``record`` (a zip: manifest.json, model.onnx, card.json).

    Written to a temporary file beside ``path`` and renamed over it, so a failed export leaves
    no half-written file.
    """
    if hashlib.sha256(onnx).hexdigest() != record.sha256:
        raise RegistryError(
            f"model {record.key}: its stored bytes do not match their sha256 "
            f"{record.sha256[:12]}…; the workspace is damaged. Remove the model and import it "
            "again from an export file."
        )
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / f"{record.id}-{record.version}{ARCHIVE_SUFFIX}"
    if target.exists() and not overwrite:
        raise RegistryError(
            f"{target} already exists. Choose another --out, or add --force to replace it."
        )
    manifest = ArchiveManifest(
        format=ARCHIVE_FORMAT,
        format_version=ARCHIVE_FORMAT_VERSION,
        id=record.id,
        version=record.version,
        kind=record.kind,
        profile_id=record.profile_id,
        profile_sha256=record.profile_sha256,
        sha256=record.sha256,
        size_bytes=len(onnx),
        origin=record.origin,
        parent=record.parent,
        created_at=record.created_at,
        exported_at=exported_at,
        note=record.note,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_MANIFEST, manifest.model_dump_json(indent=2))
        zf.writestr(_ONNX, onnx)
        if record.card is not None:
            zf.writestr(_CARD, json.dumps(record.card, indent=2))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(buffer.getvalue())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise RegistryError(f"{target}: cannot write the export file ({exc}).") from None
    return target


def is_archive(path: Path) -> bool:
    """Whether ``path`` starts like a zip file (an export file, or a damaged one)."""
    try:
        with Path(path).open("rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def read_archive(path: Path) -> ModelArchive:
    """Read an export file back, refusing anything that is not one whole.

    Raises:
        RegistryError: naming the file and what is wrong with it (not a zip, truncated,
            members missing, manifest of another format or version, bytes that do not match
            the manifest's sha256).
    """
    file = Path(path).expanduser()
    refuse = f"{file}: not a HydroDiag model export"
    again = "Export it again with `hydrodiag model export`, or choose another file."
    try:
        with zipfile.ZipFile(file) as zf:
            names = set(zf.namelist())
            missing = [n for n in (_MANIFEST, _ONNX) if n not in names]
            if missing:
                raise RegistryError(
                    f"{refuse} ({', '.join(missing)} missing from the archive). {again}"
                )
            too_big = [i.filename for i in zf.infolist() if i.file_size > MAX_MODEL_BYTES]
            if too_big:
                raise RegistryError(
                    f"{refuse}: {', '.join(too_big)} would unpack to more than "
                    f"{MAX_MODEL_BYTES >> 20} MiB. {again}"
                )
            manifest_text = zf.read(_MANIFEST)
            onnx = zf.read(_ONNX)
            card_text = zf.read(_CARD) if _CARD in names else None
    except FileNotFoundError:
        raise RegistryError(f"{file}: file does not exist.") from None
    except IsADirectoryError:
        raise RegistryError(f"{file}: is a folder; name the export file (.hdmodel).") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise RegistryError(f"{refuse}: the archive is damaged ({exc}). {again}") from None
    except OSError as exc:
        raise RegistryError(f"{file}: cannot read it ({exc}).") from None
    try:
        data = json.loads(manifest_text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{refuse}: manifest.json is not valid JSON ({exc}). {again}") from None
    if not isinstance(data, Mapping) or data.get("format") != ARCHIVE_FORMAT:
        raise RegistryError(
            f"{refuse} (its manifest.json is not a {ARCHIVE_FORMAT} manifest). {again}"
        )
    if data.get("format_version") != ARCHIVE_FORMAT_VERSION:
        raise RegistryError(
            f"{file}: export format version {data.get('format_version')!r}; this HydroDiag "
            f"reads version {ARCHIVE_FORMAT_VERSION}. Import it with the HydroDiag that "
            "exported it, or export it again with this one."
        )
    try:
        manifest = ArchiveManifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RegistryError(f"{refuse}: manifest.json is invalid ({problems}). {again}") from None
    digest = hashlib.sha256(onnx).hexdigest()
    if digest != manifest.sha256 or len(onnx) != manifest.size_bytes:
        raise RegistryError(
            f"{file}: model.onnx does not match its manifest (sha256 {digest[:12]}…, expected "
            f"{manifest.sha256[:12]}…): the file was damaged or edited. {again}"
        )
    card: dict[str, Any] | None = None
    if card_text is not None:
        try:
            loaded = json.loads(card_text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RegistryError(f"{refuse}: card.json is not valid JSON ({exc}). {again}") from None
        if not isinstance(loaded, dict):
            raise RegistryError(f"{refuse}: card.json is not a JSON object. {again}")
        card = loaded
    return ModelArchive(manifest, onnx, card)
