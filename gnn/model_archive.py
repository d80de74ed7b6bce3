"""Models that travel: one file (``.hdmodel``) holding a model, its card and its lineage.

:func:`export_model` writes a workspace model out; :func:`import_model` stores one in another
workspace (or a plain HydroDiag ``model.onnx`` with its ``card.json``), checked against the
profiles of the equipment there, in one transaction with its activation. Storage of the file
format is :mod:`ingestion.model_registry`; the registry itself is :mod:`gnn.registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from gnn.registry import (
    ModelEntry,
    activate_in,
    checked_bytes,
    get_model,
    graph_sha,
    insert_entry,
    model_bytes,
)
from gnn.runtime import LoadedModel, ModelError
from ingestion import model_registry as db
from ingestion.catalog import equipment_profile
from ingestion.model_registry import ModelKey, RegistryError
from ingestion.workspace import Store, utc_now

__all__ = ["ImportResult", "export_model", "import_model"]


class ImportResult(NamedTuple):
    """What :func:`import_model` did: the entry, whether it was new, whether it was activated."""

    entry: ModelEntry
    added: bool
    activated: bool


def export_model(
    store: Store, ref: str | ModelKey, path: Path | str, *, overwrite: bool = False
) -> Path:
    """Write model ``ref`` with its card to one file (``.hdmodel``) that :func:`import_model`
    reads back; ``path`` may be a folder. Returns the file written."""
    entry = get_model(store, ref)
    return db.write_archive(
        Path(path), entry, model_bytes(store, entry), exported_at=utc_now(), overwrite=overwrite
    )


def _read_import(file: Path) -> tuple[bytes, dict[str, Any] | None, db.ArchiveManifest | None]:
    """(ONNX bytes, card, manifest) of an export file — or of a plain model.onnx with the
    card.json beside it."""
    if db.is_archive(file):
        archive = db.read_archive(file)
        return archive.onnx, archive.card, archive.manifest
    if not file.is_file():
        raise RegistryError(
            f"{file}: file does not exist." if not file.exists() else f"{file}: not a file."
        )
    from gnn.runtime import read_model_card

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{file}: cannot read it ({exc}).") from None
    return data, read_model_card(file), None


def import_model(
    store: Store,
    path: Path | str,
    *,
    equipment_id: str | None = None,
    activate: bool = False,
) -> ImportResult:
    """Store the model of an export file (or a HydroDiag model.onnx with its card.json) in the
    workspace, and with ``activate`` make it ``equipment_id``'s model — all or nothing.

    The model must be made for the profile of ``equipment_id`` (or, without it, of some
    equipment in the workspace). Importing a model the workspace holds already stores nothing.

    Raises:
        RegistryError / ModelError: a damaged or foreign file, a model for another profile, or
            one that clashes with a different model of the same id and version; naming the file.
    """
    file = Path(path).expanduser()
    if activate and equipment_id is None:
        raise RegistryError(f"{file}: say which equipment to activate it for (--equipment ID).")
    data, card, manifest = _read_import(file)
    try:
        model = checked_bytes(data, str(file), card)
    except ModelError as exc:
        if manifest is None:
            raise ModelError(
                f"{exc} It is neither a HydroDiag model export ({db.ARCHIVE_SUFFIX}) nor a "
                "HydroDiag model.onnx."
            ) from None
        raise
    if manifest is not None:
        said = (manifest.id, manifest.version, manifest.profile_id, manifest.profile_sha256)
        got = (model.model_id, model.model_version, model.profile_id, model.profile_sha256)
        if said != got:
            raise RegistryError(
                f"{file}: its manifest describes model {manifest.id}@{manifest.version} for "
                f"profile {manifest.profile_id!r}, but the model inside is "
                f"{model.model_id}@{model.model_version} for {model.profile_id!r}: the file was "
                "edited. Export it again with `hydrodiag model export`."
            )
    con = store.cursor()
    _check_import_profile(con, file, model, equipment_id)
    note = f"imported from {file.absolute()}"
    if manifest is not None and manifest.origin != "imported":
        note += f" ({manifest.origin} model)"
    with store.transaction() as tx:
        registration = insert_entry(
            tx,
            model,
            data,
            card,
            origin="imported",
            parent=manifest.parent if manifest else None,
            kind=manifest.kind if manifest else None,
            note=note,
            created_at=manifest.created_at if manifest else None,
            where=str(file),
        )
        activated = False
        if activate and equipment_id is not None:
            activated = activate_in(
                tx, equipment_id, registration.entry, reason="imported and activated"
            )
    return ImportResult(registration.entry, registration.added, activated)


def _check_import_profile(
    con: duckdb.DuckDBPyConnection, file: Path, model: LoadedModel, equipment_id: str | None
) -> None:
    """Refuse a model that no equipment of the workspace (or not ``equipment_id``) can use."""
    what = f"{file}: model {model.model_id}@{model.model_version} was made for profile {model.profile_id!r}"
    if equipment_id is not None:
        profile = equipment_profile(con, equipment_id)
        if profile.id != model.profile_id:
            raise RegistryError(
                f"{what}, equipment {equipment_id!r} has profile {profile.id!r}. Import it for "
                "equipment of that profile, or fit / train a model for this one."
            )
        sha = graph_sha(profile)
        if sha != model.profile_sha256:
            raise RegistryError(
                f"{what} as it was then (graph sha256 {model.profile_sha256[:12]}…); equipment "
                f"{equipment_id!r}'s profile gives {sha[:12]}…: its components, sensors or "
                "connections changed since. Retrain or refit the model for this profile."
            )
        return
    rows = con.execute("SELECT id FROM equipment ORDER BY id").fetchall()
    profiles = {str(r[0]): equipment_profile(con, str(r[0])) for r in rows}
    if any(
        p.id == model.profile_id and graph_sha(p) == model.profile_sha256 for p in profiles.values()
    ):
        return
    held = ", ".join(f"{eq} ({p.id})" for eq, p in profiles.items()) or "none yet"
    raise RegistryError(
        f"{what}, and no equipment in this workspace has that profile (equipment: {held}). "
        "Import data for such equipment first, or name the equipment with --equipment."
    )
